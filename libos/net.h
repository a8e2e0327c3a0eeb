/* ilwaco's private network interface between the NIC driver, the stack glue and the sockets layer.
 */
#ifndef ILWACO_NET_H
#define ILWACO_NET_H

#include <stdint.h>

#include "lwip/netif.h"

/*
 * Sets up lwIP on first use: its heap, the loopback interface and, if the
 * VM has an address, the virtual NIC. Returns 0, or -ENOMEM.
 */
int ilwaco_net_start(void);
/* True once ilwaco_net_start has succeeded. */
int ilwaco_net_started(void);

/*
 * Runs the stack until it has nothing more to do right now: received
 * frames, looped-back packets, due timers. Returns nonzero if it did work.
 */
int ilwaco_net_pump(void);

/*
 * Waits until ready(arg) is true or virtual time reaches deadline_ns,
 * pumping the stack, idling (or spinning, with busy polling) in between.
 * wants_acks: the caller waits for acknowledgements (send space, a
 * connect); otherwise pure ACKs are allowed to wait in the ring
 * (DENALI_IDLE_LAZY_ACKS). Returns 1 if ready, 0 on timeout.
 */
int ilwaco_net_wait(int (*ready)(void *arg), void *arg, uint64_t deadline_ns, int wants_acks);

/* net_nic.c: the virtual NIC. Attaches and adds the netif; returns 0 or a negative errno. */
int ilwaco_nic_start(void);
/* Moves received frames from the rx ring into lwIP; returns how many. */
unsigned ilwaco_nic_poll(void);
/* A clone resumed: the NIC takes the MAC and addresses of the clone's own vregs. */
void ilwaco_nic_reidentify(void);
/* True if frames wait in the tx ring for the monitor. */
int ilwaco_nic_tx_pending(void);
/* Asks the monitor to transmit the tx ring now. */
void ilwaco_nic_kick(void);

/* Counters for ilwaco_net_stats. */
struct ilwaco_nic_counters {
    int attached;
    uint64_t rx_frames, tx_frames, rx_dropped, tx_dropped, kicks;
};
extern struct ilwaco_nic_counters ilwaco_nic_counters;

/* socket_table.c: how many socket objects are in use. */
unsigned ilwaco_sockets_in_use(void);

#endif
