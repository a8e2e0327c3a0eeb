/* IPv4 fragmentation of Ethernet frames, for host frames longer than a VM's receive MTU. */
#include "ipv4_fragment.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "denali/abi.h"
#include "net/frame_view.h"

/* The IPv4 fragment offset counts 8-byte units, in 13 bits. */
#define FRAGMENT_UNIT 8u
#define FRAGMENT_END  (((size_t)IP_OFFMASK + 1u) * FRAGMENT_UNIT)

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint16_t header_checksum(const uint8_t *ip, size_t header_len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < header_len; i += 2)
        sum += get16(ip + i);
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

size_t ipv4_fragment(const uint8_t *frame, size_t len, size_t max_frame, ipv4_fragment_emit_fn emit,
                     void *ctx)
{
    struct frame_view view;
    if (frame_view_parse(frame, len, &view) != 0 || view.ethertype != ETHERTYPE_IP)
        return 0;
    size_t eth_len = sizeof(view.eth);
    size_t header_len = view.ip_header_len;
    if (max_frame > DENALI_NET_TX_FRAME_MAX || max_frame < eth_len + header_len + FRAGMENT_UNIT)
        return 0;
    size_t chunk_max = (max_frame - eth_len - header_len) & ~(size_t)(FRAGMENT_UNIT - 1u);
    size_t payload = view.ip_payload_len;
    if (view.fragment_offset + payload > FRAGMENT_END)
        return 0;
    uint8_t out[DENALI_NET_TX_FRAME_MAX];
    size_t emitted = 0;
    for (size_t done = 0; done < payload; done += chunk_max) {
        size_t chunk = payload - done < chunk_max ? payload - done : chunk_max;
        bool last = done + chunk == payload;
        /* The Ethernet header and the IP options go out unchanged. */
        memcpy(out, frame, eth_len + header_len);
        memcpy(out + eth_len + header_len, view.ip_payload + done, chunk);
        struct iphdr piece = view.ip;
        piece.tot_len = htons((uint16_t)(header_len + chunk));
        uint16_t flags = last && !view.more_fragments ? 0 : IP_MF;
        piece.frag_off = htons((uint16_t)(flags | (view.fragment_offset + done) / FRAGMENT_UNIT));
        piece.check = 0;
        memcpy(out + eth_len, &piece, sizeof(piece));
        uint16_t checksum = htons(header_checksum(out + eth_len, header_len));
        memcpy(out + eth_len + offsetof(struct iphdr, check), &checksum, sizeof(checksum));
        emit(ctx, out, eth_len + header_len + chunk);
        emitted++;
    }
    return emitted;
}
