/* Unit tests for ipv4_fragment: host frames split to fit a VM's receive MTU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "denali/abi.h"
#include "net/ipv4_fragment.h"
#include "test_util.h"

#define MAX_PIECES 8

struct pieces {
    size_t count;
    size_t len[MAX_PIECES];
    uint8_t data[MAX_PIECES][DENALI_NET_TX_FRAME_MAX];
};

static void collect(void *ctx, const uint8_t *frame, size_t len)
{
    struct pieces *p = ctx;
    assert_true(p->count < MAX_PIECES);
    memcpy(p->data[p->count], frame, len);
    p->len[p->count++] = len;
}

/* A ones'-complement sum over a header whose checksum is filled in is 0xffff. */
static int checksum_ok(const uint8_t *ip, size_t header_len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < header_len; i += 2)
        sum += test_get_be16(ip + i);
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return sum == 0xffffu;
}

/* An Ethernet + IPv4 (20-byte header) frame with payload bytes that count up. */
static size_t make_packet(uint8_t *frame, size_t payload, uint16_t flags_offset)
{
    memset(frame, 0, 14 + 20 + payload);
    for (int i = 0; i < 6; i++) {
        frame[i] = (uint8_t)(0x02 + i);
        frame[6 + i] = (uint8_t)(0x52 + i);
    }
    test_put_be16(frame + 12, 0x0800);
    uint8_t *ip = frame + 14;
    ip[0] = 0x45;
    test_put_be16(ip + 2, (uint16_t)(20 + payload));
    test_put_be16(ip + 4, 0x1234);
    test_put_be16(ip + 6, flags_offset);
    ip[8] = 64;
    ip[9] = 17;
    for (size_t i = 0; i < payload; i++)
        ip[20 + i] = (uint8_t)(i * 13u + 7u);
    return 14 + 20 + payload;
}

static void test_splits_into_fitting_fragments(void **state)
{
    (void)state;
    static uint8_t frame[DENALI_NET_TX_FRAME_MAX];
    static struct pieces p;
    memset(&p, 0, sizeof(p));
    size_t len = make_packet(frame, 2980, 0x4000 /* DF */);
    assert_int_equal(ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, collect, &p), 3);
    assert_int_equal(p.count, 3);
    static const size_t chunk[3] = {1480, 1480, 20};
    size_t offset = 0;
    for (size_t i = 0; i < 3; i++) {
        const uint8_t *ip = p.data[i] + 14;
        assert_true(p.len[i] <= DENALI_NET_FRAME_MAX);
        assert_int_equal(p.len[i], 14 + 20 + chunk[i]);
        assert_memory_equal(p.data[i], frame, 14);
        assert_int_equal(test_get_be16(ip + 2), 20 + chunk[i]);
        assert_int_equal(test_get_be16(ip + 4), 0x1234);
        uint16_t field = test_get_be16(ip + 6);
        assert_int_equal(field & 0x1fff, offset / 8);
        assert_int_equal((field & 0x2000) != 0, i < 2); /* MF on all but the last */
        assert_int_equal(field & 0x4000, 0);            /* DF cleared */
        assert_true(checksum_ok(ip, 20));
        assert_memory_equal(ip + 20, frame + 14 + 20 + offset, chunk[i]);
        offset += chunk[i];
    }
}

static void test_fragment_of_a_fragment_keeps_offset_and_mf(void **state)
{
    (void)state;
    static uint8_t frame[DENALI_NET_TX_FRAME_MAX];
    static struct pieces p;
    memset(&p, 0, sizeof(p));
    size_t len = make_packet(frame, 2000, 0x2000 | 100);
    assert_int_equal(ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, collect, &p), 2);
    assert_int_equal(test_get_be16(p.data[0] + 14 + 6), 0x2000 | 100);
    assert_int_equal(test_get_be16(p.data[1] + 14 + 6), 0x2000 | (100 + 1480 / 8));
}

static void test_ethernet_padding_is_not_payload(void **state)
{
    (void)state;
    static uint8_t frame[DENALI_NET_TX_FRAME_MAX];
    static struct pieces p;
    memset(&p, 0, sizeof(p));
    size_t len = make_packet(frame, 1600, 0);
    memset(frame + len, 0xee, 100);
    assert_int_equal(ipv4_fragment(frame, len + 100, DENALI_NET_FRAME_MAX, collect, &p), 2);
    assert_int_equal(p.len[1], 14 + 20 + 120);
}

static void test_refuses_what_is_not_ipv4(void **state)
{
    (void)state;
    static uint8_t frame[DENALI_NET_TX_FRAME_MAX];
    static struct pieces p;
    memset(&p, 0, sizeof(p));
    size_t len = make_packet(frame, 2000, 0);
    test_put_be16(frame + 12, 0x86dd);
    assert_int_equal(ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, collect, &p), 0);
    len = make_packet(frame, 2000, 0);
    frame[14] = 0x65; /* version 6 */
    assert_int_equal(ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, collect, &p), 0);
    len = make_packet(frame, 2000, 0);
    frame[14] = 0x44; /* a 16-byte header */
    assert_int_equal(ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, collect, &p), 0);
    len = make_packet(frame, 2000, 0);
    test_put_be16(frame + 16, 3000); /* longer than the frame */
    assert_int_equal(ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, collect, &p), 0);
    len = make_packet(frame, 2000, 0x1fff); /* past the largest offset */
    assert_int_equal(ipv4_fragment(frame, len, DENALI_NET_FRAME_MAX, collect, &p), 0);
    len = make_packet(frame, 2000, 0);
    assert_int_equal(ipv4_fragment(frame, len, 14 + 20 + 7, collect, &p), 0);
    assert_int_equal(ipv4_fragment(frame, 30, DENALI_NET_FRAME_MAX, collect, &p), 0);
    assert_int_equal(p.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits_into_fitting_fragments),
        cmocka_unit_test(test_fragment_of_a_fragment_keeps_offset_and_mf),
        cmocka_unit_test(test_ethernet_padding_is_not_payload),
        cmocka_unit_test(test_refuses_what_is_not_ipv4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
