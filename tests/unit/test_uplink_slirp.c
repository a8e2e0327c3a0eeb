/* Unit tests for the slirp uplink (uplink_slirp.c): its instances answer each VM, without KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/lan.h"
#include "test_util.h"
#include "net/uplink_slirp.h"

/* Three slirp instances: two full groups of 16 and one of 8. */
#define VMS           40u
#define PING_PAYLOAD  32u
#define PING_LEN      (14u + 20u + 8u + PING_PAYLOAD)
#define REPLY_WAIT_MS 3000
#define STATS_MAX     512
/* Host ports for the forwards are probed in blocks of VMS from here (below the ephemeral ports). */
#define PORTS_FIRST 28000u
#define PORT_BLOCKS 75u
#define GUEST_PORT  80u

struct ctx {
    struct lan lan;
    struct denali_net_area *areas[VMS];
    struct lan_uplink *uplink;
    struct publish_rule rule; /* host_first is 0 without forwards */
};

static struct ctx *new_lan(void)
{
    struct ctx *c = calloc(1, sizeof(*c));
    char err[256];
    if (!c || lan_init(&c->lan, LAN_DEFAULT_NETWORK, LAN_DEFAULT_PREFIX, VMS, true, err,
                       sizeof(err)) != 0)
        return NULL;
    for (unsigned i = 0; i < VMS; i++) {
        c->areas[i] = aligned_alloc(4096, DENALI_NET_AREA_SIZE);
        if (!c->areas[i])
            return NULL;
        memset(c->areas[i], 0, DENALI_NET_AREA_SIZE);
        c->lan.ports[i].area = c->areas[i];
    }
    return c;
}

static int setup(void **state)
{
    struct ctx *c = new_lan();
    char err[256];
    if (!c)
        return -1;
    c->uplink = uplink_slirp_start(&c->lan, NULL, 0, err, sizeof(err));
    if (!c->uplink) {
        fprintf(stderr, "uplink_slirp_start: %s\n", err);
        return -1;
    }
    c->lan.uplink = c->uplink;
    *state = c;
    return 0;
}

/* Host port first + i forwards to VM i; blocks of ports someone else holds are skipped. */
static int setup_with_forwards(void **state)
{
    struct ctx *c = new_lan();
    char err[256] = "";
    if (!c)
        return -1;
    for (unsigned block = 0; block < PORT_BLOCKS && !c->uplink; block++) {
        unsigned first = PORTS_FIRST + ((unsigned)getpid() + block) % PORT_BLOCKS * VMS;
        c->rule = (struct publish_rule){.host_first = (uint16_t)first,
                                        .host_last = (uint16_t)(first + VMS - 1),
                                        .guest_port = GUEST_PORT};
        c->uplink = uplink_slirp_start(&c->lan, &c->rule, 1, err, sizeof(err));
    }
    if (!c->uplink) {
        fprintf(stderr, "uplink_slirp_start: %s\n", err);
        return -1;
    }
    c->lan.uplink = c->uplink;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    c->lan.uplink = NULL;
    c->uplink->stop(c->uplink);
    for (unsigned i = 0; i < VMS; i++) {
        c->lan.ports[i].area = NULL;
        free(c->areas[i]);
    }
    lan_destroy(&c->lan);
    free(c);
    return 0;
}

static uint16_t internet_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* An ICMP echo request from VM vm to the gateway, which slirp answers itself. */
static size_t make_ping(const struct ctx *c, uint32_t vm, uint8_t *frame)
{
    memset(frame, 0, PING_LEN);
    memcpy(frame, c->uplink->mac, 6);
    lan_vm_mac(vm, frame + 6);
    test_put_be16(frame + 12, 0x0800);
    uint8_t *ip = frame + 14;
    ip[0] = 0x45;
    test_put_be16(ip + 2, 20 + 8 + PING_PAYLOAD);
    ip[8] = 64;
    ip[9] = 1;
    test_put_be32(ip + 12, lan_vm_ipv4(&c->lan, vm));
    test_put_be32(ip + 16, c->lan.gateway);
    test_put_be16(ip + 10, internet_checksum(ip, 20));
    uint8_t *icmp = ip + 20;
    icmp[0] = 8;
    test_put_be16(icmp + 4, (uint16_t)vm);
    test_put_be16(icmp + 6, 1);
    for (unsigned i = 0; i < PING_PAYLOAD; i++)
        icmp[8 + i] = (uint8_t)(vm + i);
    test_put_be16(icmp + 2, internet_checksum(icmp, 8 + PING_PAYLOAD));
    return PING_LEN;
}

static bool is_echo_reply_to(uint32_t vm, const struct denali_net_slot *slot)
{
    uint8_t vm_mac[6];
    lan_vm_mac(vm, vm_mac);
    const uint8_t *f = slot->data;
    return slot->len >= PING_LEN && memcmp(f, vm_mac, 6) == 0 && f[12] == 0x08 && f[13] == 0 &&
           f[14 + 9] == 1 && f[14 + 20] == 0 && f[14 + 20 + 4] == (uint8_t)(vm >> 8) &&
           f[14 + 20 + 5] == (uint8_t)vm;
}

/* Consumes VM vm's rx ring until an echo reply for it arrives; false after REPLY_WAIT_MS. */
static bool wait_for_echo_reply(struct ctx *c, uint32_t vm)
{
    struct denali_net_area *area = c->areas[vm];
    for (int waited = 0; waited < REPLY_WAIT_MS; waited++) {
        uint32_t produced = __atomic_load_n(&area->rx_produced, __ATOMIC_ACQUIRE);
        while (area->rx_consumed != produced) {
            const struct denali_net_slot *slot =
                &area->rx[area->rx_slot[area->rx_consumed % DENALI_NET_RX_SLOTS]];
            bool found = is_echo_reply_to(vm, slot);
            __atomic_store_n(&area->rx_consumed, area->rx_consumed + 1, __ATOMIC_RELEASE);
            if (found)
                return true;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    return false;
}

static bool is_syn_to_guest_port(uint32_t vm, const struct denali_net_slot *slot)
{
    uint8_t vm_mac[6];
    lan_vm_mac(vm, vm_mac);
    const uint8_t *f = slot->data;
    const uint8_t *tcp = f + 14 + 20;
    return slot->len >= 14 + 20 + 20 && memcmp(f, vm_mac, 6) == 0 && f[12] == 0x08 && f[13] == 0 &&
           f[14] == 0x45 && f[14 + 9] == 6 && ((tcp[2] << 8) | tcp[3]) == GUEST_PORT &&
           (tcp[13] & 0x12) == 0x02;
}

/* Consumes VM vm's rx ring until slirp opens a connection to it; false after REPLY_WAIT_MS. */
static bool wait_for_syn(struct ctx *c, uint32_t vm)
{
    struct denali_net_area *area = c->areas[vm];
    for (int waited = 0; waited < REPLY_WAIT_MS; waited++) {
        uint32_t produced = __atomic_load_n(&area->rx_produced, __ATOMIC_ACQUIRE);
        while (area->rx_consumed != produced) {
            const struct denali_net_slot *slot =
                &area->rx[area->rx_slot[area->rx_consumed % DENALI_NET_RX_SLOTS]];
            bool found = is_syn_to_guest_port(vm, slot);
            __atomic_store_n(&area->rx_consumed, area->rx_consumed + 1, __ATOMIC_RELEASE);
            if (found)
                return true;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    return false;
}

static void stats_line(struct ctx *c, char *text, size_t size)
{
    FILE *out = fmemopen(text, size, "w");
    assert_non_null(out);
    uplink_slirp_print_stats(c->uplink, out);
    fclose(out);
}

static void test_every_group_of_vms_is_answered(void **state)
{
    struct ctx *c = *state;
    /* The first and last VM of every instance, the last one partial. */
    static const uint32_t vms[] = {0, 15, 16, 31, 32, 39};
    for (size_t i = 0; i < sizeof(vms) / sizeof(vms[0]); i++) {
        uint8_t frame[PING_LEN];
        size_t len = make_ping(c, vms[i], frame);
        lan_input_from_vm(&c->lan, vms[i], frame, len);
        if (!wait_for_echo_reply(c, vms[i]))
            fail_msg("no echo reply reached VM %u", (unsigned)vms[i]);
    }
    assert_int_equal(c->areas[5]->rx_produced, 0);
    char stats[STATS_MAX];
    stats_line(c, stats, sizeof(stats));
    assert_contains(stats, "kind=slirp instances=3 ");
    assert_contains(stats, " dropped_no_vm=0 ");
    assert_contains(stats, " guest_errors=0 ");
}

static void test_frames_from_no_vm_are_dropped(void **state)
{
    struct ctx *c = *state;
    uint8_t frame[PING_LEN];
    make_ping(c, 3, frame);
    c->uplink->transmit(c->uplink, frame, 13); /* no whole Ethernet header */
    lan_vm_mac(VMS, frame + 6);                /* the MAC a VM past the last would have */
    c->uplink->transmit(c->uplink, frame, sizeof(frame));
    lan_vm_mac(3, frame + 6);
    frame[8] ^= 1; /* outside the VM MAC prefix */
    c->uplink->transmit(c->uplink, frame, sizeof(frame));
    memcpy(frame + 6, c->uplink->mac, 6); /* the gateway's own */
    c->uplink->transmit(c->uplink, frame, sizeof(frame));
    char stats[STATS_MAX];
    stats_line(c, stats, sizeof(stats));
    assert_contains(stats, " to_host=0 ");
    assert_contains(stats, " dropped_no_vm=4 ");
}

/*
 * A forward lives in the instance of its VM, which must then know that VM's
 * MAC (announced at start) for its SYN to leave, and get what the VM sends
 * back.
 */
static void test_forwards_reach_their_vm_through_its_instance(void **state)
{
    struct ctx *c = *state;
    static const uint32_t vms[] = {0, 16, 39};
    for (size_t i = 0; i < sizeof(vms) / sizeof(vms[0]); i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in addr = {.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)(c->rule.host_first + vms[i])),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
        bool reached = wait_for_syn(c, vms[i]);
        close(fd);
        if (!reached)
            fail_msg("no SYN reached VM %u from its published port", (unsigned)vms[i]);
    }
    char stats[STATS_MAX];
    stats_line(c, stats, sizeof(stats));
    assert_contains(stats, " backlog_failures=0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_group_of_vms_is_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frames_from_no_vm_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forwards_reach_their_vm_through_its_instance,
                                        setup_with_forwards, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
