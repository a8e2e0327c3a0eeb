/* Host sockets that slirp opens on behalf of each VM: counted per VM and capped, so no VM can take
 * the monitor's descriptors from the others. */
#ifndef DENALI_GUEST_SOCKETS_H
#define DENALI_GUEST_SOCKETS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sockets one VM may hold open through slirp at once (connections, UDP ports, pings). */
#define GUEST_SOCKETS_PER_VM 256u
/* Descriptors kept back from all guests: published ports' connections and the monitor's own. */
#define GUEST_SOCKETS_RESERVE 512u

/*
 * Single-threaded: the slirp thread only. slirp opens a socket for a VM
 * while it handles that VM's frame (a TCP SYN, a UDP datagram from a new
 * port, an ICMP echo) and says so through register_poll_fd; it says
 * unregister_poll_fd just before closing any socket. Sockets opened at other
 * times (connections accepted on published ports) belong to no VM.
 */
struct guest_sockets {
    uint32_t vm_count;
    uint32_t per_vm_cap;
    uint32_t total_cap;
    uint32_t total;
    uint32_t *held;    /* per VM */
    uint32_t *owner;   /* per fd number: VM id + 1, 0 for none */
    size_t owner_len;  /* fds the owner table covers */
    uint32_t handling; /* VM id + 1 of the frame slirp is handling, 0 for none */
    /* Read by other threads for the stats line. */
    _Atomic uint64_t refused; /* frames dropped because their VM, or all VMs, held the cap */
    _Atomic uint32_t peak;    /* the most sockets all VMs held together */
};

/* Returns -1 if memory runs out. total_cap bounds all VMs together. */
int guest_sockets_init(struct guest_sockets *g, uint32_t vm_count, uint32_t per_vm_cap,
                       uint32_t total_cap);
void guest_sockets_free(struct guest_sockets *g);

/*
 * The descriptors left for guests under an open-file limit of nofile with
 * vm_count VMs (one descriptor each) and GUEST_SOCKETS_RESERVE kept back.
 */
uint32_t guest_sockets_budget(uint64_t nofile, uint32_t vm_count);

/*
 * Called before slirp takes a frame from VM vm. Returns false (and counts
 * it) when the frame could make slirp open a socket while the VM, or all
 * VMs together, hold their cap; otherwise true, and sockets slirp opens
 * until guest_sockets_handled are the VM's.
 */
bool guest_sockets_admit(struct guest_sockets *g, uint32_t vm, const uint8_t *frame, size_t len);
void guest_sockets_handled(struct guest_sockets *g);

/* slirp's register_poll_fd and unregister_poll_fd. Returns -1 if memory runs out. */
int guest_sockets_opened(struct guest_sockets *g, int fd);
void guest_sockets_closed(struct guest_sockets *g, int fd);

/* Sockets VM vm holds now. */
uint32_t guest_sockets_held(const struct guest_sockets *g, uint32_t vm);

#endif
