/* Unit tests for the LAN switch and the virtual NIC rings (lan.c, net_port.c), without KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/lan.h"
#include "test_util.h"

#define VMS 4u

struct fake_uplink {
    struct lan_uplink base;
    unsigned frames;
    uint8_t last[DENALI_NET_TX_FRAME_MAX];
    size_t last_len;
};

struct ctx {
    struct lan lan;
    struct denali_net_area *areas[VMS];
    struct fake_uplink uplink;
    unsigned wakes[VMS];
};

static void fake_transmit(struct lan_uplink *u, const uint8_t *frame, size_t len)
{
    struct fake_uplink *f = (struct fake_uplink *)u;
    f->frames++;
    memcpy(f->last, frame, len);
    f->last_len = len;
}

static void fake_wake(void *ctx, uint32_t vm_id, bool immediate)
{
    (void)immediate;
    struct ctx *c = ctx;
    c->wakes[vm_id]++;
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    char err[128];
    if (!c || lan_init(&c->lan, LAN_DEFAULT_NETWORK, LAN_DEFAULT_PREFIX, VMS, true, err,
                       sizeof(err)) != 0)
        return -1;
    for (unsigned i = 0; i < VMS; i++) {
        c->areas[i] = aligned_alloc(4096, DENALI_NET_AREA_SIZE);
        if (!c->areas[i])
            return -1;
        memset(c->areas[i], 0, DENALI_NET_AREA_SIZE);
        c->lan.ports[i].area = c->areas[i];
    }
    c->uplink.base.transmit = fake_transmit;
    c->lan.wake = fake_wake;
    c->lan.wake_ctx = c;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    for (unsigned i = 0; i < VMS; i++)
        free(c->areas[i]);
    lan_destroy(&c->lan);
    free(c);
    return 0;
}

static uint32_t rx_count(const struct ctx *c, unsigned vm)
{
    return c->areas[vm]->rx_produced - c->areas[vm]->rx_consumed;
}

/* The rx slot that frame number entry of VM vm's ring is in, by the slot table. */
static const struct denali_net_slot *rx_frame(const struct ctx *c, unsigned vm, uint32_t entry)
{
    unsigned slot = c->areas[vm]->rx_slot[entry % DENALI_NET_RX_SLOTS];
    assert_true(slot < DENALI_NET_RX_SLOTS);
    return &c->areas[vm]->rx[slot];
}

static void consume_all(struct ctx *c, unsigned vm)
{
    c->areas[vm]->rx_consumed = c->areas[vm]->rx_produced;
}

static size_t make_frame(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memset(f, 0, 60);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = (uint8_t)(type >> 8);
    f[13] = (uint8_t)type;
    return 60;
}

static size_t make_arp_request(uint8_t *f, const uint8_t *src_mac, uint32_t src_ip,
                               uint32_t target_ip)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    make_frame(f, bcast, src_mac, 0x0806);
    uint8_t *a = f + 14;
    a[1] = 1;
    a[2] = 0x08;
    a[4] = 6;
    a[5] = 4;
    a[7] = 1;
    memcpy(a + 8, src_mac, 6);
    for (int i = 0; i < 4; i++) {
        a[14 + i] = (uint8_t)(src_ip >> (24 - 8 * i));
        a[24 + i] = (uint8_t)(target_ip >> (24 - 8 * i));
    }
    return 42;
}

static void test_addresses(void **state)
{
    struct ctx *c = *state;
    uint8_t mac[6];
    lan_vm_mac(0x123456, mac);
    static const uint8_t want[6] = {0x02, 0xde, 0x00, 0x12, 0x34, 0x56};
    assert_memory_equal(mac, want, 6);
    assert_int_equal(lan_vm_ipv4(&c->lan, 0), 0x0a4d0010u);
    assert_int_equal(lan_vm_ipv4(&c->lan, 300), 0x0a4d0010u + 300);
    assert_int_equal(c->lan.gateway, 0x0a4d0001u);
    assert_int_equal(c->lan.netmask, 0xffff0000u);
    assert_int_equal(c->lan.ports[2].ipv4, 0x0a4d0012u);
    assert_int_equal(lan_vm_of_mac(&c->lan, c->lan.ports[2].mac), 2);
    lan_vm_mac(VMS, mac); /* past the last VM */
    assert_int_equal(lan_vm_of_mac(&c->lan, mac), -1);
    lan_vm_mac(1, mac);
    mac[2] ^= 1; /* outside the VM prefix */
    assert_int_equal(lan_vm_of_mac(&c->lan, mac), -1);
}

static void test_init_refuses_too_many_vms(void **state)
{
    (void)state;
    struct lan lan;
    char err[128] = "";
    /* VM ids are 24 bits of the MAC. */
    assert_int_equal(lan_init(&lan, LAN_DEFAULT_NETWORK, 16, 1u << 24, true, err, sizeof(err)), -1);
    assert_contains(err, "do not fit");
    /* Counting from 10.255.255.0, 1,000 VMs would leave 10.0.0.0/8. */
    assert_int_equal(lan_init(&lan, 0x0affff00u, 24, 1000, true, err, sizeof(err)), -1);
    assert_contains(err, "do not fit");
    assert_int_equal(lan_init(&lan, LAN_DEFAULT_NETWORK, 31, 1, true, err, sizeof(err)), -1);
    assert_contains(err, "prefix");
}

/* The subnet widens only when the VMs need it, and a VM's address never moves. */
static void test_prefix_widens_only_when_it_must(void **state)
{
    (void)state;
    const uint32_t base = LAN_DEFAULT_NETWORK; /* 10.77.0.0 */
    assert_int_equal(lan_prefix_for(base, 16, 0), 16);
    assert_int_equal(lan_prefix_for(base, 16, 1), 16);
    /* 10.77.0.16 + 65,518 = 10.77.255.254, the last address below the /16's broadcast. */
    assert_int_equal(lan_prefix_for(base, 16, 65519), 16);
    /* One more would be the broadcast; a /15 (10.76.0.0/15) ends there too, so /14. */
    assert_int_equal(lan_prefix_for(base, 16, 65520), 14);
    /* 10.76.0.0/14 ends at 10.79.255.255: 3 x 65,536 - 17 VMs fit; /13 and /12 end there too. */
    assert_int_equal(lan_prefix_for(base, 16, 3 * 65536 - 17), 14);
    assert_int_equal(lan_prefix_for(base, 16, 3 * 65536 - 16), 11);
    assert_int_equal(lan_prefix_for(base, 16, 1000000), 11);
    /* A narrower wish is widened one bit at a time. */
    assert_int_equal(lan_prefix_for(base, 24, 239), 24);
    assert_int_equal(lan_prefix_for(base, 24, 240), 23);
    /* Nothing fits past /8, and nothing wraps past 255.255.255.255. */
    assert_int_equal(lan_prefix_for(0x0affff00u, 24, 1000), -1);
    assert_int_equal(lan_prefix_for(0xffffff00u, 24, 300), -1);
    assert_int_equal(lan_prefix_for(base, 7, 1), -1);
}

static void test_wide_lan_keeps_addresses(void **state)
{
    (void)state;
    struct lan lan;
    char err[128] = "";
    assert_int_equal(lan_init(&lan, LAN_DEFAULT_NETWORK, 16, 70000, true, err, sizeof(err)), 0);
    assert_int_equal(lan.netmask, 0xfffc0000u); /* /14 */
    assert_int_equal(lan.network, 0x0a4c0000u); /* 10.76.0.0 */
    assert_int_equal(lan.gateway, 0x0a4d0001u); /* 10.77.0.1, as in a /16 */
    assert_int_equal(lan_vm_ipv4(&lan, 0), 0x0a4d0010u);
    assert_int_equal(lan_vm_ipv4(&lan, 65519), 0x0a4dffffu); /* a host address in a /14 */
    assert_int_equal(lan_vm_ipv4(&lan, 69999), 0x0a4e117fu); /* 10.78.17.127 */
    assert_int_equal(lan.ports[69999].ipv4, 0x0a4e117fu);
    uint8_t mac[6];
    lan_vm_mac(69999, mac);
    assert_int_equal(lan_vm_of_mac(&lan, mac), 69999);
    lan_destroy(&lan);
}

static void test_unicast_reaches_only_its_vm(void **state)
{
    struct ctx *c = *state;
    uint8_t f[60];
    make_frame(f, c->lan.ports[2].mac, c->lan.ports[1].mac, 0x88b5);
    f[20] = 0x5a;
    lan_input_from_vm(&c->lan, 1, f, sizeof(f));
    assert_int_equal(rx_count(c, 2), 1);
    assert_int_equal(rx_count(c, 0) + rx_count(c, 1) + rx_count(c, 3), 0);
    assert_int_equal(c->areas[2]->rx[0].len, 60);
    assert_int_equal(c->areas[2]->rx[0].data[20], 0x5a);
    assert_int_equal(c->wakes[2], 1);
    assert_int_equal(c->uplink.frames, 0);
}

static void test_broadcast_floods_all_but_sender(void **state)
{
    struct ctx *c = *state;
    c->lan.uplink = &c->uplink.base;
    uint8_t f[60];
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    make_frame(f, bcast, c->lan.ports[0].mac, 0x88b5);
    lan_input_from_vm(&c->lan, 0, f, sizeof(f));
    assert_int_equal(rx_count(c, 0), 0);
    for (unsigned i = 1; i < VMS; i++)
        assert_int_equal(rx_count(c, i), 1);
    assert_int_equal(c->uplink.frames, 1);
}

static void test_arp_for_vm_answered_by_switch(void **state)
{
    struct ctx *c = *state;
    uint8_t f[60];
    size_t len =
        make_arp_request(f, c->lan.ports[1].mac, c->lan.ports[1].ipv4, c->lan.ports[3].ipv4);
    lan_input_from_vm(&c->lan, 1, f, len);
    assert_int_equal(rx_count(c, 3), 0); /* not woken to answer */
    assert_int_equal(rx_count(c, 1), 1);
    const uint8_t *r = c->areas[1]->rx[0].data;
    assert_memory_equal(r, c->lan.ports[1].mac, 6);     /* to the asker */
    assert_memory_equal(r + 6, c->lan.ports[3].mac, 6); /* from the target */
    assert_int_equal(c->areas[1]->rx[0].len, 42);
    static const uint8_t ethernet_ipv4_reply[10] = {0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2};
    assert_memory_equal(r + 12, ethernet_ipv4_reply, sizeof(ethernet_ipv4_reply));
    assert_memory_equal(r + 22, c->lan.ports[3].mac, 6);
    assert_memory_equal(r + 28, f + 14 + 24, 4);         /* the address asked about */
    assert_memory_equal(r + 32, c->lan.ports[1].mac, 6); /* to the asker */
    assert_memory_equal(r + 38, f + 14 + 14, 4);
    assert_int_equal(atomic_load(&c->lan.counters.arp_answered), 1);
}

static void test_arp_for_unknown_address_floods(void **state)
{
    struct ctx *c = *state;
    uint8_t f[60];
    size_t len = make_arp_request(f, c->lan.ports[1].mac, c->lan.ports[1].ipv4, 0x0a4d0002u);
    lan_input_from_vm(&c->lan, 1, f, len);
    assert_int_equal(rx_count(c, 0), 1);
    assert_int_equal(rx_count(c, 2), 1);
    assert_int_equal(rx_count(c, 1), 0);
}

/* From the uplink, no VM could answer it: it wakes none (a hibernated tail would all wake). */
static void test_uplink_arp_for_no_vm_wakes_none(void **state)
{
    struct ctx *c = *state;
    static const uint8_t host[6] = {0x52, 0x55, 0x0a, 0x4d, 0x00, 0x01};
    c->lan.uplink = &c->uplink.base;
    uint8_t f[60];
    size_t len = make_arp_request(f, host, c->lan.gateway, lan_vm_ipv4(&c->lan, VMS));
    lan_input_from_uplink(&c->lan, f, len);
    for (unsigned i = 0; i < VMS; i++) {
        assert_int_equal(rx_count(c, i), 0);
        assert_int_equal(c->wakes[i], 0);
    }
    assert_int_equal(c->uplink.frames, 0);
    assert_int_equal(atomic_load(&c->lan.counters.dropped_unknown), 1);
    /* one for a VM is still answered by the switch */
    len = make_arp_request(f, host, c->lan.gateway, lan_vm_ipv4(&c->lan, 2));
    lan_input_from_uplink(&c->lan, f, len);
    assert_int_equal(c->uplink.frames, 1);
    assert_int_equal(rx_count(c, 2), 0);
}

static void test_gratuitous_arp_absorbed(void **state)
{
    struct ctx *c = *state;
    uint8_t f[60];
    size_t len =
        make_arp_request(f, c->lan.ports[1].mac, c->lan.ports[1].ipv4, c->lan.ports[1].ipv4);
    lan_input_from_vm(&c->lan, 1, f, len);
    for (unsigned i = 0; i < VMS; i++)
        assert_int_equal(rx_count(c, i), 0);
}

static void test_unknown_unicast_goes_to_uplink_or_is_dropped(void **state)
{
    struct ctx *c = *state;
    static const uint8_t outside[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    uint8_t f[60];
    make_frame(f, outside, c->lan.ports[0].mac, 0x0800);
    lan_input_from_vm(&c->lan, 0, f, sizeof(f));
    assert_int_equal(atomic_load(&c->lan.counters.dropped_unknown), 1);
    c->lan.uplink = &c->uplink.base;
    lan_input_from_vm(&c->lan, 0, f, sizeof(f));
    assert_int_equal(c->uplink.frames, 1);
    for (unsigned i = 0; i < VMS; i++)
        assert_int_equal(rx_count(c, i), 0);
}

/* A VM may send big frames to the uplink, but a VM only receives what fits its rx slots. */
static void test_big_frames_reach_the_uplink_only(void **state)
{
    struct ctx *c = *state;
    static const uint8_t outside[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    static uint8_t big[DENALI_NET_TX_FRAME_MAX];
    c->lan.uplink = &c->uplink.base;
    make_frame(big, outside, c->lan.ports[0].mac, 0x0800);
    lan_input_from_vm(&c->lan, 0, big, sizeof(big));
    assert_int_equal(c->uplink.frames, 1);
    assert_int_equal(c->uplink.last_len, sizeof(big));
    make_frame(big, c->lan.ports[1].mac, c->lan.ports[0].mac, 0x0800);
    lan_input_from_vm(&c->lan, 0, big, DENALI_NET_FRAME_MAX + 1);
    assert_int_equal(rx_count(c, 1), 0);
    assert_int_equal(atomic_load(&c->lan.ports[1].dropped_oversize), 1);
    lan_input_from_vm(&c->lan, 0, big, DENALI_NET_FRAME_MAX);
    assert_int_equal(rx_count(c, 1), 1);
    make_frame(big, c->lan.ports[2].mac, outside, 0x0800);
    lan_input_from_uplink(&c->lan, big, DENALI_NET_FRAME_MAX + 1);
    assert_int_equal(rx_count(c, 2), 0);
    assert_int_equal(atomic_load(&c->lan.ports[2].dropped_oversize), 1);
    lan_input_from_uplink(&c->lan, big, DENALI_NET_TX_FRAME_MAX + 1);
    assert_int_equal(atomic_load(&c->lan.counters.dropped_malformed), 1);
}

/* A host IP packet longer than a VM receives is split by the switch, as the gateway would. */
static void test_big_uplink_packets_are_fragmented(void **state)
{
    struct ctx *c = *state;
    static const uint8_t gw[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    static uint8_t big[DENALI_NET_TX_FRAME_MAX];
    make_frame(big, c->lan.ports[1].mac, gw, 0x0800);
    size_t len = 14 + 20 + 2980;
    big[14] = 0x45;
    big[16] = (uint8_t)((len - 14) >> 8);
    big[17] = (uint8_t)(len - 14);
    lan_input_from_uplink(&c->lan, big, len);
    assert_int_equal(rx_count(c, 1), 3);
    assert_int_equal(atomic_load(&c->lan.counters.fragmented), 1);
    assert_int_equal(atomic_load(&c->lan.ports[1].dropped_oversize), 0);
}

static void test_uplink_may_not_pose_as_a_vm(void **state)
{
    struct ctx *c = *state;
    uint8_t f[60];
    make_frame(f, c->lan.ports[0].mac, c->lan.ports[2].mac, 0x0800);
    lan_input_from_uplink(&c->lan, f, sizeof(f));
    assert_int_equal(rx_count(c, 0), 0);
    assert_int_equal(atomic_load(&c->lan.counters.dropped_spoofed), 1);
    static const uint8_t gw[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
    make_frame(f, c->lan.ports[0].mac, gw, 0x0800);
    lan_input_from_uplink(&c->lan, f, sizeof(f));
    assert_int_equal(rx_count(c, 0), 1);
    lan_input_from_uplink(&c->lan, f, 5);
    assert_int_equal(atomic_load(&c->lan.counters.dropped_malformed), 1);
}

struct sent {
    unsigned frames;
    size_t last_len;
};

static void count_sent(void *ctx, const uint8_t *frame, size_t len)
{
    (void)frame;
    struct sent *s = ctx;
    s->frames++;
    s->last_len = len;
}

/* Queues a frame in slot number slot (which may name no slot). */
static void queue_tx_in(struct denali_net_area *a, const uint8_t *frame, uint16_t len, uint8_t slot)
{
    if (slot < DENALI_NET_TX_SLOTS) {
        memcpy(a->tx[slot].data, frame, len < 60 ? len : 60);
        a->tx[slot].len = len;
    }
    a->tx_slot[a->tx_produced % DENALI_NET_TX_SLOTS] = slot;
    a->tx_produced++;
}

static void queue_tx(struct denali_net_area *a, const uint8_t *frame, uint16_t len)
{
    queue_tx_in(a, frame, len, (uint8_t)(a->tx_produced % DENALI_NET_TX_SLOTS));
}

static void test_transmit_checks_every_slot(void **state)
{
    struct ctx *c = *state;
    struct net_port *p = &c->lan.ports[1];
    uint8_t good[60], spoofed[60];
    make_frame(good, c->lan.ports[0].mac, p->mac, 0x0800);
    make_frame(spoofed, c->lan.ports[0].mac, c->lan.ports[2].mac, 0x0800);
    queue_tx(c->areas[1], good, 60);
    queue_tx(c->areas[1], spoofed, 60);
    queue_tx(c->areas[1], good, 13);
    queue_tx(c->areas[1], good, DENALI_NET_TX_FRAME_MAX + 1);
    queue_tx(c->areas[1], good, DENALI_NET_TX_FRAME_MAX);
    queue_tx(c->areas[1], good, 60);
    queue_tx_in(c->areas[1], good, 60, DENALI_NET_TX_SLOTS);
    queue_tx_in(c->areas[1], good, 60, 0xff);
    struct sent s = {0};
    assert_int_equal(net_port_transmit(p, count_sent, &s), 3);
    assert_int_equal(s.frames, 3);
    assert_int_equal(atomic_load(&p->dropped_spoofed), 1);
    assert_int_equal(atomic_load(&p->dropped_bad_len), 2);
    assert_int_equal(atomic_load(&p->dropped_bad_slot), 2);
    assert_int_equal(c->areas[1]->tx_consumed, 8);
    assert_int_equal(net_port_transmit(p, count_sent, &s), 0);
    /* A producer index further ahead than the ring is garbage. */
    c->areas[1]->tx_produced += DENALI_NET_TX_SLOTS + 1;
    assert_int_equal(net_port_transmit(p, count_sent, &s), -1);
}

static void test_full_ring_drops_and_counts(void **state)
{
    struct ctx *c = *state;
    struct net_port *p = &c->lan.ports[0];
    uint8_t f[60];
    make_frame(f, p->mac, c->lan.ports[1].mac, 0x0800);
    unsigned delivered = 0;
    for (unsigned i = 0; i < DENALI_NET_RX_SLOTS + 10; i++)
        delivered += net_port_deliver(p, 1 + i % 3, f, sizeof(f));
    assert_int_equal(delivered, DENALI_NET_RX_SLOTS);
    assert_int_equal(atomic_load(&p->dropped_rx_full), 10);
    /* A garbage rx_consumed only makes the ring look full. */
    c->areas[0]->rx_consumed = 12345;
    assert_false(net_port_deliver(p, 1, f, sizeof(f)));
    consume_all(c, 0);
    assert_true(net_port_deliver(p, 1, f, sizeof(f)));
}

/* A ring used one frame at a time keeps reusing its first slot; frames in flight never share. */
static void test_rx_takes_the_lowest_free_slot(void **state)
{
    struct ctx *c = *state;
    struct net_port *p = &c->lan.ports[0];
    uint8_t f[60];
    make_frame(f, p->mac, c->lan.ports[1].mac, 0x0800);
    for (unsigned i = 0; i < 3 * DENALI_NET_RX_SLOTS; i++) {
        f[20] = (uint8_t)i;
        assert_true(net_port_deliver(p, 1, f, sizeof(f)));
        assert_int_equal(c->areas[0]->rx_slot[i % DENALI_NET_RX_SLOTS], 0);
        assert_int_equal(rx_frame(c, 0, i)->data[20], (uint8_t)i);
        consume_all(c, 0);
    }
    /* Three in flight take slots 0-2; consuming the first frees slot 0 for the next. */
    uint32_t first = c->areas[0]->rx_produced;
    for (unsigned i = 0; i < 3; i++)
        assert_true(net_port_deliver(p, 1, f, sizeof(f)));
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(c->areas[0]->rx_slot[(first + i) % DENALI_NET_RX_SLOTS], i);
    c->areas[0]->rx_consumed = first + 1;
    assert_true(net_port_deliver(p, 1, f, sizeof(f)));
    assert_int_equal(c->areas[0]->rx_slot[(first + 3) % DENALI_NET_RX_SLOTS], 0);
    assert_true(net_port_deliver(p, 1, f, sizeof(f)));
    assert_int_equal(c->areas[0]->rx_slot[(first + 4) % DENALI_NET_RX_SLOTS], 3);
    /* A guest that rewrites the slot table fools only itself: the monitor keeps its own copy. */
    memset(c->areas[0]->rx_slot, 7, sizeof(c->areas[0]->rx_slot));
    consume_all(c, 0);
    assert_true(net_port_deliver(p, 1, f, sizeof(f)));
    assert_int_equal(c->areas[0]->rx_slot[(first + 5) % DENALI_NET_RX_SLOTS], 0);
}

/* What net_port_trim gave back: one bit a page of the area. */
struct released {
    uint64_t pages[DENALI_NET_AREA_SIZE / DENALI_PAGE_SIZE / 64 + 1];
    unsigned calls;
};

static int record_release(void *ctx, uint64_t gpa, uint64_t len)
{
    struct released *r = ctx;
    assert_int_equal(gpa % DENALI_PAGE_SIZE, 0);
    assert_int_equal(len % DENALI_PAGE_SIZE, 0);
    assert_true(gpa + len <= DENALI_NET_AREA_SIZE);
    for (uint64_t p = gpa / DENALI_PAGE_SIZE; p < (gpa + len) / DENALI_PAGE_SIZE; p++)
        r->pages[p / 64] |= 1ull << (p % 64);
    r->calls++;
    return 0;
}

static bool was_released(const struct released *r, uint64_t offset)
{
    uint64_t p = offset / DENALI_PAGE_SIZE;
    return (r->pages[p / 64] >> (p % 64)) & 1;
}

/* A hibernated VM keeps the header and the pages of frames it has yet to read, nothing else. */
static void test_trim_keeps_only_pages_in_use(void **state)
{
    struct ctx *c = *state;
    struct net_port *p = &c->lan.ports[0];
    struct denali_net_area *a = c->areas[0];
    const uint8_t *ram = (const uint8_t *)a; /* the area at gpa 0 */
    uint8_t f[60];
    make_frame(f, p->mac, c->lan.ports[1].mac, 0x0800);
    for (unsigned i = 0; i < 5; i++)
        assert_true(net_port_deliver(p, 1, f, sizeof(f))); /* slots 0-4: rx pages 0-2 */
    a->rx_consumed = 3;                                    /* slots 3 and 4 still wait */
    struct released r = {0};
    uint64_t rx = offsetof(struct denali_net_area, rx), tx = offsetof(struct denali_net_area, tx);
    assert_int_equal(net_port_trim(p, ram, record_release, &r), 62 + DENALI_NET_TX_SLOTS);
    assert_false(was_released(&r, 0));                         /* the header */
    assert_true(was_released(&r, rx));                         /* slots 0 and 1: read */
    assert_false(was_released(&r, rx + 2 * DENALI_PAGE_SIZE)); /* slot 4 waits */
    assert_true(was_released(&r, rx + 3 * DENALI_PAGE_SIZE));
    assert_true(was_released(&r, tx));
    assert_true(was_released(&r, tx + sizeof(a->tx) - DENALI_PAGE_SIZE));
    /* slot 3 waits too: page 1 stays */
    assert_false(was_released(&r, rx + DENALI_PAGE_SIZE));
    /* A frame the guest queued and the monitor has not sent keeps the tx ring. */
    a->tx_produced++;
    struct released r2 = {0};
    assert_int_equal(net_port_trim(p, ram, record_release, &r2), 62);
    assert_false(was_released(&r2, tx));
    /* A garbage rx_consumed keeps every rx page: any may hold a frame. */
    a->rx_consumed = 12345;
    struct released r3 = {0};
    assert_int_equal(net_port_trim(p, ram, record_release, &r3), 0);
    assert_int_equal(r3.calls, 0);
}

static void test_one_sender_gets_a_fair_share_only(void **state)
{
    struct ctx *c = *state;
    struct net_port *p = &c->lan.ports[0];
    uint8_t f[60];
    make_frame(f, p->mac, c->lan.ports[1].mac, 0x0800);
    unsigned delivered = 0;
    for (unsigned i = 0; i < DENALI_NET_RX_SLOTS; i++)
        delivered += net_port_deliver(p, 1, f, sizeof(f));
    assert_int_equal(delivered, NET_FAIR_SHARE_SLOTS);
    assert_true(net_port_deliver(p, 2, f, sizeof(f)));
    assert_true(atomic_load(&p->dropped_fair_share) > 0);
    /* The uplink is exempt: it may fill the rest of the ring. */
    while (c->areas[0]->rx_produced < DENALI_NET_RX_SLOTS)
        assert_true(net_port_deliver(p, NET_SOURCE_UPLINK, f, sizeof(f)));
}

static void test_uplink_frames_wait_for_a_full_ring(void **state)
{
    struct ctx *c = *state;
    struct net_port *p = &c->lan.ports[0];
    uint8_t f[60];
    make_frame(f, p->mac, c->lan.ports[1].mac, 0x0800);
    for (unsigned i = 0; i < DENALI_NET_RX_SLOTS; i++)
        assert_true(net_port_deliver(p, NET_SOURCE_UPLINK, f, sizeof(f)));
    /* The ring is full: uplink frames wait outside it, numbered to check their order. */
    for (unsigned i = 0; i < NET_OVERFLOW_FRAMES; i++) {
        f[20] = (uint8_t)i;
        assert_true(net_port_deliver(p, NET_SOURCE_UPLINK, f, sizeof(f)));
    }
    assert_false(net_port_deliver(p, NET_SOURCE_UPLINK, f, sizeof(f))); /* bounded */
    assert_int_equal(atomic_load(&p->dropped_rx_full), 1);
    assert_true(net_port_refill(p)); /* no room yet */
    c->areas[0]->rx_consumed += 10;
    assert_true(net_port_refill(p));
    assert_int_equal(rx_count(c, 0), DENALI_NET_RX_SLOTS);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(rx_frame(c, 0, DENALI_NET_RX_SLOTS + i)->data[20], i);
    consume_all(c, 0);
    assert_false(net_port_refill(p));
    assert_int_equal(rx_frame(c, 0, DENALI_NET_RX_SLOTS + 10)->data[20], 10);
    assert_int_equal(rx_frame(c, 0, 2 * DENALI_NET_RX_SLOTS - 1)->data[20],
                     NET_OVERFLOW_FRAMES - 1);
    /* Frames from VMs are not kept: a full ring drops them. */
    c->areas[0]->rx_consumed = c->areas[0]->rx_produced - DENALI_NET_RX_SLOTS;
    assert_false(net_port_deliver(p, 1, f, sizeof(f)));
}

static void test_detached_port_drops(void **state)
{
    struct ctx *c = *state;
    net_port_detach(&c->lan.ports[3]);
    uint8_t f[60];
    make_frame(f, c->lan.ports[3].mac, c->lan.ports[1].mac, 0x0800);
    lan_input_from_vm(&c->lan, 1, f, sizeof(f));
    assert_int_equal(rx_count(c, 3), 0);
    assert_int_equal(atomic_load(&c->lan.ports[3].dropped_rx_full), 1);
}

/* An Ethernet + IPv4 + TCP frame with the given TCP flags and payload length. */
static size_t make_tcp(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint8_t flags,
                       size_t payload)
{
    make_frame(f, dst, src, 0x0800);
    uint8_t *ip = f + 14;
    size_t total = 20 + 20 + payload;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(total >> 8);
    ip[3] = (uint8_t)total;
    ip[9] = 6;
    ip[20 + 12] = 5 << 4;
    ip[20 + 13] = flags;
    return 14 + total;
}

static void test_lazy_acks_do_not_wake(void **state)
{
    struct ctx *c = *state;
    uint8_t f[128];
    const uint8_t *to = c->lan.ports[2].mac, *from = c->lan.ports[1].mac;
    atomic_store(&c->lan.ports[2].lazy_acks, true);
    lan_input_from_vm(&c->lan, 1, f, make_tcp(f, to, from, 0x10, 0));
    assert_int_equal(rx_count(c, 2), 1);                               /* queued */
    assert_int_equal(c->wakes[2], 0);                                  /* but not woken */
    lan_input_from_vm(&c->lan, 1, f, make_tcp(f, to, from, 0x18, 10)); /* data */
    assert_int_equal(c->wakes[2], 1);
    lan_input_from_vm(&c->lan, 1, f, make_tcp(f, to, from, 0x11, 0)); /* FIN */
    assert_int_equal(c->wakes[2], 2);
    atomic_store(&c->lan.ports[2].lazy_acks, false);
    lan_input_from_vm(&c->lan, 1, f, make_tcp(f, to, from, 0x10, 0));
    assert_int_equal(c->wakes[2], 3);
    assert_int_equal(atomic_load(&c->lan.counters.lazy_acks), 1);
}

static void test_storm_control_limits_floods(void **state)
{
    struct ctx *c = *state;
    uint8_t f[60];
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    make_frame(f, bcast, c->lan.ports[0].mac, 0x88b5);
    for (unsigned i = 0; i < 5000; i++) {
        lan_input_from_vm(&c->lan, 0, f, sizeof(f));
        consume_all(c, 1);
    }
    uint64_t flooded = atomic_load(&c->lan.counters.flooded);
    assert_true(flooded >= 100);
    assert_true(flooded < 5000); /* 5000 frames take far less than 5 s */
    assert_true(atomic_load(&c->lan.ports[0].dropped_storm) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
        cmocka_unit_test(test_init_refuses_too_many_vms),
        cmocka_unit_test(test_prefix_widens_only_when_it_must),
        cmocka_unit_test(test_wide_lan_keeps_addresses),
        cmocka_unit_test_setup_teardown(test_unicast_reaches_only_its_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_floods_all_but_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_for_vm_answered_by_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_for_unknown_address_floods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uplink_arp_for_no_vm_wakes_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gratuitous_arp_absorbed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_unicast_goes_to_uplink_or_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_uplink_may_not_pose_as_a_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_frames_reach_the_uplink_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_uplink_packets_are_fragmented, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transmit_checks_every_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_ring_drops_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_takes_the_lowest_free_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_keeps_only_pages_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_sender_gets_a_fair_share_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detached_port_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uplink_frames_wait_for_a_full_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_storm_control_limits_floods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_acks_do_not_wake, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
