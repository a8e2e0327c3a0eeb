/* Unit tests for frame_view: each header checked against the frame's length, ARP, MAC numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "net/frame_view.h"
#include "test_util.h"

/* Frames are written byte by byte here, so the view is checked against the wire format itself. */
#define ETH_LEN       14u
#define FRAME_ROOM    256u
#define PROTO_ICMP    1u
#define PROTO_TCP     6u
#define PROTO_UDP     17u
#define SOURCE_IP     0x0a4d0010u
#define DEST_IP       0x0a4d0001u
#define MIN_FRAME_LEN 60u

static const uint8_t dst_mac[6] = {0x52, 0x55, 0x0a, 0x4d, 0x00, 0x01};
static const uint8_t src_mac[6] = {0x02, 0xde, 0x00, 0x00, 0x00, 0x07};

static void put_ethernet(uint8_t *f, uint16_t ethertype)
{
    memset(f, 0, FRAME_ROOM);
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, src_mac, 6);
    test_put_be16(f + 12, ethertype);
}

/* An ARP request from src_mac/SOURCE_IP for DEST_IP; returns its length, 42. */
static size_t make_arp(uint8_t *f)
{
    put_ethernet(f, 0x0806);
    uint8_t *a = f + ETH_LEN;
    test_put_be16(a, 1);
    test_put_be16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    test_put_be16(a + 6, 1);
    memcpy(a + 8, src_mac, 6);
    test_put_be32(a + 14, SOURCE_IP);
    test_put_be32(a + 24, DEST_IP);
    return ETH_LEN + 28;
}

/*
 * An IPv4 packet of protocol proto with option_words words of IP options,
 * l4_len bytes of L4 header and payload_len bytes that count up after it.
 */
static size_t make_ipv4(uint8_t *f, uint8_t proto, unsigned option_words, size_t l4_len,
                        size_t payload_len)
{
    put_ethernet(f, 0x0800);
    uint8_t *ip = f + ETH_LEN;
    size_t header_len = 20 + 4 * option_words;
    size_t total = header_len + l4_len + payload_len;
    ip[0] = (uint8_t)(0x40 | (5 + option_words));
    test_put_be16(ip + 2, (uint16_t)total);
    test_put_be16(ip + 4, 0x4321);
    ip[8] = 64;
    ip[9] = proto;
    test_put_be32(ip + 12, SOURCE_IP);
    test_put_be32(ip + 16, DEST_IP);
    memset(ip + 20, 0x01, 4 * option_words); /* NOPs */
    for (size_t i = 0; i < payload_len; i++)
        ip[header_len + l4_len + i] = (uint8_t)(i + 1);
    return ETH_LEN + total;
}

/* A TCP segment with flags, tcp_option_words words of TCP options and payload_len bytes. */
static size_t make_tcp(uint8_t *f, unsigned ip_option_words, unsigned tcp_option_words,
                       uint8_t flags, size_t payload_len)
{
    size_t tcp_len = 20 + 4 * tcp_option_words;
    size_t len = make_ipv4(f, PROTO_TCP, ip_option_words, tcp_len, payload_len);
    uint8_t *tcp = f + ETH_LEN + 20 + 4 * ip_option_words;
    test_put_be16(tcp, 40000);
    test_put_be16(tcp + 2, 80);
    test_put_be32(tcp + 4, 0x01020304);
    tcp[12] = (uint8_t)((5 + tcp_option_words) << 4);
    tcp[13] = flags;
    test_put_be16(tcp + 14, 65535);
    return len;
}

static size_t make_udp(uint8_t *f, size_t payload_len)
{
    size_t len = make_ipv4(f, PROTO_UDP, 0, 8, payload_len);
    uint8_t *udp = f + ETH_LEN + 20;
    test_put_be16(udp, 5353);
    test_put_be16(udp + 2, 53);
    test_put_be16(udp + 4, (uint16_t)(8 + payload_len));
    return len;
}

static size_t make_icmp_echo(uint8_t *f, size_t payload_len)
{
    size_t len = make_ipv4(f, PROTO_ICMP, 0, 8, payload_len);
    uint8_t *icmp = f + ETH_LEN + 20;
    icmp[0] = 8;
    test_put_be16(icmp + 4, 0x77);
    test_put_be16(icmp + 6, 3);
    return len;
}

static void set_fragment(uint8_t *f, bool more_fragments, size_t offset_bytes)
{
    test_put_be16(f + ETH_LEN + 6, (uint16_t)((more_fragments ? 0x2000 : 0) | offset_bytes / 8));
}

static void test_arp_request(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    size_t len = make_arp(f);
    struct frame_view v;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_int_equal(v.ethertype, ETHERTYPE_ARP);
    assert_memory_equal(v.eth.ether_dhost, dst_mac, 6);
    assert_memory_equal(v.eth.ether_shost, src_mac, 6);
    assert_ptr_equal(v.l3, f + ETH_LEN);
    assert_int_equal(ntohs(v.arp.arp_op), ARPOP_REQUEST);
    assert_memory_equal(v.arp.arp_sha, src_mac, 6);
    assert_int_equal(v.arp_sender_ipv4, SOURCE_IP);
    assert_int_equal(v.arp_target_ipv4, DEST_IP);
    /* Padded to the Ethernet minimum, it reads the same. */
    assert_int_equal(frame_view_parse(f, MIN_FRAME_LEN, &v), 0);
    assert_int_equal(v.arp_target_ipv4, DEST_IP);
}

static void test_arp_other_than_ethernet_ipv4_refused(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    struct frame_view v;
    size_t len = make_arp(f);
    test_put_be16(f + ETH_LEN, 6); /* IEEE 802 hardware */
    assert_int_equal(frame_view_parse(f, len, &v), -1);
    make_arp(f);
    test_put_be16(f + ETH_LEN + 2, 0x86dd);
    assert_int_equal(frame_view_parse(f, len, &v), -1);
    make_arp(f);
    f[ETH_LEN + 4] = 8;
    assert_int_equal(frame_view_parse(f, len, &v), -1);
    make_arp(f);
    f[ETH_LEN + 5] = 16;
    assert_int_equal(frame_view_parse(f, len, &v), -1);
}

static void test_tcp_over_ipv4(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    size_t len = make_tcp(f, 0, 3, TH_SYN | TH_ACK, 10);
    struct frame_view v;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_int_equal(v.ethertype, ETHERTYPE_IP);
    assert_int_equal(v.ip.protocol, IPPROTO_TCP);
    assert_int_equal(v.ip_header_len, 20);
    assert_int_equal(v.ip_total_len, 20 + 32 + 10);
    assert_int_equal(ntohl(v.ip.saddr), SOURCE_IP);
    assert_int_equal(ntohl(v.ip.daddr), DEST_IP);
    assert_int_equal(ntohs(v.ip.id), 0x4321);
    assert_int_equal(v.fragment_offset, 0);
    assert_false(v.more_fragments);
    assert_ptr_equal(v.ip_payload, f + ETH_LEN + 20);
    assert_int_equal(v.ip_payload_len, 32 + 10);
    assert_ptr_equal(v.l4, f + ETH_LEN + 20);
    assert_int_equal(v.l4_header_len, 32);
    assert_int_equal(ntohs(v.tcp.th_sport), 40000);
    assert_int_equal(ntohs(v.tcp.th_dport), 80);
    assert_int_equal(ntohl(v.tcp.th_seq), 0x01020304);
    assert_int_equal(v.tcp.th_flags, TH_SYN | TH_ACK);
    assert_ptr_equal(v.payload, f + ETH_LEN + 20 + 32);
    assert_int_equal(v.payload_len, 10);
    assert_int_equal(v.payload[9], 10);
}

static void test_udp_over_ipv4(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    size_t len = make_udp(f, 100);
    struct frame_view v;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_int_equal(v.ip.protocol, IPPROTO_UDP);
    assert_ptr_equal(v.l4, f + ETH_LEN + 20);
    assert_int_equal(v.l4_header_len, 8);
    assert_int_equal(ntohs(v.udp.uh_sport), 5353);
    assert_int_equal(ntohs(v.udp.uh_dport), 53);
    assert_int_equal(ntohs(v.udp.uh_ulen), 108);
    assert_int_equal(v.payload_len, 100);
    assert_int_equal(v.payload[0], 1);
}

static void test_icmp_over_ipv4(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    size_t len = make_icmp_echo(f, 32);
    struct frame_view v;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_int_equal(v.ip.protocol, IPPROTO_ICMP);
    assert_int_equal(v.l4_header_len, 8);
    assert_int_equal(v.icmp.type, ICMP_ECHO);
    assert_int_equal(ntohs(v.icmp.un.echo.id), 0x77);
    assert_int_equal(ntohs(v.icmp.un.echo.sequence), 3);
    assert_int_equal(v.payload_len, 32);
}

/* Headers are copied out, so a frame at an odd address reads the same. */
static void test_unaligned_frame(void **state)
{
    (void)state;
    uint8_t buffer[FRAME_ROOM + 1];
    uint8_t f[FRAME_ROOM];
    size_t len = make_tcp(f, 1, 0, TH_ACK, 3);
    memcpy(buffer + 1, f, len);
    struct frame_view v;
    assert_int_equal(frame_view_parse(buffer + 1, len, &v), 0);
    assert_int_equal(v.ip_header_len, 24);
    assert_int_equal(v.tcp.th_flags, TH_ACK);
    assert_ptr_equal(v.payload, buffer + 1 + ETH_LEN + 24 + 20);
}

static void test_ipv4_options(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    size_t len = make_tcp(f, 3, 0, TH_ACK, 0);
    struct frame_view v;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_int_equal(v.ip.ihl, 8);
    assert_int_equal(v.ip_header_len, 32);
    assert_ptr_equal(v.l4, f + ETH_LEN + 32);
    assert_int_equal(v.tcp.th_flags, TH_ACK);
    assert_int_equal(ntohs(v.tcp.th_dport), 80);
    assert_int_equal(v.payload_len, 0);
    /* The longest header IHL can give. */
    len = make_ipv4(f, PROTO_UDP, 10, 8, 0);
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_int_equal(v.ip_header_len, 60);
    assert_ptr_equal(v.l4, f + ETH_LEN + 60);
}

/* Whatever a frame carries, a frame cut anywhere short of its end is refused. */
static void refused_when_cut(const uint8_t *f, size_t len)
{
    struct frame_view v;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    for (size_t cut = 0; cut < len; cut++) {
        if (frame_view_parse(f, cut, &v) != -1)
            fail_msg("a %zu-byte frame cut to %zu bytes was taken", len, cut);
    }
}

static void test_truncated_at_every_header_boundary(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    refused_when_cut(f, make_arp(f));
    refused_when_cut(f, make_tcp(f, 2, 2, TH_SYN, 0));
    refused_when_cut(f, make_udp(f, 0));
    refused_when_cut(f, make_icmp_echo(f, 0));
    refused_when_cut(f, make_ipv4(f, 47, 0, 0, 0)); /* GRE, and no more than its IP header */
}

/* A packet whose length covers less than its L4 header: the IP view stands, without one. */
static void test_l4_header_cut_short(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    struct frame_view v;
    static const struct {
        uint8_t proto;
        size_t l4_len;
    } short_ones[] = {{PROTO_TCP, 19}, {PROTO_UDP, 7}, {PROTO_ICMP, 7}, {PROTO_TCP, 0}};
    for (size_t i = 0; i < sizeof(short_ones) / sizeof(short_ones[0]); i++) {
        size_t len = make_ipv4(f, short_ones[i].proto, 0, short_ones[i].l4_len, 0);
        assert_int_equal(frame_view_parse(f, MIN_FRAME_LEN, &v), 0);
        assert_int_equal(v.ip_total_len, len - ETH_LEN);
        assert_null(v.l4);
        assert_int_equal(v.l4_header_len, 0);
        assert_ptr_equal(v.payload, v.ip_payload);
        assert_int_equal(v.payload_len, short_ones[i].l4_len);
    }
    /* TCP data offsets below the fixed header, or past the packet. */
    size_t len = make_tcp(f, 0, 0, TH_ACK, 4);
    f[ETH_LEN + 20 + 12] = 4 << 4;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_null(v.l4);
    f[ETH_LEN + 20 + 12] = 7 << 4;
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_null(v.l4);
    f[ETH_LEN + 20 + 12] = 6 << 4; /* the payload taken as options: still within the packet */
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_int_equal(v.l4_header_len, 24);
    assert_int_equal(v.payload_len, 0);
}

static void test_bad_ipv4_headers_refused(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    struct frame_view v;
    size_t len = make_udp(f, 40);
    for (uint8_t ihl = 0; ihl < 5; ihl++) {
        f[ETH_LEN] = (uint8_t)(0x40 | ihl);
        assert_int_equal(frame_view_parse(f, len, &v), -1);
    }
    /* An IHL that runs past the total length, though not past the frame. */
    f[ETH_LEN] = 0x4f;
    test_put_be16(f + ETH_LEN + 2, 56);
    assert_int_equal(frame_view_parse(f, len, &v), -1);
    make_udp(f, 40);
    f[ETH_LEN] = 0x65; /* version 6 */
    assert_int_equal(frame_view_parse(f, len, &v), -1);
    make_udp(f, 40);
    test_put_be16(f + ETH_LEN + 2, 19); /* shorter than the header */
    assert_int_equal(frame_view_parse(f, len, &v), -1);
}

static void test_total_length_longer_than_frame_refused(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    struct frame_view v;
    size_t len = make_udp(f, 40);
    test_put_be16(f + ETH_LEN + 2, (uint16_t)(len - ETH_LEN + 1));
    assert_int_equal(frame_view_parse(f, len, &v), -1);
    test_put_be16(f + ETH_LEN + 2, 0xffff);
    assert_int_equal(frame_view_parse(f, FRAME_ROOM, &v), -1);
}

/* Ethernet pads a short packet to 60 bytes; the padding is neither payload nor header. */
static void test_ethernet_padding_is_not_payload(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    struct frame_view v;
    size_t len = make_tcp(f, 0, 0, TH_ACK, 0);
    memset(f + len, 0xee, MIN_FRAME_LEN - len);
    assert_int_equal(frame_view_parse(f, MIN_FRAME_LEN, &v), 0);
    assert_int_equal(v.ip_total_len, 40);
    assert_int_equal(v.ip_payload_len, 20);
    assert_int_equal(v.payload_len, 0);
    len = make_icmp_echo(f, 0);
    assert_int_equal(frame_view_parse(f, MIN_FRAME_LEN, &v), 0);
    assert_int_equal(v.ip_total_len, 28);
    assert_int_equal(v.l4_header_len, 8);
    assert_int_equal(v.payload_len, 0);
}

static void test_fragments(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    struct frame_view v;
    /* The first fragment starts with the header. */
    size_t len = make_udp(f, 64);
    set_fragment(f, true, 0);
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_true(v.more_fragments);
    assert_int_equal(v.fragment_offset, 0);
    assert_ptr_equal(v.l4, f + ETH_LEN + 20);
    assert_int_equal(v.payload_len, 64);
    /* Later ones start mid-payload, the last without MF. */
    set_fragment(f, true, 1480);
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_true(v.more_fragments);
    assert_int_equal(v.fragment_offset, 1480);
    assert_null(v.l4);
    assert_ptr_equal(v.payload, f + ETH_LEN + 20);
    assert_int_equal(v.payload_len, 8 + 64);
    set_fragment(f, false, 0x1fff * 8);
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_false(v.more_fragments);
    assert_int_equal(v.fragment_offset, 0x1fff * 8);
    assert_null(v.l4);
    /* DF is no fragment. */
    len = make_tcp(f, 0, 0, TH_SYN, 0);
    test_put_be16(f + ETH_LEN + 6, 0x4000);
    assert_int_equal(frame_view_parse(f, len, &v), 0);
    assert_false(v.more_fragments);
    assert_int_equal(v.fragment_offset, 0);
    assert_non_null(v.l4);
}

static void test_other_ethertypes_refused(void **state)
{
    (void)state;
    uint8_t f[FRAME_ROOM];
    struct frame_view v;
    size_t len = make_udp(f, 40);
    static const uint16_t others[] = {0x86dd /* IPv6 */, 0x8100 /* VLAN */, 0x88a8 /* QinQ */,
                                      0x88b5 /* local experimental */, 0x0600 /* IEEE 802.3 */};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        test_put_be16(f + 12, others[i]);
        assert_int_equal(frame_view_parse(f, len, &v), -1);
    }
    /* A VLAN tag in front of IPv4 hides it. */
    memmove(f + 16, f + 12, len - 12);
    test_put_be16(f + 12, 0x8100);
    test_put_be16(f + 14, 42);
    assert_int_equal(frame_view_parse(f, len + 4, &v), -1);
}

static void test_built_arp_frame(void **state)
{
    (void)state;
    const struct frame_arp_party sender = {{0x02, 0xde, 0x00, 0x00, 0x00, 0x03}, 0x0a4d0013u};
    const struct frame_arp_party target = {{0x02, 0xde, 0x00, 0x00, 0x00, 0x01}, 0x0a4d0011u};
    uint8_t f[FRAME_ARP_LEN + 1];
    f[FRAME_ARP_LEN] = 0x5a;
    frame_build_arp(f, ARPOP_REPLY, target.mac, &sender, &target);
    static const uint8_t want[FRAME_ARP_LEN] = {
        0x02, 0xde, 0x00, 0x00, 0x00, 0x01, 0x02, 0xde, 0x00, 0x00, 0x00, 0x03, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0xde, 0x00, 0x00, 0x00, 0x03,
        0x0a, 0x4d, 0x00, 0x13, 0x02, 0xde, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x11};
    assert_memory_equal(f, want, FRAME_ARP_LEN);
    assert_int_equal(f[FRAME_ARP_LEN], 0x5a); /* nothing written beyond */
    struct frame_view v;
    assert_int_equal(frame_view_parse(f, FRAME_ARP_LEN, &v), 0);
    assert_int_equal(ntohs(v.arp.arp_op), ARPOP_REPLY);
    assert_int_equal(v.arp_sender_ipv4, sender.ipv4);
    assert_int_equal(v.arp_target_ipv4, target.ipv4);
}

static void test_mac_numbers(void **state)
{
    (void)state;
    static const uint8_t mac[6] = {0x02, 0xde, 0x00, 0x12, 0x34, 0x56};
    assert_int_equal(frame_mac_to_u64(mac), 0x02de00123456ull);
    uint8_t back[6];
    frame_mac_from_u64(0x02de00123456ull, back);
    assert_memory_equal(back, mac, 6);
    /* Only the low 48 bits are a MAC. */
    frame_mac_from_u64(0xffff525500000001ull, back);
    static const uint8_t low[6] = {0x52, 0x55, 0x00, 0x00, 0x00, 0x01};
    assert_memory_equal(back, low, 6);
    static const uint8_t all[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(frame_mac_to_u64(all), 0xffffffffffffull);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arp_request),
        cmocka_unit_test(test_arp_other_than_ethernet_ipv4_refused),
        cmocka_unit_test(test_tcp_over_ipv4),
        cmocka_unit_test(test_udp_over_ipv4),
        cmocka_unit_test(test_icmp_over_ipv4),
        cmocka_unit_test(test_unaligned_frame),
        cmocka_unit_test(test_ipv4_options),
        cmocka_unit_test(test_truncated_at_every_header_boundary),
        cmocka_unit_test(test_l4_header_cut_short),
        cmocka_unit_test(test_bad_ipv4_headers_refused),
        cmocka_unit_test(test_total_length_longer_than_frame_refused),
        cmocka_unit_test(test_ethernet_padding_is_not_payload),
        cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_other_ethertypes_refused),
        cmocka_unit_test(test_built_arp_frame),
        cmocka_unit_test(test_mac_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
