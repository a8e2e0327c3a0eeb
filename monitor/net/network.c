/* Sets up and tears down the LAN of a run and its uplink, and plugs the NIC into the scheduler. */
#include "net/network.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/lan.h"
#include "net/uplink_slirp.h"
#include "net/uplink_tap.h"
#include "sched/exit_handler.h"
#include "sched/vm.h"
#include "sched/worker.h"

struct network {
    struct vm_device device;
    struct lan *lan;
    struct monitor *m;
};

static struct net_port *port_of(void *ctx, const struct vm *vm)
{
    struct network *net = ctx;
    return &net->lan->ports[vm->id];
}

static void nic_counters(void *ctx, const struct vm *vm, struct vm_device_counters *out)
{
    struct net_port *port = port_of(ctx, vm);
    out->rx_frames = atomic_load(&port->rx_frames);
    out->tx_frames = atomic_load(&port->tx_frames);
    out->rx_bytes = atomic_load(&port->rx_bytes);
    out->tx_bytes = atomic_load(&port->tx_bytes);
}

/* The VM's addresses go into its virtual registers (network byte order), before it first runs. */
static void nic_attach(void *ctx, struct vm *vm)
{
    struct network *net = ctx;
    struct net_port *port = port_of(ctx, vm);
    memcpy(vm->vregs->mac, port->mac, sizeof(vm->vregs->mac));
    vm->vregs->ipv4 = htonl(port->ipv4);
    vm->vregs->netmask = htonl(net->lan->netmask);
    vm->vregs->gateway = htonl(net->lan->gateway);
}

static void nic_before_entry(void *ctx, struct vm *vm)
{
    struct net_port *port = port_of(ctx, vm);
    /*
     * Only now, with the events taken: from here on new frames must raise the
     * event (and take the lock) again. Cleared before taking them, a frame
     * arriving in between would leave the flag set with no event pending,
     * and every later frame would skip the wake-up while the VM slept.
     */
    atomic_store(&port->lazy_acks, false);
    atomic_store(&port->rx_signalled, false);
    net_port_refill(port);
}

struct transmit_ctx {
    struct lan *lan;
    uint32_t src;
};

static void send_to_lan(void *ctx, const uint8_t *frame, size_t len)
{
    struct transmit_ctx *t = ctx;
    lan_input_from_vm(t->lan, t->src, frame, len);
}

/* At every exit the tx ring is drained into the switch, so no exit is spent on sending alone. */
static int nic_after_exit(void *ctx, struct vm *vm, const char **reason)
{
    struct network *net = ctx;
    struct transmit_ctx t = {.lan = net->lan, .src = vm->id};
    if (net_port_transmit(port_of(ctx, vm), send_to_lan, &t) >= 0)
        return 0;
    atomic_fetch_add(&net->lan->counters.dropped_garbage, 1);
    *reason = "net: tx ring holds more frames than it has slots";
    return -1;
}

static uint64_t nic_going_idle(void *ctx, struct vm *vm, uint32_t idle_flags)
{
    struct net_port *port = port_of(ctx, vm);
    atomic_store(&port->lazy_acks, (idle_flags & DENALI_IDLE_LAZY_ACKS) != 0);
    /* Frames still waiting outside its ring: it must run again to take them. */
    return net_port_refill(port) ? DENALI_EVENT_NET_RX : 0;
}

static bool nic_hypercall(void *ctx, struct vm *vm, uint32_t nr, const struct vm_exit *e,
                          struct vm_decision *d)
{
    if (nr == DENALI_HC_NET_KICK) {
        /* The tx ring is drained at every exit; this one only has to happen. */
        exit_decision_resume(d, 0);
        return true;
    }
    if (nr != DENALI_HC_NET_ATTACH)
        return false;
    switch (net_port_attach(port_of(ctx, vm), &vm->mem, e->args[0], e->args[1])) {
    case NET_ATTACH_OK:
        exit_decision_resume(d, 0);
        break;
    case NET_ATTACH_EINVAL:
        exit_decision_resume(d, (uint64_t)-DENALI_EINVAL);
        break;
    case NET_ATTACH_FAULT:
        exit_decision_stop(d, "net attach: bad ring area 0x%lx+%lu at rip 0x%lx",
                           (unsigned long)e->args[0], (unsigned long)e->args[1],
                           (unsigned long)e->rip);
        break;
    }
    return true;
}

/* The NIC's ring area is the one window: the monitor writes frames into it directly. */
static void nic_add_windows(void *ctx, struct vm *vm, struct platform_snapshot *snap)
{
    struct net_port *port = port_of(ctx, vm);
    pthread_mutex_lock(&port->lock);
    if (port->area && snap->window_count < PLATFORM_WINDOWS_MAX) {
        uint64_t start = (uint64_t)((uint8_t *)port->area - vm->mem.ram);
        uint64_t end = (start + DENALI_NET_AREA_SIZE + DENALI_PAGE_SIZE - 1) &
                       ~(uint64_t)(DENALI_PAGE_SIZE - 1);
        snap->windows[snap->window_count].start = start;
        snap->windows[snap->window_count].end = end;
        snap->window_count++;
    }
    pthread_mutex_unlock(&port->lock);
}

/*
 * A clone's NIC is attached where its template's was, as if it had asked
 * itself: at the window of the NIC area's size (the disks' area has
 * another).
 */
static void nic_resume_clone(void *ctx, struct vm *vm, const struct platform_snapshot *snap)
{
    uint64_t size =
        (DENALI_NET_AREA_SIZE + DENALI_PAGE_SIZE - 1) & ~(uint64_t)(DENALI_PAGE_SIZE - 1);
    for (unsigned w = 0; w < snap->window_count && w < PLATFORM_WINDOWS_MAX; w++) {
        if (snap->windows[w].end - snap->windows[w].start == size) {
            (void)net_port_attach(port_of(ctx, vm), &vm->mem, snap->windows[w].start,
                                  DENALI_NET_AREA_SIZE);
            return;
        }
    }
}

/* A hibernated VM keeps its rings in memory for the frames that come for it, but only the pages
 * holding some. */
static int nic_hibernated(void *ctx, struct vm *vm, vm_release_fn release, void *release_ctx)
{
    return net_port_trim(port_of(ctx, vm), vm->mem.ram, release, release_ctx) < 0 ? -1 : 0;
}

static void nic_detach(void *ctx, struct vm *vm)
{
    net_port_detach(port_of(ctx, vm));
}

/*
 * The LAN queued frames for vm_id (from any thread): the first since its
 * last entry wakes it; later ones ride along (batched), unless every frame
 * must switch to its receiver (immediate).
 */
static void wake_for_frames(void *ctx, uint32_t vm_id, bool immediate)
{
    struct network *net = ctx;
    if (atomic_exchange(&net->lan->ports[vm_id].rx_signalled, true) && !immediate)
        return;
    workers_deliver_events(net->m, vm_id, DENALI_EVENT_NET_RX, immediate);
}

struct network *network_start(struct monitor *m, char *err, size_t errlen)
{
    err[0] = '\0';
    const struct run_options *o = m->options;
    if (o->net == NET_NONE)
        return NULL;
    struct network *net = calloc(1, sizeof(*net));
    struct lan *lan = malloc(sizeof(*lan));
    if (!net || !lan) {
        snprintf(err, errlen, "no memory for the LAN");
        free(net);
        free(lan);
        return NULL;
    }
    if (lan_init(lan, LAN_DEFAULT_NETWORK, LAN_DEFAULT_PREFIX, o->count, !o->net_immediate, err,
                 errlen) < 0)
        goto fail;
    if (o->net == NET_USER)
        lan->uplink = uplink_slirp_start(lan, o->publish, o->publish_count, err, errlen);
    else
        lan->uplink = uplink_tap_start(lan, o->tap_name, err, errlen);
    if (!lan->uplink) {
        lan_destroy(lan);
        goto fail;
    }
    net->lan = lan;
    net->m = m;
    net->device = (struct vm_device){.ctx = net,
                                     .attach = nic_attach,
                                     .before_entry = nic_before_entry,
                                     .after_exit = nic_after_exit,
                                     .going_idle = nic_going_idle,
                                     .hypercall = nic_hypercall,
                                     .add_windows = nic_add_windows,
                                     .resume_clone = nic_resume_clone,
                                     .hibernated = nic_hibernated,
                                     .counters = nic_counters,
                                     .detach = nic_detach};
    lan->wake_ctx = net;
    lan->wake = wake_for_frames;
    if (!vm_devices_add(&m->devices, &net->device)) {
        snprintf(err, errlen, "too many devices for the NIC");
        lan->uplink->stop(lan->uplink);
        lan_destroy(lan);
        goto fail;
    }
    return net;
fail:
    free(lan);
    free(net);
    return NULL;
}

void network_stop(struct network *net)
{
    if (!net)
        return;
    struct lan *lan = net->lan;
    const struct run_options *o = net->m->options;
    lan->wake = NULL;
    vm_devices_remove(&net->m->devices, &net->device);
    if (lan->uplink && o->stats) {
        if (o->net == NET_USER)
            uplink_slirp_print_stats(lan->uplink, stderr);
        else
            uplink_tap_print_stats(lan->uplink, stderr);
    }
    if (lan->uplink)
        lan->uplink->stop(lan->uplink);
    lan->uplink = NULL;
    if (o->stats)
        lan_print_counters(lan, stderr);
    lan_destroy(lan);
    free(lan);
    free(net);
}
