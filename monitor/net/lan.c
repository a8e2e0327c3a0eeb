/* The emulated switched Ethernet LAN: addressing, the learning switch and its uplink to the host.
 */
#include "net/lan.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/frame_view.h"
#include "ipv4_fragment.h"
#include "util/clock.h"

#define LAN_FLOOD_RATE  1000u
#define LAN_FLOOD_BURST 100u
/* Pure ACKs stop waiting lazily once a quarter of the rx ring is taken. */
#define LAZY_BACKLOG_MAX (DENALI_NET_RX_SLOTS / 4u)

/* VM MACs are locally administered: 02:de:00 then the VM id in 24 bits. */
#define VM_MAC_PREFIX 0x02de00ull
#define VM_ID_BITS    24u
#define VM_ID_MASK    ((1u << VM_ID_BITS) - 1u)

int lan_prefix_for(uint32_t base, unsigned want, uint64_t vm_count)
{
    uint64_t last = (uint64_t)base + LAN_FIRST_VM_HOST + (vm_count ? vm_count - 1 : 0);
    for (unsigned prefix = want; prefix >= LAN_PREFIX_MIN && prefix <= 32; prefix--) {
        uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
        uint64_t broadcast = (uint64_t)(base & mask) | (uint64_t)~mask;
        if (last < broadcast)
            return (int)prefix;
    }
    return -1;
}

int lan_init(struct lan *lan, uint32_t base, unsigned prefix, unsigned vm_count, bool batch_events,
             char *err, size_t errlen)
{
    memset(lan, 0, sizeof(*lan));
    if (prefix < LAN_PREFIX_MIN || prefix > 30) {
        snprintf(err, errlen, "LAN prefix /%u: must be between /%u and /30", prefix,
                 LAN_PREFIX_MIN);
        return -1;
    }
    int fits = vm_count < (1u << VM_ID_BITS) ? lan_prefix_for(base, prefix, vm_count) : -1;
    if (fits < 0) {
        snprintf(err, errlen, "%u VMs do not fit the LAN: not even a /%u subnet holds them",
                 vm_count, LAN_PREFIX_MIN);
        return -1;
    }
    lan->base = base;
    lan->netmask = ~0u << (32 - (unsigned)fits);
    lan->network = base & lan->netmask;
    lan->gateway = base + LAN_GATEWAY_HOST;
    lan->vm_count = vm_count;
    lan->batch_events = batch_events;
    lan->ports = calloc(vm_count ? vm_count : 1, sizeof(*lan->ports));
    if (!lan->ports) {
        snprintf(err, errlen, "no memory for %u virtual NICs", vm_count);
        return -1;
    }
    for (uint32_t i = 0; i < vm_count; i++) {
        uint8_t mac[6];
        lan_vm_mac(i, mac);
        net_port_init(&lan->ports[i], mac, lan_vm_ipv4(lan, i));
        lan->ports[i].flood_tokens = LAN_FLOOD_BURST; /* a full burst to start with */
    }
    return 0;
}

void lan_destroy(struct lan *lan)
{
    for (uint32_t i = 0; i < lan->vm_count; i++)
        net_port_free(&lan->ports[i]);
    free(lan->ports);
    lan->ports = NULL;
}

void lan_vm_mac(uint32_t vm_id, uint8_t mac[6])
{
    frame_mac_from_u64(VM_MAC_PREFIX << VM_ID_BITS | (vm_id & VM_ID_MASK), mac);
}

uint32_t lan_vm_ipv4(const struct lan *lan, uint32_t vm_id)
{
    return lan->base + LAN_FIRST_VM_HOST + vm_id;
}

/* Any VM's MAC, of this LAN or not. */
static bool has_vm_prefix(const uint8_t mac[6])
{
    return frame_mac_to_u64(mac) >> VM_ID_BITS == VM_MAC_PREFIX;
}

int64_t lan_vm_of_mac(const struct lan *lan, const uint8_t mac[6])
{
    if (!has_vm_prefix(mac))
        return -1;
    uint32_t id = (uint32_t)frame_mac_to_u64(mac) & VM_ID_MASK;
    return id < lan->vm_count ? (int64_t)id : -1;
}

static int64_t vm_of_ipv4(const struct lan *lan, uint32_t ip)
{
    uint32_t first = lan->base + LAN_FIRST_VM_HOST;
    if (ip < first || ip - first >= lan->vm_count)
        return -1;
    return (int64_t)(ip - first);
}

static bool is_group(const uint8_t *mac)
{
    return mac[0] & 1u;
}

/* IPv4 TCP with no payload and only the ACK flag: it acknowledges, asks for nothing. */
static bool is_pure_tcp_ack(const uint8_t *frame, size_t len)
{
    struct frame_view view;
    return frame_view_parse(frame, len, &view) == 0 && view.ethertype == ETHERTYPE_IP &&
           view.ip.protocol == IPPROTO_TCP && view.l4 && view.payload_len == 0 &&
           view.tcp.th_flags == TH_ACK;
}

static void deliver_to_vm(struct lan *lan, int64_t src, uint32_t dst, const uint8_t *frame,
                          size_t len)
{
    uint32_t source = src < 0 ? NET_SOURCE_UPLINK : (uint32_t)src;
    /* A full ring is counted by the port. */
    if (!net_port_deliver(&lan->ports[dst], source, frame, len))
        return;
    /*
     * Queued all the same: the VM takes it with the next frame that does wake
     * it, unless ACKs are filling the ring that its requests will need.
     */
    struct net_port *port = &lan->ports[dst];
    if (lan->batch_events && atomic_load(&port->lazy_acks) &&
        atomic_load(&port->rx_backlog) < LAZY_BACKLOG_MAX && is_pure_tcp_ack(frame, len)) {
        atomic_fetch_add(&lan->counters.lazy_acks, 1);
        return;
    }
    if (lan->wake)
        lan->wake(lan->wake_ctx, dst, !lan->batch_events);
}

static void to_uplink(struct lan *lan, const uint8_t *frame, size_t len)
{
    struct lan_uplink *uplink = lan->uplink;
    if (!uplink) {
        atomic_fetch_add(&lan->counters.dropped_unknown, 1);
        return;
    }
    atomic_fetch_add(&lan->counters.to_uplink, 1);
    uplink->transmit(uplink, frame, len);
}

/* Broadcast reaches every port but the one it came from (src < 0: the uplink). */
static void flood(struct lan *lan, int64_t src, const uint8_t *frame, size_t len)
{
    atomic_fetch_add(&lan->counters.flooded, 1);
    for (uint32_t i = 0; i < lan->vm_count; i++)
        if ((int64_t)i != src)
            deliver_to_vm(lan, src, i, frame, len);
    if (src >= 0)
        to_uplink(lan, frame, len);
}

/*
 * Storm control: flooding costs every VM on the LAN, so each VM may flood at
 * most LAN_FLOOD_RATE frames a second (bursts of LAN_FLOOD_BURST); the rest
 * is dropped and counted, and unicast between other VMs goes on.
 */
static bool flood_allowed(struct net_port *port)
{
    uint64_t now = monitor_now_ns();
    uint64_t elapsed = now - port->flood_tokens_at;
    uint64_t earned = elapsed * LAN_FLOOD_RATE / 1000000000ull;
    if (earned) {
        uint64_t tokens = port->flood_tokens + earned;
        port->flood_tokens = tokens > LAN_FLOOD_BURST ? LAN_FLOOD_BURST : (uint32_t)tokens;
        port->flood_tokens_at = now;
    }
    if (!port->flood_tokens) {
        atomic_fetch_add(&port->dropped_storm, 1);
        return false;
    }
    port->flood_tokens--;
    return true;
}

/* The MAC the switch knows for ip: a VM's, or the gateway's once learned. */
static bool known_mac_of(struct lan *lan, uint32_t ip, uint8_t *mac)
{
    int64_t vm = vm_of_ipv4(lan, ip);
    if (vm >= 0) {
        lan_vm_mac((uint32_t)vm, mac);
        return true;
    }
    uint64_t gw = atomic_load(&lan->gateway_mac);
    if (ip == lan->gateway && gw) {
        frame_mac_from_u64(gw, mac);
        return true;
    }
    return false;
}

static bool is_arp_request(const uint8_t *frame, size_t len, struct frame_view *view)
{
    return frame_view_parse(frame, len, view) == 0 && view->ethertype == ETHERTYPE_ARP &&
           ntohs(view->arp.arp_op) == ARPOP_REQUEST;
}

/*
 * ARP suppression: a request for an address whose MAC the switch knows is
 * answered here, so 1,000 VMs are not woken to ignore it. Returns true if
 * the frame was answered (src < 0: it came from the uplink).
 */
static bool answer_arp(struct lan *lan, int64_t src, const uint8_t *frame, size_t len)
{
    struct frame_view view;
    if (!is_arp_request(frame, len, &view))
        return false;
    /* A gratuitous request announces a MAC the switch assigned itself: absorb it. */
    if (src >= 0 && view.arp_sender_ipv4 == view.arp_target_ipv4)
        return true;
    struct frame_arp_party asker = {.ipv4 = view.arp_sender_ipv4};
    memcpy(asker.mac, view.arp.arp_sha, sizeof(asker.mac));
    struct frame_arp_party asked = {.ipv4 = view.arp_target_ipv4};
    if (!known_mac_of(lan, asked.ipv4, asked.mac))
        return false;
    uint8_t reply[FRAME_ARP_LEN];
    frame_build_arp(reply, ARPOP_REPLY, asker.mac, &asked, &asker);
    atomic_fetch_add(&lan->counters.arp_answered, 1);
    if (src >= 0)
        deliver_to_vm(lan, -1, (uint32_t)src, reply, sizeof(reply));
    else
        to_uplink(lan, reply, sizeof(reply));
    return true;
}

void lan_input_from_vm(struct lan *lan, uint32_t src, const uint8_t *frame, size_t len)
{
    const uint8_t *dst = frame;
    if (is_group(dst)) {
        if (!answer_arp(lan, src, frame, len) && flood_allowed(&lan->ports[src]))
            flood(lan, src, frame, len);
        return;
    }
    int64_t vm = lan_vm_of_mac(lan, dst);
    if (vm >= 0) {
        atomic_fetch_add(&lan->counters.forwarded, 1);
        deliver_to_vm(lan, src, (uint32_t)vm, frame, len);
        return;
    }
    if (memcmp(dst, lan->ports[src].mac, 6) == 0) {
        atomic_fetch_add(&lan->counters.dropped_unknown, 1);
        return;
    }
    /* Every VM MAC is known, so any other destination lives behind the uplink. */
    to_uplink(lan, frame, len);
}

struct fragment_target {
    struct lan *lan;
    uint32_t vm;
};

static void deliver_fragment(void *ctx, const uint8_t *frame, size_t len)
{
    struct fragment_target *t = ctx;
    deliver_to_vm(t->lan, -1, t->vm, frame, len);
}

/*
 * The uplinks run at the VMs' send MTU (4,000 bytes), so the host may send
 * an IP packet (a big UDP datagram) longer than a VM receives. The switch
 * splits it as the gateway router would; anything but IPv4 goes on whole,
 * for the port to drop and count.
 */
static void deliver_fragments(struct lan *lan, uint32_t vm, const uint8_t *frame, size_t len)
{
    struct fragment_target target = {lan, vm};
    size_t pieces = ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, deliver_fragment, &target);
    if (pieces == 0)
        deliver_to_vm(lan, -1, vm, frame, len);
    else
        atomic_fetch_add(&lan->counters.fragmented, 1);
}

void lan_input_from_uplink(struct lan *lan, const uint8_t *frame, size_t len)
{
    /* A frame longer than a VM takes is dropped by the port it was meant for, and counted there. */
    if (len < DENALI_NET_FRAME_MIN || len > DENALI_NET_TX_FRAME_MAX) {
        atomic_fetch_add(&lan->counters.dropped_malformed, 1);
        return;
    }
    atomic_fetch_add(&lan->counters.from_uplink, 1);
    const uint8_t *src_mac = frame + offsetof(struct ether_header, ether_shost);
    /* The host side may not pose as a VM. */
    if (has_vm_prefix(src_mac)) {
        atomic_fetch_add(&lan->counters.dropped_spoofed, 1);
        return;
    }
    if (!atomic_load(&lan->gateway_mac) && !is_group(src_mac))
        atomic_store(&lan->gateway_mac, frame_mac_to_u64(src_mac));
    if (is_group(frame)) {
        struct frame_view view;
        if (answer_arp(lan, -1, frame, len))
            return;
        /*
         * A request for an address no VM has: no VM can answer it (each
         * has the one address assigned to it), so it wakes none of them.
         * Flooded, a host probing past the last VM would wake a whole
         * hibernated tail.
         */
        if (is_arp_request(frame, len, &view))
            atomic_fetch_add(&lan->counters.dropped_unknown, 1);
        else
            flood(lan, -1, frame, len);
        return;
    }
    int64_t vm = lan_vm_of_mac(lan, frame);
    if (vm < 0) {
        atomic_fetch_add(&lan->counters.dropped_unknown, 1);
        return;
    }
    atomic_fetch_add(&lan->counters.forwarded, 1);
    if (len > DENALI_NET_FRAME_MAX) {
        deliver_fragments(lan, (uint32_t)vm, frame, len);
        return;
    }
    deliver_to_vm(lan, -1, (uint32_t)vm, frame, len);
}

void lan_print_counters(const struct lan *lan, FILE *out)
{
    uint64_t rx = 0, tx = 0, bad_len = 0, bad_slot = 0, spoofed = 0, rx_full = 0, storm = 0,
             fair = 0, overflowed = 0, oversize = 0;
    for (uint32_t i = 0; i < lan->vm_count; i++) {
        const struct net_port *p = &lan->ports[i];
        rx += atomic_load(&p->rx_frames);
        tx += atomic_load(&p->tx_frames);
        bad_len += atomic_load(&p->dropped_bad_len);
        bad_slot += atomic_load(&p->dropped_bad_slot);
        spoofed += atomic_load(&p->dropped_spoofed);
        rx_full += atomic_load(&p->dropped_rx_full);
        storm += atomic_load(&p->dropped_storm);
        fair += atomic_load(&p->dropped_fair_share);
        overflowed += atomic_load(&p->overflowed);
        oversize += atomic_load(&p->dropped_oversize);
    }
    const struct lan_counters *c = &lan->counters;
    fprintf(
        out,
        "denali-net: tx_frames=%lu rx_frames=%lu forwarded=%lu flooded=%lu "
        "arp_answered=%lu to_uplink=%lu from_uplink=%lu drop_spoofed=%lu "
        "drop_bad_len=%lu drop_bad_slot=%lu drop_oversize=%lu drop_rx_full=%lu drop_unknown=%lu "
        "drop_uplink_spoofed=%lu "
        "drop_uplink_malformed=%lu drop_storm=%lu drop_fair_share=%lu lazy_acks=%lu "
        "uplink_overflowed=%lu uplink_fragmented=%lu "
        "stopped_garbage_ring=%lu\n",
        (unsigned long)tx, (unsigned long)rx, (unsigned long)atomic_load(&c->forwarded),
        (unsigned long)atomic_load(&c->flooded), (unsigned long)atomic_load(&c->arp_answered),
        (unsigned long)atomic_load(&c->to_uplink), (unsigned long)atomic_load(&c->from_uplink),
        (unsigned long)spoofed, (unsigned long)bad_len, (unsigned long)bad_slot,
        (unsigned long)oversize, (unsigned long)rx_full,
        (unsigned long)atomic_load(&c->dropped_unknown),
        (unsigned long)atomic_load(&c->dropped_spoofed),
        (unsigned long)atomic_load(&c->dropped_malformed), (unsigned long)storm,
        (unsigned long)fair, (unsigned long)atomic_load(&c->lazy_acks), (unsigned long)overflowed,
        (unsigned long)atomic_load(&c->fragmented),
        (unsigned long)atomic_load(&c->dropped_garbage));
}
