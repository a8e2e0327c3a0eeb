/* The slirp uplink: one thread owns the Slirp instance; workers hand it frames through a queue. */
#include "uplink_slirp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <slirp/libslirp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "denali/abi.h"
#include "error_text.h"
#include "monitor.h"

/* Frames from the LAN waiting for the slirp thread; beyond this they are dropped. */
#define QUEUE_FRAMES 4096u
/* slirp's own addresses inside the LAN (VMs start at LAN_FIRST_VM_HOST). */
#define DHCP_START_HOST 2u
#define NAMESERVER_HOST 3u
/* Guest errors slirp reports are printed up to this many times, then only counted. */
#define GUEST_ERRORS_SHOWN 10u
#define ETHERTYPE_ARP      0x0806u

struct queued_frame {
    uint16_t len;
    uint8_t data[DENALI_NET_TX_FRAME_MAX];
};

struct slirp_timer {
    SlirpTimerCb callback;
    void *callback_opaque;
    int64_t expire_ms; /* -1: not armed */
    struct slirp_timer *next;
};

struct uplink_slirp {
    struct lan_uplink base; /* first: the LAN holds a pointer to it */
    struct lan *lan;
    const struct publish_rule *rules; /* only during startup */
    size_t nrules;
    Slirp *slirp; /* touched by the slirp thread only */
    pthread_t thread;
    int wake_fd; /* eventfd: frames queued, or stop */
    atomic_bool stopping;

    /* Startup handshake: the thread creates slirp and its forwards, then posts. */
    sem_t started;
    bool start_failed;
    char *start_err;
    size_t start_errlen;

    /* Multi-producer ring; the consumer reads slots outside the lock (see drain_queue). */
    pthread_mutex_t queue_lock;
    struct queued_frame *queue;
    uint32_t queue_head;
    uint32_t queue_count;

    /* Thread-owned: the poll set rebuilt every round, and slirp's timers. */
    struct pollfd *pollfds;
    size_t npollfds;
    size_t pollfds_cap;
    struct slirp_timer *timers;

    _Atomic uint64_t to_host;          /* frames queued for slirp */
    _Atomic uint64_t dropped_full;     /* queue full */
    _Atomic uint64_t dropped_oversize; /* longer than a LAN frame can be */
    _Atomic uint64_t from_host;        /* frames slirp sent into the LAN */
    _Atomic uint64_t arp_flushes;      /* output queue re-run after an ARP frame */
    _Atomic uint64_t guest_errors;     /* slirp's complaints about guest packets */
    _Atomic uint64_t poll_failures;
    _Atomic uint64_t backlog_failures; /* listen() refused a wider backlog */
};

static struct uplink_slirp *from_base(struct lan_uplink *uplink)
{
    return (struct uplink_slirp *)uplink;
}

static void wake_thread(struct uplink_slirp *u)
{
    uint64_t one = 1;
    /* A failed write means the counter is already non-zero: the thread wakes anyway. */
    ssize_t ignored = write(u->wake_fd, &one, sizeof(one));
    (void)ignored;
}

/* --- The queue from the workers to the slirp thread --- */

static void slirp_transmit(struct lan_uplink *uplink, const uint8_t *frame, size_t len)
{
    struct uplink_slirp *u = from_base(uplink);
    if (len > DENALI_NET_TX_FRAME_MAX) {
        atomic_fetch_add(&u->dropped_oversize, 1);
        return;
    }
    pthread_mutex_lock(&u->queue_lock);
    if (u->queue_count == QUEUE_FRAMES) {
        pthread_mutex_unlock(&u->queue_lock);
        atomic_fetch_add(&u->dropped_full, 1);
        return;
    }
    struct queued_frame *slot = &u->queue[(u->queue_head + u->queue_count) % QUEUE_FRAMES];
    slot->len = (uint16_t)len;
    memcpy(slot->data, frame, len);
    /* Only the first frame into an empty queue needs to wake the thread: it drains until empty. */
    bool was_empty = u->queue_count++ == 0;
    pthread_mutex_unlock(&u->queue_lock);
    atomic_fetch_add(&u->to_host, 1);
    if (was_empty)
        wake_thread(u);
}

static int no_revents(int idx, void *opaque)
{
    (void)idx;
    (void)opaque;
    return 0;
}

static bool is_arp(const struct queued_frame *frame)
{
    return frame->len >= 14 && ((frame->data[12] << 8) | frame->data[13]) == ETHERTYPE_ARP;
}

/*
 * slirp holds an IP packet for an address missing from its 16-entry ARP
 * table, asks once, and retries only when its output queue runs again: at the
 * end of slirp_pollfds_poll. It never does so on an incoming ARP reply, and
 * drops the packet a second after asking. So run the output queue right after
 * every ARP frame (with select_error set, slirp_pollfds_poll touches no
 * socket: it only runs due TCP timers and the output queue), before later
 * replies evict this one from the table.
 */
static void flush_held_packets(struct uplink_slirp *u)
{
    slirp_pollfds_poll(u->slirp, 1, no_revents, u);
    atomic_fetch_add(&u->arp_flushes, 1);
}

/*
 * Feeds every queued frame to slirp. The slots between head and head + count
 * belong to the consumer once counted, so they are read without the lock;
 * producers only ever write beyond them. slirp may answer at once, and the
 * switch may answer that (an ARP reply) through slirp_transmit on this very
 * thread, so the lock is never held across slirp calls.
 */
static void drain_queue(struct uplink_slirp *u)
{
    uint32_t budget = QUEUE_FRAMES;
    for (;;) {
        pthread_mutex_lock(&u->queue_lock);
        uint32_t head = u->queue_head, count = u->queue_count;
        pthread_mutex_unlock(&u->queue_lock);
        if (count == 0)
            return;
        if (count > budget)
            count = budget;
        for (uint32_t i = 0; i < count; i++) {
            const struct queued_frame *frame = &u->queue[(head + i) % QUEUE_FRAMES];
            slirp_input(u->slirp, frame->data, frame->len);
            if (is_arp(frame))
                flush_held_packets(u);
        }
        pthread_mutex_lock(&u->queue_lock);
        u->queue_head = (head + count) % QUEUE_FRAMES;
        u->queue_count -= count;
        bool more = u->queue_count > 0;
        pthread_mutex_unlock(&u->queue_lock);
        budget -= count;
        if (more && budget == 0) {
            /* Let sockets and timers have a turn; come straight back afterwards. */
            wake_thread(u);
            return;
        }
    }
}

/* --- Timers slirp asks for, fired from the loop --- */

static void *timer_create_cb(SlirpTimerCb callback, void *callback_opaque, void *opaque)
{
    struct uplink_slirp *u = opaque;
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t)
        abort(); /* slirp has no way to be told; it would dereference NULL anyway */
    t->callback = callback;
    t->callback_opaque = callback_opaque;
    t->expire_ms = -1;
    t->next = u->timers;
    u->timers = t;
    return t;
}

static void timer_free_cb(void *timer, void *opaque)
{
    struct uplink_slirp *u = opaque;
    for (struct slirp_timer **p = &u->timers; *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = (*p)->next;
            free(timer);
            return;
        }
    }
}

static void timer_mod_cb(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    ((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

/* Milliseconds until the next armed timer, at most cap. */
static uint32_t timers_timeout_ms(const struct uplink_slirp *u, uint32_t cap)
{
    int64_t now_ms = (int64_t)monitor_now_ns() / 1000000;
    uint32_t timeout = cap;
    for (const struct slirp_timer *t = u->timers; t; t = t->next) {
        if (t->expire_ms < 0)
            continue;
        int64_t left = t->expire_ms - now_ms;
        if (left <= 0)
            return 0;
        if (left < timeout)
            timeout = (uint32_t)left;
    }
    return timeout;
}

static void timers_fire_due(struct uplink_slirp *u)
{
    int64_t now_ms = (int64_t)monitor_now_ns() / 1000000;
    /* A callback may re-arm or free timers, so rescan from the start after each one. */
    bool fired = true;
    while (fired) {
        fired = false;
        for (struct slirp_timer *t = u->timers; t; t = t->next) {
            if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
                t->expire_ms = -1;
                t->callback(t->callback_opaque);
                fired = true;
                break;
            }
        }
    }
}

static void timers_free_all(struct uplink_slirp *u)
{
    while (u->timers) {
        struct slirp_timer *next = u->timers->next;
        free(u->timers);
        u->timers = next;
    }
}

/* --- Other slirp callbacks --- */

static ssize_t send_to_lan(const void *buf, size_t len, void *opaque)
{
    struct uplink_slirp *u = opaque;
    atomic_fetch_add(&u->from_host, 1);
    lan_input_from_uplink(u->lan, buf, len);
    return (ssize_t)len;
}

static void report_guest_error(const char *msg, void *opaque)
{
    struct uplink_slirp *u = opaque;
    uint64_t seen = atomic_fetch_add(&u->guest_errors, 1);
    if (seen < GUEST_ERRORS_SHOWN)
        fprintf(stderr, "denali: slirp: bad packet from a VM: %s\n", msg);
}

static int64_t clock_ns_cb(void *opaque)
{
    (void)opaque;
    return (int64_t)monitor_now_ns();
}

static void poll_fd_unused(int fd, void *opaque)
{
    /* The poll set is rebuilt from slirp_pollfds_fill every round. */
    (void)fd;
    (void)opaque;
}

static void notify_cb(void *opaque)
{
    wake_thread(opaque);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = send_to_lan,
    .guest_error = report_guest_error,
    .clock_get_ns = clock_ns_cb,
    .timer_new = timer_create_cb,
    .timer_free = timer_free_cb,
    .timer_mod = timer_mod_cb,
    .register_poll_fd = poll_fd_unused,
    .unregister_poll_fd = poll_fd_unused,
    .notify = notify_cb,
};

/* --- The poll set --- */

static int add_pollfd(int fd, int slirp_events, void *opaque)
{
    struct uplink_slirp *u = opaque;
    if (u->npollfds == u->pollfds_cap) {
        size_t cap = u->pollfds_cap ? u->pollfds_cap * 2 : 64;
        struct pollfd *grown = realloc(u->pollfds, cap * sizeof(*grown));
        if (!grown)
            abort(); /* slirp cannot take "no" here */
        u->pollfds = grown;
        u->pollfds_cap = cap;
    }
    short events = 0;
    if (slirp_events & SLIRP_POLL_IN)
        events |= POLLIN;
    if (slirp_events & SLIRP_POLL_OUT)
        events |= POLLOUT;
    if (slirp_events & SLIRP_POLL_PRI)
        events |= POLLPRI;
    u->pollfds[u->npollfds] = (struct pollfd){.fd = fd, .events = events};
    return (int)u->npollfds++;
}

static int get_revents(int idx, void *opaque)
{
    struct uplink_slirp *u = opaque;
    if (idx < 0 || (size_t)idx >= u->npollfds)
        return 0;
    short revents = u->pollfds[idx].revents;
    int result = 0;
    if (revents & POLLIN)
        result |= SLIRP_POLL_IN;
    if (revents & POLLOUT)
        result |= SLIRP_POLL_OUT;
    if (revents & POLLPRI)
        result |= SLIRP_POLL_PRI;
    if (revents & POLLERR)
        result |= SLIRP_POLL_ERR;
    if (revents & POLLHUP)
        result |= SLIRP_POLL_HUP;
    return result;
}

/* One round: wait for sockets, frames or timers, then let slirp and the queue make progress. */
static void poll_once(struct uplink_slirp *u)
{
    u->npollfds = 0;
    add_pollfd(u->wake_fd, SLIRP_POLL_IN, u);
    uint32_t timeout = timers_timeout_ms(u, 1000);
    slirp_pollfds_fill(u->slirp, &timeout, add_pollfd, u);
    int ready = poll(u->pollfds, u->npollfds, (int)timeout);
    if (ready < 0)
        atomic_fetch_add(&u->poll_failures, 1);
    slirp_pollfds_poll(u->slirp, ready < 0, get_revents, u);
    timers_fire_due(u);
    if (ready > 0 && (u->pollfds[0].revents & POLLIN)) {
        uint64_t wakeups;
        ssize_t ignored = read(u->wake_fd, &wakeups, sizeof(wakeups));
        (void)ignored;
    }
    /* Cheap when empty, and catches frames queued by slirp's own output above. */
    drain_queue(u);
}

/* --- Startup on the slirp thread --- */

static struct in_addr lan_addr(uint32_t host_order)
{
    return (struct in_addr){.s_addr = htonl(host_order)};
}

static Slirp *create_slirp(struct uplink_slirp *u)
{
    const struct lan *lan = u->lan;
    SlirpConfig cfg = {
        .version = 4,
        .restricted = 0,
        .in_enabled = true,
        .vnetwork = lan_addr(lan->network),
        .vnetmask = lan_addr(lan->netmask),
        .vhost = lan_addr(lan->gateway),
        .in6_enabled = false,
        .vdhcp_start = lan_addr(lan->network + DHCP_START_HOST),
        .vnameserver = lan_addr(lan->network + NAMESERVER_HOST),
        .disable_dhcp = true,
        /*
         * The VMs' send MTU: slirp advertises the matching MSS, so a VM
         * answers in segments of up to 3,960 bytes (a 2,258-byte page in one);
         * it sends them at most the 1,460 bytes they advertise.
         */
        .if_mtu = DENALI_NET_TX_FRAME_MAX - 14u,
        .if_mru = DENALI_NET_TX_FRAME_MAX - 14u,
    };
    return slirp_new(&cfg, &slirp_callbacks, u);
}

static bool add_forwards(struct uplink_slirp *u)
{
    struct in_addr loopback = {.s_addr = htonl(INADDR_LOOPBACK)};
    for (size_t r = 0; r < u->nrules; r++) {
        const struct publish_rule *rule = &u->rules[r];
        for (unsigned i = 0; i < publish_port_count(rule); i++) {
            unsigned host_port = rule->host_first + i;
            struct in_addr guest = lan_addr(lan_vm_ipv4(u->lan, i));
            if (slirp_add_hostfwd(u->slirp, 0, loopback, (int)host_port, guest, rule->guest_port) ==
                0)
                continue;
            char text[PUBLISH_TEXT_MAX];
            publish_format(rule, text);
            (void)fail(u->start_err, u->start_errlen,
                       "publish %s: cannot listen on 127.0.0.1:%u (for vm %u): %s", text, host_port,
                       i, strerror(errno));
            return false;
        }
    }
    return true;
}

/* Called for each socket slirp would poll; widens the backlog of listening ones. */
static int widen_listen_backlog(int fd, int slirp_events, void *opaque)
{
    (void)slirp_events;
    struct uplink_slirp *u = opaque;
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
        listen(fd, SOMAXCONN) != 0)
        atomic_fetch_add(&u->backlog_failures, 1);
    return -1; /* not polled: the loop's next slirp_pollfds_fill starts afresh */
}

/*
 * libslirp 4.7 listens with a backlog of 1, so of many simultaneous connects
 * to one published port the kernel drops all but one or two, and their
 * clients retry only after a second or more. Right after setup the
 * forwards' listening sockets are the only sockets slirp has, and Linux lets
 * listen() enlarge the backlog of a socket that is already listening.
 */
static void widen_forward_backlogs(struct uplink_slirp *u)
{
    uint32_t timeout = 0;
    slirp_pollfds_fill(u->slirp, &timeout, widen_listen_backlog, u);
}

static void *slirp_thread_main(void *arg)
{
    struct uplink_slirp *u = arg;
    u->slirp = create_slirp(u);
    if (!u->slirp) {
        (void)fail(u->start_err, u->start_errlen, "slirp: cannot set up user-mode networking");
        u->start_failed = true;
    } else if (!add_forwards(u)) {
        u->start_failed = true;
    } else {
        widen_forward_backlogs(u);
    }
    bool failed = u->start_failed;
    sem_post(&u->started); /* after this, u->rules and u->start_err belong to the caller again */
    while (!failed && !atomic_load(&u->stopping))
        poll_once(u);
    if (u->slirp)
        slirp_cleanup(u->slirp);
    u->slirp = NULL;
    timers_free_all(u);
    return NULL;
}

static void free_uplink(struct uplink_slirp *u)
{
    if (u->wake_fd >= 0)
        close(u->wake_fd);
    free(u->queue);
    free(u->pollfds);
    pthread_mutex_destroy(&u->queue_lock);
    sem_destroy(&u->started);
    free(u);
}

static void slirp_stop(struct lan_uplink *uplink)
{
    struct uplink_slirp *u = from_base(uplink);
    atomic_store(&u->stopping, true);
    wake_thread(u);
    pthread_join(u->thread, NULL);
    free_uplink(u);
}

static struct uplink_slirp *alloc_uplink(struct lan *lan, char *err, size_t errlen)
{
    struct uplink_slirp *u = calloc(1, sizeof(*u));
    if (!u) {
        (void)fail(err, errlen, "slirp: out of memory");
        return NULL;
    }
    u->wake_fd = -1;
    pthread_mutex_init(&u->queue_lock, NULL);
    sem_init(&u->started, 0, 0);
    u->lan = lan;
    u->queue = calloc(QUEUE_FRAMES, sizeof(*u->queue));
    u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!u->queue || u->wake_fd < 0) {
        (void)fail(err, errlen, "slirp: cannot set up the frame queue: %s", strerror(errno));
        free_uplink(u);
        return NULL;
    }
    u->base.transmit = slirp_transmit;
    u->base.stop = slirp_stop;
    /* slirp's fixed MAC for its host address: 52:55 then the address's four bytes. */
    uint32_t gateway = lan->gateway;
    const uint8_t mac[6] = {0x52, 0x55, gateway >> 24, gateway >> 16, gateway >> 8, gateway};
    memcpy(u->base.mac, mac, sizeof(mac));
    return u;
}

struct lan_uplink *uplink_slirp_start(struct lan *lan, const struct publish_rule *rules,
                                      size_t nrules, char *err, size_t errlen)
{
    /* lan_vm_ipv4 is only meaningful for VMs that exist. */
    if (publish_check(rules, nrules, lan->vm_count, err, errlen) != 0)
        return NULL;
    struct uplink_slirp *u = alloc_uplink(lan, err, errlen);
    if (!u)
        return NULL;
    u->rules = rules;
    u->nrules = nrules;
    u->start_err = err;
    u->start_errlen = errlen;
    int rc = start_quiet_thread(&u->thread, slirp_thread_main, u);
    if (rc != 0) {
        (void)fail(err, errlen, "slirp: cannot start its thread: %s", strerror(rc));
        free_uplink(u);
        return NULL;
    }
    while (sem_wait(&u->started) != 0)
        ; /* EINTR only */
    u->rules = NULL;
    u->start_err = NULL;
    if (u->start_failed) {
        pthread_join(u->thread, NULL);
        free_uplink(u);
        return NULL;
    }
    return &u->base;
}

void uplink_slirp_print_stats(struct lan_uplink *uplink, FILE *out)
{
    struct uplink_slirp *u = from_base(uplink);
    fprintf(
        out,
        "denali-uplink: kind=slirp to_host=%lu dropped_full=%lu dropped_oversize=%lu "
        "from_host=%lu arp_flushes=%lu guest_errors=%lu poll_failures=%lu backlog_failures=%lu\n",
        (unsigned long)atomic_load(&u->to_host), (unsigned long)atomic_load(&u->dropped_full),
        (unsigned long)atomic_load(&u->dropped_oversize), (unsigned long)atomic_load(&u->from_host),
        (unsigned long)atomic_load(&u->arp_flushes), (unsigned long)atomic_load(&u->guest_errors),
        (unsigned long)atomic_load(&u->poll_failures),
        (unsigned long)atomic_load(&u->backlog_failures));
}
