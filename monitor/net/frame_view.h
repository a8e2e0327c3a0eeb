/* Ethernet frames through glibc's headers: a bounds-checked view, the ARP builder, MAC numbers. */
#ifndef DENALI_FRAME_VIEW_H
#define DENALI_FRAME_VIEW_H

#include <net/ethernet.h>
#include <netinet/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An Ethernet/IPv4 ARP frame without padding: 42 bytes. */
#define FRAME_ARP_LEN (sizeof(struct ether_header) + sizeof(struct ether_arp))

/*
 * Headers are copies, in glibc's structures with their fields in network
 * byte order: a frame may sit at any alignment, and its IPv4 header 14 bytes
 * on, where those structures may not be read in place. Pointers point into
 * the frame.
 */
struct frame_view {
    struct ether_header eth;
    uint16_t ethertype; /* host byte order: ETHERTYPE_ARP or ETHERTYPE_IP */
    const uint8_t *l3;  /* the ARP body or the IPv4 header */

    /* ETHERTYPE_ARP: always Ethernet hardware and IPv4 protocol addresses. */
    struct ether_arp arp;
    uint32_t arp_sender_ipv4; /* host byte order */
    uint32_t arp_target_ipv4;

    /* ETHERTYPE_IP */
    struct iphdr ip;        /* the fixed part; options follow it at l3 */
    size_t ip_header_len;   /* options included */
    size_t ip_total_len;    /* header and payload; any Ethernet padding after them is not counted */
    size_t fragment_offset; /* in bytes */
    bool more_fragments;
    const uint8_t *ip_payload; /* ip_total_len - ip_header_len bytes */
    size_t ip_payload_len;

    /*
     * The TCP, UDP or ICMP header that ip.protocol names, or l4 NULL if the
     * packet does not start with a whole one: another protocol, a fragment
     * other than the first, or a header cut short (a TCP data offset below 5
     * words or beyond the packet).
     */
    const uint8_t *l4;
    size_t l4_header_len; /* TCP options included */
    union {
        struct tcphdr tcp;
        struct udphdr udp;
        struct icmphdr icmp;
    };
    /* What follows the L4 header, or the whole IP payload when l4 is NULL. */
    const uint8_t *payload;
    size_t payload_len;
};

/*
 * Fills view from the len bytes at frame without reading beyond them.
 * Returns 0 for Ethernet II carrying a whole Ethernet/IPv4 ARP body, or an
 * IPv4 header (version 4, at least 5 words) whose total length covers it and
 * fits the frame; -1 for anything else, VLAN tags and IPv6 included, after
 * which the view holds nothing to rely on.
 */
int frame_view_parse(const uint8_t *frame, size_t len, struct frame_view *view);

/* One side of an ARP exchange. */
struct frame_arp_party {
    uint8_t mac[ETH_ALEN];
    uint32_t ipv4; /* host byte order */
};

/*
 * Writes FRAME_ARP_LEN bytes of an ARP message op (ARPOP_REQUEST or
 * ARPOP_REPLY) from sender about target, sent to eth_dst from the sender's
 * MAC.
 */
void frame_build_arp(uint8_t *frame, uint16_t op, const uint8_t eth_dst[ETH_ALEN],
                     const struct frame_arp_party *sender, const struct frame_arp_party *target);

/*
 * A MAC as a 48-bit number, its first byte the most significant, and back:
 * one word to store atomically, or to split into a prefix and a suffix.
 */
uint64_t frame_mac_to_u64(const uint8_t mac[ETH_ALEN]);
void frame_mac_from_u64(uint64_t value, uint8_t mac[ETH_ALEN]);

#endif
