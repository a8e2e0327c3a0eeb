/* Host sockets that slirp opens on behalf of each VM: counted per VM and capped. */
#include "net/guest_sockets.h"

#include <stdlib.h>
#include <string.h>

#include "net/frame_view.h"

#define OWNER_TABLE_MIN 256u

int guest_sockets_init(struct guest_sockets *g, uint32_t vm_count, uint32_t per_vm_cap,
                       uint32_t total_cap)
{
    memset(g, 0, sizeof(*g));
    g->vm_count = vm_count;
    g->per_vm_cap = per_vm_cap;
    g->total_cap = total_cap;
    g->held = calloc(vm_count ? vm_count : 1, sizeof(*g->held));
    return g->held ? 0 : -1;
}

void guest_sockets_free(struct guest_sockets *g)
{
    free(g->held);
    free(g->owner);
    memset(g, 0, sizeof(*g));
}

uint32_t guest_sockets_budget(uint64_t nofile, uint32_t vm_count)
{
    uint64_t taken = (uint64_t)vm_count + GUEST_SOCKETS_RESERVE;
    if (nofile <= taken)
        return 0;
    uint64_t left = nofile - taken;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

/*
 * Could slirp open a socket for this frame? A TCP SYN opens a connection,
 * any UDP datagram may come from a port slirp has no socket for yet, an
 * ICMP echo opens a socket for its reply. Fragments cannot be told apart
 * before slirp reassembles them, so they count as able to.
 */
static bool may_open_socket(const uint8_t *frame, size_t len)
{
    struct frame_view view;
    if (frame_view_parse(frame, len, &view) != 0 || view.ethertype != ETHERTYPE_IP)
        return false; /* slirp drops malformed IPv4 */
    uint8_t proto = view.ip.protocol;
    if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_ICMP)
        return false;
    if (proto == IPPROTO_UDP || view.more_fragments || view.fragment_offset != 0)
        return true;
    if (!view.l4)
        return false; /* slirp drops a TCP or ICMP header cut short */
    if (proto == IPPROTO_ICMP)
        return view.icmp.type == ICMP_ECHO;
    return (view.tcp.th_flags & (TH_SYN | TH_ACK)) == TH_SYN;
}

bool guest_sockets_admit(struct guest_sockets *g, uint32_t vm, const uint8_t *frame, size_t len)
{
    g->handling = 0;
    if (vm >= g->vm_count)
        return false;
    if ((g->held[vm] >= g->per_vm_cap || g->total >= g->total_cap) && may_open_socket(frame, len)) {
        atomic_fetch_add(&g->refused, 1);
        return false;
    }
    g->handling = vm + 1;
    return true;
}

void guest_sockets_handled(struct guest_sockets *g)
{
    g->handling = 0;
}

static int cover_fd(struct guest_sockets *g, size_t fd)
{
    if (fd < g->owner_len)
        return 0;
    size_t len = g->owner_len ? g->owner_len : OWNER_TABLE_MIN;
    while (len <= fd)
        len *= 2;
    uint32_t *grown = realloc(g->owner, len * sizeof(*grown));
    if (!grown)
        return -1;
    memset(grown + g->owner_len, 0, (len - g->owner_len) * sizeof(*grown));
    g->owner = grown;
    g->owner_len = len;
    return 0;
}

void guest_sockets_closed(struct guest_sockets *g, int fd)
{
    if (fd < 0 || (size_t)fd >= g->owner_len || g->owner[fd] == 0)
        return;
    g->held[g->owner[fd] - 1]--;
    g->total--;
    g->owner[fd] = 0;
}

int guest_sockets_opened(struct guest_sockets *g, int fd)
{
    if (fd < 0)
        return 0;
    /* A number still charged was closed without a word: its old owner no longer holds it. */
    guest_sockets_closed(g, fd);
    if (g->handling == 0)
        return 0;
    if (cover_fd(g, (size_t)fd) < 0)
        return -1;
    g->owner[fd] = g->handling;
    g->held[g->handling - 1]++;
    if (++g->total > atomic_load(&g->peak))
        atomic_store(&g->peak, g->total);
    return 0;
}

uint32_t guest_sockets_held(const struct guest_sockets *g, uint32_t vm)
{
    return vm < g->vm_count ? g->held[vm] : 0;
}
