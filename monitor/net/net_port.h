/* One VM's virtual NIC: the rx/tx rings in its memory, checked on every access, and their counters.
 */
#ifndef DENALI_NET_PORT_H
#define DENALI_NET_PORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "denali/abi.h"

struct guest_memory;

struct net_port {
    pthread_mutex_t lock; /* guards area and rx_produced against teardown and other senders */
    struct denali_net_area *area; /* host view of the guest's ring area; NULL: not attached */
    uint32_t rx_produced;         /* the monitor's own copies: never read back from the guest */
    uint32_t tx_consumed;
    /*
     * rx frames before rx_reclaimed have been consumed and their slots are
     * free again; rx_slot_of holds the slot of each frame since (the
     * monitor's own copy of the area's rx_slot table), rx_free a bit per free
     * slot. Guarded by lock.
     */
    uint32_t rx_reclaimed;
    uint64_t rx_free[DENALI_NET_RX_SLOTS / 64];
    uint8_t rx_slot_of[DENALI_NET_RX_SLOTS];
    uint8_t mac[6];
    uint32_t ipv4; /* host byte order */
    /* Set by the first frame since the VM last entered: later ones need not wake it again. */
    atomic_bool rx_signalled;
    /* Its VM idles with DENALI_IDLE_LAZY_ACKS: pure TCP ACKs need not wake it. */
    atomic_bool lazy_acks;
    /* Frames in the rx ring just after the last delivery (a hint for waking). */
    _Atomic uint32_t rx_backlog;
    /* Storm control: a token bucket for the broadcasts this VM may flood (its worker only). */
    uint64_t flood_tokens_at;
    uint32_t flood_tokens;
    _Atomic uint64_t rx_frames;
    _Atomic uint64_t tx_frames;
    _Atomic uint64_t rx_bytes;
    _Atomic uint64_t tx_bytes;
    _Atomic uint64_t dropped_rx_full;
    _Atomic uint64_t dropped_bad_len;
    _Atomic uint64_t dropped_bad_slot; /* tx frames whose tx_slot entry names no slot */
    _Atomic uint64_t dropped_spoofed;
    _Atomic uint64_t dropped_storm;
    _Atomic uint64_t dropped_fair_share;
    _Atomic uint64_t dropped_oversize; /* longer than an rx slot takes (a peer's big tx frame) */
    /*
     * Frames from the uplink that found the rx ring full wait here (allocated
     * on first use, bounded) and move into the ring before the VM's next
     * entry: a frame dropped there costs the host's TCP (slirp's) a
     * retransmit timeout of a second or more. Guarded by lock.
     */
    struct net_overflow_frame *overflow;
    uint32_t overflow_head;
    uint32_t overflow_count;
    _Atomic uint64_t overflowed;
    /* Who sent the frame in each rx slot, so one sender cannot fill the ring alone. */
    uint32_t rx_source[DENALI_NET_RX_SLOTS];
};

#define NET_OVERFLOW_FRAMES 128u

struct net_overflow_frame {
    uint16_t len;
    uint8_t data[DENALI_NET_FRAME_MAX];
};

/* The rx_source of frames from the uplink. */
#define NET_SOURCE_UPLINK UINT32_MAX
/* One VM may hold at most this many of a receiver's rx slots; the rest stay for others. */
#define NET_FAIR_SHARE_SLOTS (DENALI_NET_RX_SLOTS * 3u / 4u)

enum net_attach_result { NET_ATTACH_OK, NET_ATTACH_EINVAL, NET_ATTACH_FAULT };

void net_port_init(struct net_port *port, const uint8_t mac[6], uint32_t ipv4);
/* Registers the guest's ring area at gpa; FAULT means the guest cannot write it all. */
enum net_attach_result net_port_attach(struct net_port *port, const struct guest_memory *mem,
                                       uint64_t gpa, uint64_t size);
/* Forgets the area (the VM is going away); later deliveries are dropped. */
void net_port_detach(struct net_port *port);

/*
 * Copies one frame from source (a VM id or NET_SOURCE_UPLINK) into the rx
 * ring; any thread. Returns false (and counts) when the ring is full, the
 * source already holds its fair share of it, or the port is not attached.
 */
bool net_port_deliver(struct net_port *port, uint32_t source, const uint8_t *frame, size_t len);

/*
 * Moves waiting uplink frames into the rx ring as far as it has room; the
 * VM's worker calls it before each entry. Returns true if some still wait.
 */
bool net_port_refill(struct net_port *port);
/*
 * The VM is hibernated (not running): gives back, through release, the
 * pages of its ring area that hold no frame in flight, i.e. all but the
 * header page and the pages of rx frames it has not consumed; the tx ring
 * only when every frame in it was sent. ram is the VM's memory (the area's
 * gpa is its offset in it). Under the port's lock, so no frame lands in a
 * page as it goes. Returns the pages released, or -1 when release failed.
 */
long net_port_trim(struct net_port *port, const uint8_t *ram,
                   int (*release)(void *ctx, uint64_t gpa, uint64_t len), void *ctx);
/* Frees the overflow queue (the run is over). */
void net_port_free(struct net_port *port);

/*
 * Calls send for each frame in the tx ring, from the VM's own worker only.
 * Frames with a bad slot number, a bad length or a foreign source MAC are
 * dropped and counted.
 * Returns the frames sent, or -1 when the guest's tx_produced is garbage
 * (the caller stops the VM).
 */
typedef void (*net_port_send_fn)(void *ctx, const uint8_t *frame, size_t len);
int net_port_transmit(struct net_port *port, net_port_send_fn send, void *ctx);

#endif
