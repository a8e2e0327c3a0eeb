/* One VM's virtual NIC: the rx/tx rings in its memory, checked on every access, and their counters.
 */
#include "net/net_port.h"

#include <net/ethernet.h>
#include <stdlib.h>
#include <string.h>

#include "image/guest_layout.h"

void net_port_init(struct net_port *port, const uint8_t mac[6], uint32_t ipv4)
{
    memset(port, 0, sizeof(*port));
    pthread_mutex_init(&port->lock, NULL);
    memcpy(port->mac, mac, 6);
    port->ipv4 = ipv4;
    memset(port->rx_free, 0xff, sizeof(port->rx_free));
}

enum net_attach_result net_port_attach(struct net_port *port, const struct guest_memory *mem,
                                       uint64_t gpa, uint64_t size)
{
    /* Memory safety first, as for every hypercall: a buffer the guest cannot write stops it. */
    if (!guest_range_ok(mem, gpa, size, true))
        return NET_ATTACH_FAULT;
    if (size != DENALI_NET_AREA_SIZE || gpa % DENALI_PAGE_SIZE != 0)
        return NET_ATTACH_EINVAL;
    /* The monitor writes it from now on: it must be in memory (and is never paged again). */
    if (guest_make_resident(mem, gpa, size) < 0)
        return NET_ATTACH_FAULT;
    pthread_mutex_lock(&port->lock);
    bool already = port->area != NULL;
    if (!already) {
        port->area = (struct denali_net_area *)(mem->ram + gpa);
        /* Start from whatever the guest's counters say; only the guest's own side is trusted. */
        port->rx_produced = __atomic_load_n(&port->area->rx_consumed, __ATOMIC_ACQUIRE);
        port->rx_reclaimed = port->rx_produced;
        memset(port->rx_free, 0xff, sizeof(port->rx_free));
        port->tx_consumed = __atomic_load_n(&port->area->tx_produced, __ATOMIC_ACQUIRE);
        __atomic_store_n(&port->area->rx_produced, port->rx_produced, __ATOMIC_RELEASE);
        __atomic_store_n(&port->area->tx_consumed, port->tx_consumed, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&port->lock);
    return already ? NET_ATTACH_EINVAL : NET_ATTACH_OK;
}

void net_port_detach(struct net_port *port)
{
    pthread_mutex_lock(&port->lock);
    port->area = NULL;
    pthread_mutex_unlock(&port->lock);
}

/*
 * Called with the lock held: frees the slots of the frames the guest has
 * consumed since the last call, and returns how many frames the ring holds.
 * A garbage rx_consumed (behind what it already passed, or past what was
 * produced) frees nothing and makes the ring look full: the guest loses
 * only its own frames.
 */
static uint32_t rx_reclaim(struct net_port *port, const struct denali_net_area *area)
{
    uint32_t consumed = __atomic_load_n(&area->rx_consumed, __ATOMIC_ACQUIRE);
    if (consumed - port->rx_reclaimed > port->rx_produced - port->rx_reclaimed)
        return DENALI_NET_RX_SLOTS;
    for (; port->rx_reclaimed != consumed; port->rx_reclaimed++) {
        unsigned slot = port->rx_slot_of[port->rx_reclaimed % DENALI_NET_RX_SLOTS];
        port->rx_free[slot / 64] |= 1ull << (slot % 64);
    }
    return port->rx_produced - port->rx_reclaimed;
}

/*
 * Called with the lock held when a slot is free (fewer than DENALI_NET_RX_SLOTS frames are
 * held): the lowest, so a quiet VM's ring stays small.
 */
static unsigned take_free_slot(struct net_port *port)
{
    unsigned word = 0;
    while (word + 1 < DENALI_NET_RX_SLOTS / 64 && port->rx_free[word] == 0)
        word++;
    /* The modulo keeps even a broken invariant inside the guest's own rx slots. */
    unsigned slot = (word * 64 + (unsigned)__builtin_ctzll(port->rx_free[word] | 1ull << 63)) %
                    DENALI_NET_RX_SLOTS;
    port->rx_free[word] &= ~(1ull << (slot % 64));
    return slot;
}

static unsigned slots_held_by(const struct net_port *port, uint32_t source)
{
    unsigned held = 0;
    for (uint32_t i = port->rx_reclaimed; i != port->rx_produced; i++)
        held += port->rx_source[i % DENALI_NET_RX_SLOTS] == source;
    return held;
}

/* Called with the lock held, after rx_reclaim said the ring has room. */
static void write_slot(struct net_port *port, struct denali_net_area *area, uint32_t source,
                       const uint8_t *frame, size_t len)
{
    uint32_t entry = port->rx_produced % DENALI_NET_RX_SLOTS;
    unsigned slot = take_free_slot(port);
    port->rx_source[entry] = source;
    port->rx_slot_of[entry] = (uint8_t)slot;
    struct denali_net_slot *s = &area->rx[slot];
    memcpy(s->data, frame, len);
    s->len = (uint16_t)len;
    area->rx_slot[entry] = (uint8_t)slot;
    port->rx_produced++;
    __atomic_store_n(&area->rx_produced, port->rx_produced, __ATOMIC_RELEASE);
    atomic_store(&port->rx_backlog, port->rx_produced - port->rx_reclaimed);
}

/* Called with the lock held: keeps an uplink frame for later; false if there is no room. */
static bool keep_for_later(struct net_port *port, const uint8_t *frame, size_t len)
{
    if (!port->overflow) {
        port->overflow = malloc(NET_OVERFLOW_FRAMES * sizeof(*port->overflow));
        if (!port->overflow)
            return false;
    }
    if (port->overflow_count == NET_OVERFLOW_FRAMES)
        return false;
    struct net_overflow_frame *f =
        &port->overflow[(port->overflow_head + port->overflow_count) % NET_OVERFLOW_FRAMES];
    memcpy(f->data, frame, len);
    f->len = (uint16_t)len;
    port->overflow_count++;
    atomic_fetch_add(&port->overflowed, 1);
    return true;
}

bool net_port_refill(struct net_port *port)
{
    pthread_mutex_lock(&port->lock);
    struct denali_net_area *area = port->area;
    while (area && port->overflow_count) {
        if (rx_reclaim(port, area) >= DENALI_NET_RX_SLOTS)
            break;
        const struct net_overflow_frame *f = &port->overflow[port->overflow_head];
        write_slot(port, area, NET_SOURCE_UPLINK, f->data, f->len);
        port->overflow_head = (port->overflow_head + 1) % NET_OVERFLOW_FRAMES;
        port->overflow_count--;
    }
    bool waiting = area && port->overflow_count > 0;
    pthread_mutex_unlock(&port->lock);
    return waiting;
}

/* Page i of the rx ring holds rx slots 2i and 2i + 1. */
#define RX_SLOTS_PER_PAGE (DENALI_PAGE_SIZE / DENALI_NET_SLOT_SIZE)
#define RX_RING_PAGES     (DENALI_NET_RX_SLOTS / RX_SLOTS_PER_PAGE)
_Static_assert(DENALI_PAGE_SIZE % DENALI_NET_SLOT_SIZE == 0, "whole rx slots a page");

long net_port_trim(struct net_port *port, const uint8_t *ram,
                   int (*release)(void *ctx, uint64_t gpa, uint64_t len), void *ctx)
{
    pthread_mutex_lock(&port->lock);
    struct denali_net_area *area = port->area;
    if (!area) {
        pthread_mutex_unlock(&port->lock);
        return 0;
    }
    uint64_t rx_gpa = (uint64_t)((const uint8_t *)area->rx - ram);
    uint64_t tx_gpa = (uint64_t)((const uint8_t *)area->tx - ram);
    bool waiting[RX_RING_PAGES] = {false};
    if (rx_reclaim(port, area) < DENALI_NET_RX_SLOTS) {
        for (uint32_t e = port->rx_reclaimed; e != port->rx_produced; e++)
            waiting[port->rx_slot_of[e % DENALI_NET_RX_SLOTS] / RX_SLOTS_PER_PAGE] = true;
    } else {
        /* A garbage rx_consumed or a full ring: every page may hold a frame it wants. */
        memset(waiting, 1, sizeof(waiting));
    }
    long released = 0;
    int rc = 0;
    for (unsigned first = 0; first < RX_RING_PAGES && rc == 0;) {
        unsigned end = first;
        while (end < RX_RING_PAGES && !waiting[end])
            end++;
        if (end > first) {
            rc = release(ctx, rx_gpa + (uint64_t)first * DENALI_PAGE_SIZE,
                         (uint64_t)(end - first) * DENALI_PAGE_SIZE);
            released += end - first;
        }
        first = end + 1;
    }
    /* The guest's own counter: a frame it queued since its last exit keeps the ring. */
    if (rc == 0 && __atomic_load_n(&area->tx_produced, __ATOMIC_ACQUIRE) == port->tx_consumed) {
        rc = release(ctx, tx_gpa, sizeof(area->tx));
        released += sizeof(area->tx) / DENALI_PAGE_SIZE;
    }
    pthread_mutex_unlock(&port->lock);
    return rc < 0 ? -1 : released;
}

void net_port_free(struct net_port *port)
{
    free(port->overflow);
    port->overflow = NULL;
    pthread_mutex_destroy(&port->lock);
}

bool net_port_deliver(struct net_port *port, uint32_t source, const uint8_t *frame, size_t len)
{
    if (len > DENALI_NET_FRAME_MAX) {
        atomic_fetch_add(&port->dropped_oversize, 1);
        return false;
    }
    pthread_mutex_lock(&port->lock);
    struct denali_net_area *area = port->area;
    if (!area) {
        pthread_mutex_unlock(&port->lock);
        atomic_fetch_add(&port->dropped_rx_full, 1);
        return false;
    }
    uint32_t held = rx_reclaim(port, area);
    bool full = held >= DENALI_NET_RX_SLOTS;
    /* Uplink frames queue behind those already waiting, so the host's TCP sees them in order. */
    if (source == NET_SOURCE_UPLINK && (full || port->overflow_count)) {
        bool kept = keep_for_later(port, frame, len);
        pthread_mutex_unlock(&port->lock);
        if (!kept)
            atomic_fetch_add(&port->dropped_rx_full, 1);
        return kept;
    }
    if (full) {
        pthread_mutex_unlock(&port->lock);
        atomic_fetch_add(&port->dropped_rx_full, 1);
        return false;
    }
    /* The uplink is exempt: it carries the host's congestion-controlled TCP, not a guest. */
    if (source != NET_SOURCE_UPLINK && held >= NET_FAIR_SHARE_SLOTS &&
        slots_held_by(port, source) >= NET_FAIR_SHARE_SLOTS) {
        pthread_mutex_unlock(&port->lock);
        atomic_fetch_add(&port->dropped_fair_share, 1);
        return false;
    }
    write_slot(port, area, source, frame, len);
    pthread_mutex_unlock(&port->lock);
    atomic_fetch_add(&port->rx_frames, 1);
    atomic_fetch_add(&port->rx_bytes, len);
    return true;
}

int net_port_transmit(struct net_port *port, net_port_send_fn send, void *ctx)
{
    struct denali_net_area *area = port->area;
    if (!area)
        return 0;
    uint32_t produced = __atomic_load_n(&area->tx_produced, __ATOMIC_ACQUIRE);
    uint32_t pending = produced - port->tx_consumed;
    if (pending == 0)
        return 0;
    if (pending > DENALI_NET_TX_SLOTS)
        return -1;
    int sent = 0;
    uint64_t bytes = 0;
    uint8_t frame[DENALI_NET_TX_FRAME_MAX];
    for (; port->tx_consumed != produced; port->tx_consumed++) {
        /* Read the slot number once too: it is checked, then used. */
        uint8_t n = __atomic_load_n(&area->tx_slot[port->tx_consumed % DENALI_NET_TX_SLOTS],
                                    __ATOMIC_RELAXED);
        if (n >= DENALI_NET_TX_SLOTS) {
            atomic_fetch_add(&port->dropped_bad_slot, 1);
            continue;
        }
        const struct denali_net_tx_slot *slot = &area->tx[n];
        /* Read the length once, then copy: the switch must see exactly what was checked. */
        uint16_t len = __atomic_load_n(&slot->len, __ATOMIC_RELAXED);
        if (len < DENALI_NET_FRAME_MIN || len > DENALI_NET_TX_FRAME_MAX) {
            atomic_fetch_add(&port->dropped_bad_len, 1);
            continue;
        }
        memcpy(frame, slot->data, len);
        if (memcmp(frame + offsetof(struct ether_header, ether_shost), port->mac, ETH_ALEN) != 0) {
            atomic_fetch_add(&port->dropped_spoofed, 1);
            continue;
        }
        send(ctx, frame, len);
        sent++;
        bytes += len;
    }
    __atomic_store_n(&area->tx_consumed, port->tx_consumed, __ATOMIC_RELEASE);
    atomic_fetch_add(&port->tx_frames, (uint64_t)sent);
    atomic_fetch_add(&port->tx_bytes, bytes);
    return sent;
}
