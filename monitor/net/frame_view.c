/* Ethernet frames through glibc's headers: a bounds-checked view, the ARP builder, MAC numbers. */
#include "net/frame_view.h"

#include <arpa/inet.h>
#include <string.h>

/* The IPv4 header length and the TCP data offset count 32-bit words. */
#define HEADER_WORD   4u
#define FRAGMENT_UNIT 8u
#define IPV4_ADDR_LEN 4u
#define MAC_BITS      48u

_Static_assert(sizeof(struct ether_header) == 14, "glibc packs the Ethernet header");
_Static_assert(FRAME_ARP_LEN == 42, "an Ethernet/IPv4 ARP frame");

static uint32_t read_be32(const uint8_t *p)
{
    uint32_t value;
    memcpy(&value, p, sizeof(value));
    return ntohl(value);
}

static void write_be32(uint8_t *p, uint32_t value)
{
    uint32_t wire = htonl(value);
    memcpy(p, &wire, sizeof(wire));
}

/* Copies a header of size bytes if room holds all of it. */
static bool copy_header(void *header, size_t size, const uint8_t *from, size_t room)
{
    if (room < size)
        return false;
    memcpy(header, from, size);
    return true;
}

/* struct ether_arp lays out Ethernet and IPv4 addresses only. */
static int parse_arp(struct frame_view *view, size_t room)
{
    struct ether_arp *arp = &view->arp;
    if (!copy_header(arp, sizeof(*arp), view->l3, room))
        return -1;
    if (ntohs(arp->arp_hrd) != ARPHRD_ETHER || ntohs(arp->arp_pro) != ETHERTYPE_IP ||
        arp->arp_hln != ETH_ALEN || arp->arp_pln != IPV4_ADDR_LEN)
        return -1;
    view->arp_sender_ipv4 = read_be32(arp->arp_spa);
    view->arp_target_ipv4 = read_be32(arp->arp_tpa);
    return 0;
}

/* The length of the L4 header at the start of the IP payload, or 0 if there is no whole one. */
static size_t parse_l4_header(struct frame_view *view)
{
    const uint8_t *from = view->ip_payload;
    size_t room = view->ip_payload_len;
    switch (view->ip.protocol) {
    case IPPROTO_TCP: {
        if (!copy_header(&view->tcp, sizeof(view->tcp), from, room))
            return 0;
        size_t header_len = (size_t)view->tcp.th_off * HEADER_WORD;
        return header_len >= sizeof(view->tcp) && header_len <= room ? header_len : 0;
    }
    case IPPROTO_UDP:
        return copy_header(&view->udp, sizeof(view->udp), from, room) ? sizeof(view->udp) : 0;
    case IPPROTO_ICMP:
        return copy_header(&view->icmp, sizeof(view->icmp), from, room) ? sizeof(view->icmp) : 0;
    default:
        return 0;
    }
}

static int parse_ipv4(struct frame_view *view, size_t room)
{
    struct iphdr *ip = &view->ip;
    if (!copy_header(ip, sizeof(*ip), view->l3, room))
        return -1;
    size_t header_len = (size_t)ip->ihl * HEADER_WORD;
    size_t total_len = ntohs(ip->tot_len);
    /* The total length, not the frame's, bounds the packet: Ethernet pads short frames. */
    if (ip->version != IPVERSION || header_len < sizeof(*ip) || total_len < header_len ||
        total_len > room)
        return -1;
    uint16_t fragment = ntohs(ip->frag_off);
    view->ip_header_len = header_len;
    view->ip_total_len = total_len;
    view->fragment_offset = (size_t)(fragment & IP_OFFMASK) * FRAGMENT_UNIT;
    view->more_fragments = (fragment & IP_MF) != 0;
    view->ip_payload = view->l3 + header_len;
    view->ip_payload_len = total_len - header_len;
    view->payload = view->ip_payload;
    view->payload_len = view->ip_payload_len;
    /* A later fragment starts mid-payload: whatever its first bytes are, they are no header. */
    size_t l4_header_len = view->fragment_offset == 0 ? parse_l4_header(view) : 0;
    if (l4_header_len > 0) {
        view->l4 = view->ip_payload;
        view->l4_header_len = l4_header_len;
        view->payload = view->l4 + l4_header_len;
        view->payload_len = view->ip_payload_len - l4_header_len;
    }
    return 0;
}

int frame_view_parse(const uint8_t *frame, size_t len, struct frame_view *view)
{
    memset(view, 0, sizeof(*view));
    if (!copy_header(&view->eth, sizeof(view->eth), frame, len))
        return -1;
    view->ethertype = ntohs(view->eth.ether_type);
    view->l3 = frame + sizeof(view->eth);
    size_t room = len - sizeof(view->eth);
    switch (view->ethertype) {
    case ETHERTYPE_ARP:
        return parse_arp(view, room);
    case ETHERTYPE_IP:
        return parse_ipv4(view, room);
    default:
        return -1;
    }
}

void frame_build_arp(uint8_t *frame, uint16_t op, const uint8_t eth_dst[ETH_ALEN],
                     const struct frame_arp_party *sender, const struct frame_arp_party *target)
{
    struct ether_header eth;
    memcpy(eth.ether_dhost, eth_dst, ETH_ALEN);
    memcpy(eth.ether_shost, sender->mac, ETH_ALEN);
    eth.ether_type = htons(ETHERTYPE_ARP);
    struct ether_arp arp;
    arp.arp_hrd = htons(ARPHRD_ETHER);
    arp.arp_pro = htons(ETHERTYPE_IP);
    arp.arp_hln = ETH_ALEN;
    arp.arp_pln = IPV4_ADDR_LEN;
    arp.arp_op = htons(op);
    memcpy(arp.arp_sha, sender->mac, ETH_ALEN);
    write_be32(arp.arp_spa, sender->ipv4);
    memcpy(arp.arp_tha, target->mac, ETH_ALEN);
    write_be32(arp.arp_tpa, target->ipv4);
    memcpy(frame, &eth, sizeof(eth));
    memcpy(frame + sizeof(eth), &arp, sizeof(arp));
}

uint64_t frame_mac_to_u64(const uint8_t mac[ETH_ALEN])
{
    uint64_t value = 0;
    for (size_t i = 0; i < ETH_ALEN; i++)
        value = value << 8 | mac[i];
    return value;
}

void frame_mac_from_u64(uint64_t value, uint8_t mac[ETH_ALEN])
{
    for (size_t i = 0; i < ETH_ALEN; i++)
        mac[i] = (uint8_t)(value >> (MAC_BITS - 8u * (i + 1)));
}
