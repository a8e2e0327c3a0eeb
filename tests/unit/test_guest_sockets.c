/* Unit tests for guest_sockets: which frames may open a host socket, and the per-VM and total caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "net/guest_sockets.h"

enum { PROTO_ICMP = 1, PROTO_TCP = 6, PROTO_UDP = 17 };

#define FRAME_LEN (14 + 20 + 20)

/* An Ethernet + IPv4 frame of protocol proto; for TCP, flags in the header's flag byte. */
static size_t make_frame(uint8_t *f, uint8_t proto, uint8_t tcp_flags)
{
    memset(f, 0, FRAME_LEN);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[3] = 40;
    ip[9] = proto;
    uint8_t *l4 = ip + 20;
    if (proto == PROTO_TCP) {
        l4[12] = 5 << 4; /* data offset: a header of 5 words, as slirp requires */
        l4[13] = tcp_flags;
    }
    if (proto == PROTO_ICMP)
        l4[0] = 8; /* echo request */
    return FRAME_LEN;
}

static void test_budget(void **state)
{
    (void)state;
    assert_int_equal(guest_sockets_budget(20000, 1000), 20000 - 1000 - GUEST_SOCKETS_RESERVE);
    assert_int_equal(guest_sockets_budget(1000, 1000), 0);
    assert_int_equal(guest_sockets_budget(100, 1000), 0);
}

/* Opens one socket for vm the way slirp does: while it handles the VM's frame. */
static bool open_for(struct guest_sockets *g, uint32_t vm, const uint8_t *frame, size_t len, int fd)
{
    if (!guest_sockets_admit(g, vm, frame, len))
        return false;
    assert_int_equal(guest_sockets_opened(g, fd), 0);
    guest_sockets_handled(g);
    return true;
}

static void test_per_vm_cap(void **state)
{
    (void)state;
    struct guest_sockets g;
    assert_int_equal(guest_sockets_init(&g, 2, 3, 100), 0);
    uint8_t syn[FRAME_LEN], udp[FRAME_LEN], ack[FRAME_LEN], synack[FRAME_LEN], ping[FRAME_LEN];
    make_frame(syn, PROTO_TCP, 0x02);
    make_frame(udp, PROTO_UDP, 0);
    make_frame(ack, PROTO_TCP, 0x10);
    make_frame(synack, PROTO_TCP, 0x12);
    make_frame(ping, PROTO_ICMP, 0);

    assert_true(open_for(&g, 0, syn, FRAME_LEN, 10));
    assert_true(open_for(&g, 0, udp, FRAME_LEN, 11));
    assert_true(open_for(&g, 0, ping, FRAME_LEN, 12));
    assert_int_equal(guest_sockets_held(&g, 0), 3);
    /* At the cap: nothing that could open a fourth goes to slirp. */
    assert_false(guest_sockets_admit(&g, 0, syn, FRAME_LEN));
    assert_false(guest_sockets_admit(&g, 0, udp, FRAME_LEN));
    assert_false(guest_sockets_admit(&g, 0, ping, FRAME_LEN));
    assert_int_equal(g.refused, 3);
    /* Its open connections go on, and so does answering the host's. */
    assert_true(guest_sockets_admit(&g, 0, ack, FRAME_LEN));
    guest_sockets_handled(&g);
    assert_true(guest_sockets_admit(&g, 0, synack, FRAME_LEN));
    guest_sockets_handled(&g);
    /* The other VM is not held back. */
    assert_true(open_for(&g, 1, syn, FRAME_LEN, 20));
    assert_int_equal(guest_sockets_held(&g, 1), 1);
    /* Closing one makes room again. */
    guest_sockets_closed(&g, 11);
    assert_int_equal(guest_sockets_held(&g, 0), 2);
    assert_true(open_for(&g, 0, udp, FRAME_LEN, 11));
    assert_int_equal(g.total, 4);
    assert_int_equal(g.peak, 4);
    guest_sockets_free(&g);
}

static void test_total_cap(void **state)
{
    (void)state;
    struct guest_sockets g;
    assert_int_equal(guest_sockets_init(&g, 3, 10, 2), 0);
    uint8_t syn[FRAME_LEN];
    make_frame(syn, PROTO_TCP, 0x02);
    assert_true(open_for(&g, 0, syn, FRAME_LEN, 5));
    assert_true(open_for(&g, 1, syn, FRAME_LEN, 6));
    assert_false(guest_sockets_admit(&g, 2, syn, FRAME_LEN));
    guest_sockets_closed(&g, 5);
    assert_true(open_for(&g, 2, syn, FRAME_LEN, 5));
    assert_int_equal(guest_sockets_held(&g, 0), 0);
    assert_int_equal(guest_sockets_held(&g, 2), 1);
    guest_sockets_free(&g);
}

static void test_ownership(void **state)
{
    (void)state;
    struct guest_sockets g;
    assert_int_equal(guest_sockets_init(&g, 2, 10, 100), 0);
    uint8_t syn[FRAME_LEN];
    make_frame(syn, PROTO_TCP, 0x02);
    /* Sockets opened outside a VM's frame (accepted on a published port) are nobody's. */
    assert_int_equal(guest_sockets_opened(&g, 7), 0);
    assert_int_equal(g.total, 0);
    guest_sockets_closed(&g, 7);
    assert_int_equal(g.total, 0);
    /* A number charged to VM 0, closed without a word and reused for VM 1, moves to VM 1. */
    assert_true(open_for(&g, 0, syn, FRAME_LEN, 4000));
    assert_true(open_for(&g, 1, syn, FRAME_LEN, 4000));
    assert_int_equal(guest_sockets_held(&g, 0), 0);
    assert_int_equal(guest_sockets_held(&g, 1), 1);
    assert_int_equal(g.total, 1);
    /* Closing twice, or a number never seen, changes nothing. */
    guest_sockets_closed(&g, 4000);
    guest_sockets_closed(&g, 4000);
    guest_sockets_closed(&g, 123456);
    guest_sockets_closed(&g, -1);
    assert_int_equal(g.total, 0);
    assert_int_equal(guest_sockets_held(&g, 1), 0);
    /* A VM id past the fleet is refused outright. */
    assert_false(guest_sockets_admit(&g, 2, syn, FRAME_LEN));
    guest_sockets_free(&g);
}

static void test_frames_that_cannot_open(void **state)
{
    (void)state;
    struct guest_sockets g;
    assert_int_equal(guest_sockets_init(&g, 1, 0, 0), 0); /* at the cap from the start */
    uint8_t f[FRAME_LEN];
    /* ARP, a truncated IPv4 header, another protocol, an ICMP reply: never refused. */
    make_frame(f, PROTO_UDP, 0);
    f[12] = 0x08;
    f[13] = 0x06;
    assert_true(guest_sockets_admit(&g, 0, f, FRAME_LEN));
    make_frame(f, PROTO_UDP, 0);
    assert_true(guest_sockets_admit(&g, 0, f, 20));
    make_frame(f, 47, 0);
    assert_true(guest_sockets_admit(&g, 0, f, FRAME_LEN));
    make_frame(f, PROTO_ICMP, 0);
    f[34] = 0; /* echo reply */
    assert_true(guest_sockets_admit(&g, 0, f, FRAME_LEN));
    /* A TCP fragment might be a SYN once reassembled. */
    make_frame(f, PROTO_TCP, 0x10);
    f[14 + 6] = 0x20; /* more fragments */
    assert_false(guest_sockets_admit(&g, 0, f, FRAME_LEN));
    assert_int_equal(g.refused, 1);
    guest_sockets_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_per_vm_cap),
        cmocka_unit_test(test_total_cap),
        cmocka_unit_test(test_ownership),
        cmocka_unit_test(test_frames_that_cannot_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
