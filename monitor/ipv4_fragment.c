/* IPv4 fragmentation of Ethernet frames, for host frames longer than a VM's receive MTU. */
#include "ipv4_fragment.h"

#include <stdbool.h>
#include <string.h>

#include "denali/abi.h"

#define ETH_HEADER     14u
#define ETH_TYPE_IPV4  0x0800u
#define IP_MIN_HEADER  20u
#define IP_FLAG_MF     0x2000u
#define IP_OFFSET_MASK 0x1fffu

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
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
    if (len < ETH_HEADER + IP_MIN_HEADER || get16(frame + 12) != ETH_TYPE_IPV4)
        return 0;
    const uint8_t *ip = frame + ETH_HEADER;
    size_t header_len = (size_t)(ip[0] & 0x0fu) * 4u;
    size_t total = get16(ip + 2);
    /* The IP length, not the frame's, bounds the packet: Ethernet may pad. */
    if ((ip[0] >> 4) != 4 || header_len < IP_MIN_HEADER || total < header_len ||
        ETH_HEADER + total > len || max_frame > DENALI_NET_TX_FRAME_MAX ||
        max_frame < ETH_HEADER + header_len + 8u)
        return 0;
    size_t chunk_max = (max_frame - ETH_HEADER - header_len) & ~(size_t)7u;
    uint16_t field = get16(ip + 6);
    size_t first_offset = (size_t)(field & IP_OFFSET_MASK) * 8u;
    size_t payload = total - header_len;
    /* The offset field counts 8-byte units in 13 bits. */
    if (first_offset + payload > (size_t)IP_OFFSET_MASK * 8u + 8u)
        return 0;
    uint8_t out[DENALI_NET_TX_FRAME_MAX];
    size_t emitted = 0;
    for (size_t done = 0; done < payload; done += chunk_max) {
        size_t chunk = payload - done < chunk_max ? payload - done : chunk_max;
        bool last = done + chunk == payload;
        memcpy(out, frame, ETH_HEADER + header_len);
        memcpy(out + ETH_HEADER + header_len, ip + header_len + done, chunk);
        uint8_t *oip = out + ETH_HEADER;
        put16(oip + 2, (uint16_t)(header_len + chunk));
        uint16_t flags = (uint16_t)(field & IP_FLAG_MF);
        if (!last)
            flags = IP_FLAG_MF;
        put16(oip + 6, (uint16_t)(flags | ((first_offset + done) / 8u)));
        put16(oip + 10, 0);
        put16(oip + 10, header_checksum(oip, header_len));
        emit(ctx, out, ETH_HEADER + header_len + chunk);
        emitted++;
    }
    return emitted;
}
