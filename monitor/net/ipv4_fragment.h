/* IPv4 fragmentation of Ethernet frames, for host frames longer than a VM's receive MTU. */
#ifndef DENALI_IPV4_FRAGMENT_H
#define DENALI_IPV4_FRAGMENT_H

#include <stddef.h>
#include <stdint.h>

typedef void (*ipv4_fragment_emit_fn)(void *ctx, const uint8_t *frame, size_t len);

/*
 * Splits frame (Ethernet II carrying IPv4) into frames of at most max_frame
 * bytes, as a router onto a smaller MTU would, calling emit for each in
 * order. Fragments of a fragment keep its offset and MF; DF is cleared,
 * since the frame is split all the same. Returns the number of frames
 * emitted, or 0 (none emitted) when frame is not well-formed IPv4 or
 * max_frame leaves no room for 8 bytes of payload.
 */
size_t ipv4_fragment(const uint8_t *frame, size_t len, size_t max_frame, ipv4_fragment_emit_fn emit,
                     void *ctx);

#endif
