/* The emulated switched Ethernet LAN: addressing, the learning switch and its uplink to the host.
 */
#ifndef DENALI_LAN_H
#define DENALI_LAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "net/net_port.h"

/*
 * The default LAN: addresses count from 10.77.0.0, the gateway is .1 and VM i is .16 + i (on
 * into the third octet and beyond); the subnet is 10.77.0.0/16 unless more VMs need a wider one.
 */
#define LAN_DEFAULT_NETWORK 0x0a4d0000u
#define LAN_DEFAULT_PREFIX  16u
#define LAN_PREFIX_MIN      8u
#define LAN_GATEWAY_HOST    1u
#define LAN_FIRST_VM_HOST   16u

/*
 * The way out of the LAN (slirp or a TAP device). transmit is called from
 * any worker thread with a frame leaving the LAN; it must copy the frame and
 * must not block (a full queue drops and counts). Frames coming in from the
 * outside go to lan_input_from_uplink, from any thread.
 */
struct lan_uplink {
    void (*transmit)(struct lan_uplink *uplink, const uint8_t *frame, size_t len);
    void (*stop)(struct lan_uplink *uplink);
    uint8_t mac[6]; /* the gateway's MAC as the VMs see it; learned if all zero */
};

struct lan_counters {
    _Atomic uint64_t forwarded;
    _Atomic uint64_t flooded;
    _Atomic uint64_t to_uplink;
    _Atomic uint64_t from_uplink;
    _Atomic uint64_t arp_answered; /* ARP requests for VM addresses answered by the switch */
    _Atomic uint64_t dropped_spoofed;
    _Atomic uint64_t dropped_malformed;
    _Atomic uint64_t dropped_unknown; /* to nobody: no such MAC, or the uplink's ARP for no VM */
    _Atomic uint64_t dropped_garbage; /* VMs stopped for a garbage tx ring */
    _Atomic uint64_t lazy_acks;       /* pure TCP ACKs queued without waking a lazily idle VM */
    _Atomic uint64_t fragmented;      /* uplink IPv4 packets split to fit a VM's receive MTU */
};

struct lan {
    uint32_t base;    /* what the addresses count from: gateway base + 1, VM i base + 16 + i */
    uint32_t network; /* base's subnet (host byte order, as all three) */
    uint32_t netmask;
    uint32_t gateway;
    unsigned vm_count;
    bool batch_events;      /* false: wake receivers at once, preempting the sender */
    struct net_port *ports; /* vm_count of them, indexed by VM id */
    /* Set before any VM runs and cleared after the last one ended. */
    struct lan_uplink *uplink;
    /* The gateway's MAC, learned from the uplink's frames unless the uplink knows it. */
    _Atomic uint64_t gateway_mac; /* 48 bits; 0: not known yet */
    struct lan_counters counters;
    /* Wakes a VM that frames were queued for; set by the scheduler. */
    void (*wake)(void *ctx, uint32_t vm_id, bool immediate);
    void *wake_ctx;
};

/*
 * The longest prefix from want down to LAN_PREFIX_MIN whose subnet around base holds the gateway
 * (base + 1) and vm_count VMs (base + 16 on) below its broadcast address; -1 when none does.
 * A VM's address never depends on how many there are: only the mask widens.
 */
int lan_prefix_for(uint32_t base, unsigned want, uint64_t vm_count);

/*
 * Sets up a LAN for vm_count VMs whose addresses count from base, in a /prefix subnet or, when
 * they need one, the narrowest wider one (lan_prefix_for); returns -1 (err filled) if they do
 * not fit even a /8.
 */
int lan_init(struct lan *lan, uint32_t base, unsigned prefix, unsigned vm_count, bool batch_events,
             char *err, size_t errlen);
void lan_destroy(struct lan *lan);

/* Addresses the monitor assigns: VM i's MAC and IPv4 (host byte order). */
void lan_vm_mac(uint32_t vm_id, uint8_t mac[6]);
uint32_t lan_vm_ipv4(const struct lan *lan, uint32_t vm_id);
/* The VM of this LAN whose MAC mac is, or -1: every VM MAC is assigned, so none needs learning. */
int64_t lan_vm_of_mac(const struct lan *lan, const uint8_t mac[6]);

/* A frame from VM src (already checked to be well-formed and from its own MAC). */
void lan_input_from_vm(struct lan *lan, uint32_t src, const uint8_t *frame, size_t len);
/* A frame from the uplink into the LAN. */
void lan_input_from_uplink(struct lan *lan, const uint8_t *frame, size_t len);

/* Prints the counters as one `denali-net:` line. */
void lan_print_counters(const struct lan *lan, FILE *out);

#endif
