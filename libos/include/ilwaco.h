/* ilwaco: the Denali guest library OS's public interface for guest programs. */
#ifndef ILWACO_H
#define ILWACO_H

#include <stddef.h>
#include <stdint.h>

#include <denali/abi.h>

/*
 * Issues virtual instruction nr (enum denali_hypercall) with up to three
 * arguments and returns the monitor's result (negative DENALI_E* on error).
 * Each call is one exit to the monitor: batch work rather than call often.
 */
long ilwaco_hypercall(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2);

/* The virtual registers page; the monitor refreshes it before every entry. */
const volatile struct denali_vregs *ilwaco_vregs(void);

/*
 * Virtual time in nanoseconds. It only moves when the monitor re-enters the
 * VM (after a hypercall or a preemption), so a busy loop sees it in steps.
 */
uint64_t ilwaco_time_ns(void);

/*
 * Gives up the vCPU until virtual time reaches deadline_ns
 * (DENALI_DEADLINE_NONE: until an event) or an event arrives, and returns
 * the DENALI_EVENT_* bits delivered. It may return early with no bits set.
 */
uint64_t ilwaco_idle(uint64_t deadline_ns);
/* ilwaco_idle with DENALI_IDLE_* flags (abi.h), e.g. DENALI_IDLE_LAZY_ACKS. */
uint64_t ilwaco_idle_with(uint64_t deadline_ns, unsigned flags);

/*
 * Marks the point where this VM is ready to serve (after it listens). With
 * --clone the monitor snapshots the VM here and every VM resumes from this
 * call as a clone: then it returns 1, with the VM's own id, MAC, address
 * and random stream already taken up; otherwise it returns 0.
 */
int ilwaco_ready(void);

/*
 * Gives up to want_pages free heap pages back to the host now, as ilwaco
 * does by itself when an idle delivers DENALI_EVENT_BALLOON; returns how
 * many it gave. They stay usable: the host gives zeroed pages back on use.
 */
uint64_t ilwaco_balloon(uint64_t want_pages);

/* The status a VM ends with when an idle delivers DENALI_EVENT_SHUTDOWN (128 + SIGTERM). */
#define ILWACO_SHUTDOWN_STATUS 143

/* Terminates this VM with status; never returns. */
_Noreturn void ilwaco_exit(int status);

/*
 * Writes len bytes to the VM's console, DENALI_CONSOLE_MAX per hypercall.
 * Returns the bytes written, or a negative DENALI_E* code if none were.
 */
long ilwaco_console_write(const void *buf, size_t len);

/*
 * Network waits. By default a blocking socket call, poll or select with
 * nothing ready idles the VM (DENALI_HC_IDLE) until its timeout, the next
 * TCP/IP timer or a received frame. With busy polling on, they spin
 * instead, checking the receive ring and kicking out pending frames: lower
 * latency, at the price of the VM's whole CPU share. Off by default.
 */
void ilwaco_net_busy_poll(int on);

/* A snapshot of the guest network stack, for tests and benchmarks. */
struct ilwaco_net_stats {
    uint32_t started;       /* the stack has been set up (first socket) */
    uint32_t nic_attached;  /* the virtual NIC is attached (ipv4 != 0) */
    uint32_t sockets;       /* socket objects in use, including unaccepted connections */
    uint32_t tcp_active;    /* TCP connections in lwIP, open or closing */
    uint32_t tcp_time_wait; /* closed connections still in TIME-WAIT */
    uint32_t tcp_listen;    /* listening sockets */
    uint64_t heap_size;     /* lwIP's heap, allocated at the first socket */
    uint64_t heap_used;     /* bytes of it in use now */
    uint64_t rx_frames;     /* frames taken from the rx ring */
    uint64_t tx_frames;     /* frames put on the tx ring */
    uint64_t rx_dropped;    /* rx frames dropped: bad length or no memory */
    uint64_t tx_dropped;    /* tx frames dropped: too long or the ring stayed full */
    uint64_t kicks;         /* DENALI_HC_NET_KICK hypercalls issued */
};

/* Fills *out; a stack that has not started reports zeroes. */
void ilwaco_net_stats(struct ilwaco_net_stats *out);

#endif
