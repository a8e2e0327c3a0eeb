/* The slirp uplink: one thread drives a Slirp per 16 VMs; workers hand it frames via a queue. */
#include "net/uplink_slirp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "denali/abi.h"
#include "util/error_text.h"
#include "net/frame_view.h"
#include "net/guest_sockets.h"
#include "net/slirp_library.h"
#include "util/clock.h"
#include "sched/sched_queue.h"

/*
 * VMs served by one Slirp instance. libslirp's ARP table holds 16 entries,
 * so the VMs of one group never evict each other's; and each instance only
 * walks its own sockets and TCP control blocks.
 */
#define VMS_PER_INSTANCE 16u
/* Frames from the LAN waiting for the slirp thread; beyond this they are dropped. */
#define QUEUE_FRAMES 4096u
/* slirp's own addresses inside the LAN (VMs start at LAN_FIRST_VM_HOST). */
#define DHCP_START_HOST 2u
#define NAMESERVER_HOST 3u
/* Guest errors slirp reports are printed up to this many times, then only counted. */
#define GUEST_ERRORS_SHOWN 10u
/* slirp's fixed MAC for its host address: 52:55 then the address's four bytes. */
#define SLIRP_HOST_MAC_PREFIX 0x5255ull
/* Readiness reports taken from the kernel per epoll_wait. */
#define EPOLL_BATCH 256
/* The epoll tag of the wake eventfd; sockets are tagged with their fd, which is never this. */
#define WAKE_TAG  UINT64_MAX
#define NS_PER_MS 1000000ull

struct queued_frame {
    uint16_t len;
    uint32_t vm; /* the VM that sent it */
    uint8_t data[DENALI_NET_TX_FRAME_MAX];
};

struct slirp_timer {
    SlirpTimerCb callback;
    void *callback_opaque;
    int64_t expire_ms; /* -1: not armed */
    struct slirp_timer *next;
};

struct uplink_slirp;

/* One Slirp and everything the loop keeps for it; touched by the slirp thread only. */
struct slirp_instance {
    struct uplink_slirp *uplink;
    Slirp *slirp;
    struct slirp_timer *timers;
    /* What slirp asked for in its latest slirp_pollfds_fill, in slirp's order. */
    struct pollfd *pollfds;
    size_t npollfds;
    size_t pollfds_cap;
    /* The fds this instance had in the epoll set after its previous run. */
    int *watched;
    size_t nwatched;
    size_t watched_cap;
    /* In the deadline heap: it must run by then (slirp's timeout or one of its timers). */
    struct sched_entity sched;
    bool pending; /* queued to run this round */
};

/* What the epoll set holds for one fd number, and what it reported this round. */
struct fd_watch {
    struct slirp_instance *owner; /* NULL: not in the epoll set */
    uint32_t events;              /* the epoll interest registered */
    uint32_t ready_events;        /* valid in round ready_round only */
    uint64_t ready_round;
    uint64_t sync_stamp; /* the owner's run that last asked for the fd */
};

struct uplink_slirp {
    struct lan_uplink base; /* first: the LAN holds a pointer to it */
    struct lan *lan;
    const struct publish_rule *rules; /* only during startup */
    size_t nrules;
    pthread_t thread;
    int wake_fd;  /* eventfd: frames queued, or stop */
    int epoll_fd; /* the wake eventfd and every socket some instance wants watched */
    atomic_bool stopping;

    /* Startup handshake: the thread creates the instances and their forwards, then posts. */
    sem_t started;
    bool start_failed;
    char *start_err;
    size_t start_errlen;

    /* Multi-producer ring; the consumer reads slots outside the lock (see drain_queue). */
    pthread_mutex_t queue_lock;
    struct queued_frame *queue;
    uint32_t queue_head;
    uint32_t queue_count;

    /* Thread-owned from here on. */
    struct slirp_instance *instances;
    uint32_t instance_count;
    /* Every instance, ordered by its deadline. */
    struct timer_heap deadlines;
    /* Instances to run this round, and the ones being run (swapped each round). */
    struct slirp_instance **pending;
    uint32_t npending;
    struct slirp_instance **running;
    /* Indexed by fd number; grown on demand. */
    struct fd_watch *watches;
    size_t nwatches;
    uint64_t sync_stamp;
    uint64_t round; /* counts epoll_waits; 0 never is one */
    struct epoll_event *events;

    _Atomic uint64_t to_host;          /* frames queued for slirp */
    _Atomic uint64_t dropped_full;     /* queue full */
    _Atomic uint64_t dropped_oversize; /* longer than a LAN frame can be */
    _Atomic uint64_t dropped_no_vm;    /* the source MAC is no VM's of this LAN */
    _Atomic uint64_t from_host;        /* frames slirp sent into the LAN */
    _Atomic uint64_t arp_flushes;      /* output queue re-run after an ARP frame */
    _Atomic uint64_t guest_errors;     /* slirp's complaints about guest packets */
    _Atomic uint64_t poll_failures;    /* epoll_wait or epoll_ctl failed */
    _Atomic uint64_t backlog_failures; /* listen() refused a wider backlog */
    /* Host sockets slirp holds for each VM's traffic, capped per VM and in all. */
    struct guest_sockets sockets;
};

/* Set by the first uplink_slirp_start; the same table for every uplink after it. */
static const struct slirp_library *slirp_lib;

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

/*
 * The VM that sent frame (VM i is served by instance i / VMS_PER_INSTANCE). The switch passes on
 * only frames whose source MAC is the sending VM's own, except its ARP answers to slirp, which
 * carry the MAC of the VM asked about: a VM of the asking instance.
 */
static bool vm_of_frame(const struct uplink_slirp *u, const uint8_t *frame, size_t len,
                        uint32_t *vm_id)
{
    if (len < sizeof(struct ether_header))
        return false;
    int64_t vm = lan_vm_of_mac(u->lan, frame + offsetof(struct ether_header, ether_shost));
    if (vm < 0)
        return false;
    *vm_id = (uint32_t)vm;
    return true;
}

static void slirp_transmit(struct lan_uplink *uplink, const uint8_t *frame, size_t len)
{
    struct uplink_slirp *u = from_base(uplink);
    if (len > DENALI_NET_TX_FRAME_MAX) {
        atomic_fetch_add(&u->dropped_oversize, 1);
        return;
    }
    uint32_t vm;
    if (!vm_of_frame(u, frame, len, &vm)) {
        atomic_fetch_add(&u->dropped_no_vm, 1);
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
    slot->vm = vm;
    memcpy(slot->data, frame, len);
    /* Only the first frame into an empty queue needs to wake the thread: it drains until empty. */
    bool was_empty = u->queue_count++ == 0;
    pthread_mutex_unlock(&u->queue_lock);
    atomic_fetch_add(&u->to_host, 1);
    if (was_empty)
        wake_thread(u);
}

/* --- Instances ordered by the time they must run at the latest --- */

static struct slirp_instance *instance_of(struct sched_entity *e)
{
    return (struct slirp_instance *)((char *)e - offsetof(struct slirp_instance, sched));
}

static void set_deadline(struct slirp_instance *inst, uint64_t deadline_ns)
{
    timer_heap_reschedule(&inst->uplink->deadlines, &inst->sched, deadline_ns);
}

static void mark_pending(struct slirp_instance *inst)
{
    if (inst->pending)
        return;
    inst->pending = true;
    struct uplink_slirp *u = inst->uplink;
    u->pending[u->npending++] = inst;
}

/* --- Timers slirp asks for, fired when their instance runs --- */

static uint64_t expiry_ns(int64_t expire_ms)
{
    return expire_ms <= 0 ? 0 : (uint64_t)expire_ms * NS_PER_MS;
}

static void *timer_create_cb(SlirpTimerCb callback, void *callback_opaque, void *opaque)
{
    struct slirp_instance *inst = opaque;
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t)
        abort(); /* slirp has no way to be told; it would dereference NULL anyway */
    t->callback = callback;
    t->callback_opaque = callback_opaque;
    t->expire_ms = -1;
    t->next = inst->timers;
    inst->timers = t;
    return t;
}

static void timer_free_cb(void *timer, void *opaque)
{
    struct slirp_instance *inst = opaque;
    for (struct slirp_timer **p = &inst->timers; *p; p = &(*p)->next) {
        if (*p == timer) {
            *p = (*p)->next;
            free(timer);
            return;
        }
    }
}

static void timer_mod_cb(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_instance *inst = opaque;
    struct slirp_timer *t = timer;
    t->expire_ms = expire_ms < 0 ? -1 : expire_ms;
    if (t->expire_ms >= 0 && expiry_ns(t->expire_ms) < inst->sched.deadline)
        set_deadline(inst, expiry_ns(t->expire_ms));
}

/* The earliest armed timer's expiry, or UINT64_MAX. */
static uint64_t timers_next_ns(const struct slirp_instance *inst)
{
    uint64_t next = UINT64_MAX;
    for (const struct slirp_timer *t = inst->timers; t; t = t->next)
        if (t->expire_ms >= 0 && expiry_ns(t->expire_ms) < next)
            next = expiry_ns(t->expire_ms);
    return next;
}

static void timers_fire_due(struct slirp_instance *inst)
{
    int64_t now_ms = (int64_t)monitor_now_ns() / (int64_t)NS_PER_MS;
    /* A callback may re-arm or free timers, so rescan from the start after each one. */
    bool fired = true;
    while (fired) {
        fired = false;
        for (struct slirp_timer *t = inst->timers; t; t = t->next) {
            if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
                t->expire_ms = -1;
                t->callback(t->callback_opaque);
                fired = true;
                break;
            }
        }
    }
}

static void timers_free_all(struct slirp_instance *inst)
{
    while (inst->timers) {
        struct slirp_timer *next = inst->timers->next;
        free(inst->timers);
        inst->timers = next;
    }
}

/* --- The epoll set: what each instance's sockets are watched for --- */

static struct fd_watch *watch_of(struct uplink_slirp *u, int fd)
{
    if ((size_t)fd >= u->nwatches) {
        size_t count = u->nwatches ? u->nwatches : 256;
        while (count <= (size_t)fd)
            count *= 2;
        struct fd_watch *grown = realloc(u->watches, count * sizeof(*grown));
        if (!grown)
            abort(); /* slirp's callbacks cannot take "no" */
        memset(grown + u->nwatches, 0, (count - u->nwatches) * sizeof(*grown));
        u->watches = grown;
        u->nwatches = count;
    }
    return &u->watches[fd];
}

/*
 * Makes the epoll set watch fd for exactly events on behalf of inst (0:
 * not at all). The table may be stale: a socket closed without slirp
 * saying so leaves the epoll set by itself, and its number may since
 * belong to another socket, of this instance or another; so a failed MOD
 * is retried as an ADD and the other way round.
 */
static void set_interest(struct uplink_slirp *u, struct slirp_instance *inst, int fd,
                         struct fd_watch *watch, uint32_t events)
{
    if (watch->owner == inst && watch->events == events)
        return;
    if (events == 0) {
        /* ENOENT or EBADF: the socket already left the set when it was closed. */
        (void)epoll_ctl(u->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        watch->owner = NULL;
        watch->events = 0;
        watch->ready_round = 0;
        return;
    }
    struct epoll_event event = {.events = events, .data.u64 = (uint64_t)fd};
    int op = watch->owner ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(u->epoll_fd, op, fd, &event) != 0) {
        int retry_op = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
        if (retry_op < 0 || epoll_ctl(u->epoll_fd, retry_op, fd, &event) != 0) {
            atomic_fetch_add(&u->poll_failures, 1);
            watch->owner = NULL;
            watch->events = 0;
            watch->ready_round = 0;
            return;
        }
    }
    if (watch->owner != inst)
        watch->ready_round = 0; /* what was reported belonged to another socket */
    watch->owner = inst;
    watch->events = events;
}

static uint32_t epoll_events_of(short poll_events)
{
    uint32_t events = 0;
    if (poll_events & POLLIN)
        events |= EPOLLIN;
    if (poll_events & POLLOUT)
        events |= EPOLLOUT;
    if (poll_events & POLLPRI)
        events |= EPOLLPRI;
    return events;
}

/*
 * Right after each fill, the epoll set comes to watch each of the
 * instance's sockets for exactly what slirp asked, and drops the ones it no
 * longer asked for. Level-triggered epoll would otherwise report, every
 * round, a socket slirp has stopped reading because its buffer toward the
 * guest is full; the guest's ACKs that make room reach this instance as
 * frames, which make it run and ask again.
 */
static void sync_interest(struct uplink_slirp *u, struct slirp_instance *inst)
{
    uint64_t stamp = ++u->sync_stamp;
    for (size_t i = 0; i < inst->npollfds; i++) {
        int fd = inst->pollfds[i].fd;
        struct fd_watch *watch = watch_of(u, fd);
        set_interest(u, inst, fd, watch, epoll_events_of(inst->pollfds[i].events));
        watch->sync_stamp = stamp;
    }
    for (size_t i = 0; i < inst->nwatched; i++) {
        int fd = inst->watched[i];
        struct fd_watch *watch = &u->watches[fd];
        if (watch->owner == inst && watch->sync_stamp != stamp)
            set_interest(u, inst, fd, watch, 0);
    }
    if (inst->npollfds > inst->watched_cap) {
        size_t cap = inst->npollfds * 2;
        int *grown = realloc(inst->watched, cap * sizeof(*grown));
        if (!grown)
            abort();
        inst->watched = grown;
        inst->watched_cap = cap;
    }
    for (size_t i = 0; i < inst->npollfds; i++)
        inst->watched[i] = inst->pollfds[i].fd;
    inst->nwatched = inst->npollfds;
}

/*
 * libslirp 4.7 never registers the listening sockets of its forwards, so
 * the fill is what adds sockets to the epoll set. But it does unregister
 * every socket it polls right before closing it: the one moment the fd
 * still names that socket, so it leaves the set, and readiness reported for
 * it is forgotten, before its number can be reused.
 */
static void poll_fd_registered(int fd, void *opaque)
{
    struct slirp_instance *inst = opaque;
    /* Out of memory leaves the socket uncounted; refusing it is not slirp's to hear. */
    (void)guest_sockets_opened(&inst->uplink->sockets, fd);
}

static void poll_fd_unregistered(int fd, void *opaque)
{
    struct slirp_instance *inst = opaque;
    struct uplink_slirp *u = inst->uplink;
    guest_sockets_closed(&u->sockets, fd);
    if (fd < 0 || (size_t)fd >= u->nwatches || u->watches[fd].owner != inst)
        return;
    set_interest(u, inst, fd, &u->watches[fd], 0);
}

/* --- Running one instance --- */

static int add_pollfd(int fd, int slirp_events, void *opaque)
{
    struct slirp_instance *inst = opaque;
    if (inst->npollfds == inst->pollfds_cap) {
        size_t cap = inst->pollfds_cap ? inst->pollfds_cap * 2 : 32;
        struct pollfd *grown = realloc(inst->pollfds, cap * sizeof(*grown));
        if (!grown)
            abort(); /* slirp cannot take "no" here */
        inst->pollfds = grown;
        inst->pollfds_cap = cap;
    }
    short events = 0;
    if (slirp_events & SLIRP_POLL_IN)
        events |= POLLIN;
    if (slirp_events & SLIRP_POLL_OUT)
        events |= POLLOUT;
    if (slirp_events & SLIRP_POLL_PRI)
        events |= POLLPRI;
    inst->pollfds[inst->npollfds] = (struct pollfd){.fd = fd, .events = events};
    return (int)inst->npollfds++;
}

/*
 * What this round's epoll_wait reported for the socket, limited to what
 * slirp asks now, as poll() would. A socket that became ready since then,
 * or that was only just added to the set, is reported by the next round.
 */
static int get_revents(int idx, void *opaque)
{
    struct slirp_instance *inst = opaque;
    struct uplink_slirp *u = inst->uplink;
    if (idx < 0 || (size_t)idx >= inst->npollfds)
        return 0;
    const struct pollfd *asked = &inst->pollfds[idx];
    const struct fd_watch *watch = &u->watches[asked->fd];
    if (watch->owner != inst || watch->ready_round != u->round)
        return 0;
    uint32_t ready = watch->ready_events;
    int result = 0;
    if ((ready & EPOLLIN) && (asked->events & POLLIN))
        result |= SLIRP_POLL_IN;
    if ((ready & EPOLLOUT) && (asked->events & POLLOUT))
        result |= SLIRP_POLL_OUT;
    if ((ready & EPOLLPRI) && (asked->events & POLLPRI))
        result |= SLIRP_POLL_PRI;
    if (ready & EPOLLERR)
        result |= SLIRP_POLL_ERR;
    if (ready & EPOLLHUP)
        result |= SLIRP_POLL_HUP;
    return result;
}

/*
 * Lets one instance make progress: due timers, then its sockets (with what
 * this round's epoll_wait reported for them), its TCP timers and its output
 * queue. The fill comes first and the epoll set follows it at once: slirp
 * may close sockets in slirp_pollfds_poll, leaving the fill's list stale.
 * The instance must run again within the timeout slirp names, or when one of
 * its timers expires, whichever is first.
 */
static void run_instance(struct uplink_slirp *u, struct slirp_instance *inst)
{
    timers_fire_due(inst);
    inst->npollfds = 0;
    uint32_t timeout_ms = UINT32_MAX;
    slirp_lib->pollfds_fill(inst->slirp, &timeout_ms, add_pollfd, inst);
    sync_interest(u, inst);
    slirp_lib->pollfds_poll(inst->slirp, 0, get_revents, inst);
    uint64_t deadline = monitor_now_ns() + (uint64_t)timeout_ms * NS_PER_MS;
    uint64_t timer = timers_next_ns(inst);
    set_deadline(inst, timer < deadline ? timer : deadline);
}

static int no_revents(int idx, void *opaque)
{
    (void)idx;
    (void)opaque;
    return 0;
}

static bool is_arp(const struct queued_frame *frame)
{
    struct frame_view view;
    return frame_view_parse(frame->data, frame->len, &view) == 0 && view.ethertype == ETHERTYPE_ARP;
}

/*
 * slirp holds an IP packet for an address missing from its 16-entry ARP
 * table, asks once, and retries only when its output queue runs again: at the
 * end of slirp_pollfds_poll. It never does so on an incoming ARP reply, and
 * drops the packet a second after asking. So run the output queue right after
 * every ARP frame (with select_error set, slirp_pollfds_poll touches no
 * socket: it only runs due TCP timers and the output queue). With an
 * instance per 16 VMs its table no longer thrashes, so this is mostly the
 * first exchange per VM.
 */
static void flush_held_packets(struct slirp_instance *inst)
{
    slirp_lib->pollfds_poll(inst->slirp, 1, no_revents, inst);
    atomic_fetch_add(&inst->uplink->arp_flushes, 1);
}

/*
 * Feeds every queued frame to its instance and marks that instance to run.
 * The slots between head and head + count belong to the consumer once
 * counted, so they are read without the lock; producers only ever write
 * beyond them. slirp may answer at once, and the switch may answer that (an
 * ARP reply) through slirp_transmit on this very thread, so the lock is never
 * held across slirp calls.
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
            if (!guest_sockets_admit(&u->sockets, frame->vm, frame->data, frame->len))
                continue;
            struct slirp_instance *inst = &u->instances[frame->vm / VMS_PER_INSTANCE];
            slirp_lib->input(inst->slirp, frame->data, frame->len);
            guest_sockets_handled(&u->sockets);
            if (is_arp(frame))
                flush_held_packets(inst);
            mark_pending(inst);
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

/* --- Other slirp callbacks --- */

static ssize_t send_to_lan(const void *buf, size_t len, void *opaque)
{
    struct slirp_instance *inst = opaque;
    atomic_fetch_add(&inst->uplink->from_host, 1);
    lan_input_from_uplink(inst->uplink->lan, buf, len);
    return (ssize_t)len;
}

static void report_guest_error(const char *msg, void *opaque)
{
    struct slirp_instance *inst = opaque;
    uint64_t seen = atomic_fetch_add(&inst->uplink->guest_errors, 1);
    if (seen < GUEST_ERRORS_SHOWN)
        fprintf(stderr, "denali: slirp: bad packet from a VM: %s\n", msg);
}

static int64_t clock_ns_cb(void *opaque)
{
    (void)opaque;
    return (int64_t)monitor_now_ns();
}

/* slirp has room toward the guest again and would poll more: only ever said on this thread. */
static void notify_cb(void *opaque)
{
    mark_pending(opaque);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = send_to_lan,
    .guest_error = report_guest_error,
    .clock_get_ns = clock_ns_cb,
    .timer_new = timer_create_cb,
    .timer_free = timer_free_cb,
    .timer_mod = timer_mod_cb,
    .register_poll_fd = poll_fd_registered,
    .unregister_poll_fd = poll_fd_unregistered,
    .notify = notify_cb,
};

/* --- The loop --- */

/* Milliseconds epoll_wait may sleep: until the earliest deadline, rounded up, or none if idle. */
static int wait_timeout_ms(const struct uplink_slirp *u)
{
    if (u->npending > 0)
        return 0;
    const struct sched_entity *first = timer_heap_peek(&u->deadlines);
    if (!first)
        return -1;
    uint64_t deadline = first->deadline;
    uint64_t now = monitor_now_ns();
    if (deadline <= now)
        return 0;
    uint64_t wait_ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
    return wait_ms > 1000 ? 1000 : (int)wait_ms;
}

static void take_ready(struct uplink_slirp *u, int ready)
{
    for (int i = 0; i < ready; i++) {
        uint64_t tag = u->events[i].data.u64;
        if (tag == WAKE_TAG) {
            uint64_t wakeups;
            ssize_t ignored = read(u->wake_fd, &wakeups, sizeof(wakeups));
            (void)ignored;
            continue;
        }
        if (tag >= u->nwatches || !u->watches[tag].owner)
            continue;
        struct fd_watch *watch = &u->watches[tag];
        watch->ready_events = u->events[i].events;
        watch->ready_round = u->round;
        mark_pending(watch->owner);
    }
}

/* Due instances leave the top of the heap until they have run and set a new deadline. */
static void take_due(struct uplink_slirp *u)
{
    uint64_t now = monitor_now_ns();
    struct sched_entity *first;
    while ((first = timer_heap_peek(&u->deadlines)) && first->deadline <= now) {
        struct slirp_instance *inst = instance_of(first);
        mark_pending(inst);
        set_deadline(inst, UINT64_MAX);
    }
}

/*
 * One round: wait for any instance's sockets, frames or deadline, then run
 * only the instances that have something to do.
 */
static void run_round(struct uplink_slirp *u)
{
    u->round++;
    int ready = epoll_wait(u->epoll_fd, u->events, EPOLL_BATCH, wait_timeout_ms(u));
    if (ready < 0) {
        if (errno != EINTR)
            atomic_fetch_add(&u->poll_failures, 1);
        ready = 0;
    }
    take_ready(u, ready);
    drain_queue(u);
    take_due(u);
    /* Instances that ask to run again while these run (notify) go to the next round. */
    struct slirp_instance **running = u->pending;
    uint32_t count = u->npending;
    u->pending = u->running;
    u->running = running;
    u->npending = 0;
    for (uint32_t i = 0; i < count; i++) {
        running[i]->pending = false;
        run_instance(u, running[i]);
    }
}

/* --- Startup on the slirp thread --- */

static struct in_addr lan_addr(uint32_t host_order)
{
    return (struct in_addr){.s_addr = htonl(host_order)};
}

/* Every instance has the same addresses, so the VMs see one gateway with one MAC. */
static Slirp *create_slirp(struct slirp_instance *inst)
{
    const struct lan *lan = inst->uplink->lan;
    SlirpConfig cfg = {
        .version = 4,
        .restricted = 0,
        .in_enabled = true,
        .vnetwork = lan_addr(lan->network),
        .vnetmask = lan_addr(lan->netmask),
        .vhost = lan_addr(lan->gateway),
        .in6_enabled = false,
        .vdhcp_start = lan_addr(lan->base + DHCP_START_HOST),
        .vnameserver = lan_addr(lan->base + NAMESERVER_HOST),
        .disable_dhcp = true,
        /*
         * The VMs' send MTU: slirp advertises the matching MSS, so a VM
         * answers in segments of up to 3,960 bytes (a 2,258-byte page in one);
         * it sends them at most the 1,460 bytes they advertise.
         */
        .if_mtu = DENALI_NET_TX_FRAME_MAX - ETHER_HDR_LEN,
        .if_mru = DENALI_NET_TX_FRAME_MAX - ETHER_HDR_LEN,
    };
    return slirp_lib->create(&cfg, &slirp_callbacks, inst);
}

static bool add_forwards(struct uplink_slirp *u)
{
    struct in_addr loopback = {.s_addr = htonl(INADDR_LOOPBACK)};
    for (size_t r = 0; r < u->nrules; r++) {
        const struct publish_rule *rule = &u->rules[r];
        for (unsigned i = 0; i < publish_port_count(rule); i++) {
            unsigned host_port = rule->host_first + i;
            struct in_addr guest = lan_addr(lan_vm_ipv4(u->lan, i));
            Slirp *slirp = u->instances[i / VMS_PER_INSTANCE].slirp;
            if (slirp_lib->add_hostfwd(slirp, 0, loopback, (int)host_port, guest,
                                       rule->guest_port) == 0)
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
    struct slirp_instance *inst = opaque;
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
        listen(fd, SOMAXCONN) != 0)
        atomic_fetch_add(&inst->uplink->backlog_failures, 1);
    return -1; /* not polled: the instance's first run fills afresh */
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
    for (uint32_t k = 0; k < u->instance_count; k++) {
        uint32_t timeout = 0;
        slirp_lib->pollfds_fill(u->instances[k].slirp, &timeout, widen_listen_backlog,
                                &u->instances[k]);
    }
}

/*
 * Tells instance k every address of its VMs with a gratuitous ARP, as if
 * each VM had announced itself, so slirp never has to hold a VM's first
 * packets while it asks (see flush_held_packets) and 1,000 VMs cost no
 * ARP exchanges at all.
 */
static void announce_vms(struct uplink_slirp *u, uint32_t k)
{
    static const uint8_t broadcast[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint32_t first = k * VMS_PER_INSTANCE;
    for (uint32_t vm = first; vm < u->lan->vm_count && vm < first + VMS_PER_INSTANCE; vm++) {
        struct frame_arp_party announced = {.ipv4 = lan_vm_ipv4(u->lan, vm)};
        lan_vm_mac(vm, announced.mac);
        /* Asking for its own address, with no target MAC: gratuitous. */
        struct frame_arp_party target = {.ipv4 = announced.ipv4};
        uint8_t frame[FRAME_ARP_LEN];
        frame_build_arp(frame, ARPOP_REQUEST, broadcast, &announced, &target);
        slirp_lib->input(u->instances[k].slirp, frame, sizeof(frame));
    }
}

static bool create_instances(struct uplink_slirp *u)
{
    for (uint32_t k = 0; k < u->instance_count; k++) {
        u->instances[k].slirp = create_slirp(&u->instances[k]);
        if (!u->instances[k].slirp) {
            (void)fail(u->start_err, u->start_errlen, "slirp: cannot set up user-mode networking");
            return false;
        }
        announce_vms(u, k);
    }
    return true;
}

static void cleanup_instances(struct uplink_slirp *u)
{
    for (uint32_t k = 0; k < u->instance_count; k++) {
        struct slirp_instance *inst = &u->instances[k];
        if (inst->slirp)
            slirp_lib->cleanup(inst->slirp);
        inst->slirp = NULL;
        timers_free_all(inst);
    }
}

static void *slirp_thread_main(void *arg)
{
    struct uplink_slirp *u = arg;
    if (!create_instances(u) || !add_forwards(u))
        u->start_failed = true;
    else
        widen_forward_backlogs(u);
    bool failed = u->start_failed;
    sem_post(&u->started); /* after this, u->rules and u->start_err belong to the caller again */
    /* Every deadline starts at zero: the first round runs each instance and fills the epoll set. */
    while (!failed && !atomic_load(&u->stopping))
        run_round(u);
    cleanup_instances(u);
    return NULL;
}

static void free_uplink(struct uplink_slirp *u)
{
    if (u->wake_fd >= 0)
        close(u->wake_fd);
    if (u->epoll_fd >= 0)
        close(u->epoll_fd);
    free(u->queue);
    guest_sockets_free(&u->sockets);
    if (u->instances) {
        for (uint32_t k = 0; k < u->instance_count; k++) {
            free(u->instances[k].pollfds);
            free(u->instances[k].watched);
        }
    }
    free(u->instances);
    timer_heap_free(&u->deadlines);
    free(u->pending);
    free(u->running);
    free(u->watches);
    free(u->events);
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

/* The instances, each in the deadline heap due at once: the first round runs them all. */
static bool alloc_instances(struct uplink_slirp *u)
{
    unsigned vm_count = u->lan->vm_count;
    u->instance_count = (vm_count + VMS_PER_INSTANCE - 1) / VMS_PER_INSTANCE;
    size_t slots = u->instance_count ? u->instance_count : 1;
    u->instances = calloc(slots, sizeof(*u->instances));
    u->pending = calloc(slots, sizeof(*u->pending));
    u->running = calloc(slots, sizeof(*u->running));
    u->events = calloc(EPOLL_BATCH, sizeof(*u->events));
    if (!u->instances || !u->pending || !u->running || !u->events)
        return false;
    for (uint32_t k = 0; k < u->instance_count; k++) {
        u->instances[k].uplink = u;
        sched_entity_init(&u->instances[k].sched);
        if (timer_heap_insert(&u->deadlines, &u->instances[k].sched, 0) < 0)
            return false;
    }
    return true;
}

static bool open_epoll_set(struct uplink_slirp *u)
{
    u->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (u->epoll_fd < 0)
        return false;
    struct epoll_event wake = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    return epoll_ctl(u->epoll_fd, EPOLL_CTL_ADD, u->wake_fd, &wake) == 0;
}

static struct uplink_slirp *alloc_uplink(struct lan *lan, char *err, size_t errlen)
{
    struct uplink_slirp *u = calloc(1, sizeof(*u));
    if (!u) {
        (void)fail(err, errlen, "slirp: out of memory");
        return NULL;
    }
    u->wake_fd = -1;
    u->epoll_fd = -1;
    pthread_mutex_init(&u->queue_lock, NULL);
    sem_init(&u->started, 0, 0);
    u->lan = lan;
    /*
     * 16 MiB, every slot written before it is read: malloc, so that only the
     * slots a run uses are ever touched (calloc from a heap GLib has already
     * used clears all of it, 4,000 page faults at every start).
     */
    u->queue = malloc(QUEUE_FRAMES * sizeof(*u->queue));
    u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!u->queue || u->wake_fd < 0) {
        (void)fail(err, errlen, "slirp: cannot set up the frame queue: %s", strerror(errno));
        free_uplink(u);
        return NULL;
    }
    struct rlimit nofile = {.rlim_cur = RLIM_INFINITY};
    getrlimit(RLIMIT_NOFILE, &nofile);
    uint32_t budget = guest_sockets_budget(nofile.rlim_cur, lan->vm_count);
    if (!alloc_instances(u) ||
        guest_sockets_init(&u->sockets, lan->vm_count, GUEST_SOCKETS_PER_VM, budget) < 0) {
        (void)fail(err, errlen, "slirp: out of memory");
        free_uplink(u);
        return NULL;
    }
    if (!open_epoll_set(u)) {
        (void)fail(err, errlen, "slirp: cannot set up its epoll set: %s", strerror(errno));
        free_uplink(u);
        return NULL;
    }
    u->base.transmit = slirp_transmit;
    u->base.stop = slirp_stop;
    frame_mac_from_u64(SLIRP_HOST_MAC_PREFIX << 32 | lan->gateway, u->base.mac);
    return u;
}

struct lan_uplink *uplink_slirp_start(struct lan *lan, const struct publish_rule *rules,
                                      size_t nrules, char *err, size_t errlen)
{
    /* lan_vm_ipv4 is only meaningful for VMs that exist. */
    if (publish_check(rules, nrules, lan->vm_count, err, errlen) != 0)
        return NULL;
    slirp_lib = slirp_library_load(err, errlen);
    if (!slirp_lib)
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
    fprintf(out,
            "denali-uplink: kind=slirp instances=%u to_host=%lu dropped_full=%lu "
            "dropped_oversize=%lu dropped_no_vm=%lu from_host=%lu arp_flushes=%lu "
            "guest_errors=%lu poll_failures=%lu backlog_failures=%lu guest_sockets_peak=%u "
            "guest_sockets_cap=%u/%u dropped_socket_cap=%lu\n",
            (unsigned)u->instance_count, (unsigned long)atomic_load(&u->to_host),
            (unsigned long)atomic_load(&u->dropped_full),
            (unsigned long)atomic_load(&u->dropped_oversize),
            (unsigned long)atomic_load(&u->dropped_no_vm),
            (unsigned long)atomic_load(&u->from_host), (unsigned long)atomic_load(&u->arp_flushes),
            (unsigned long)atomic_load(&u->guest_errors),
            (unsigned long)atomic_load(&u->poll_failures),
            (unsigned long)atomic_load(&u->backlog_failures),
            (unsigned)atomic_load(&u->sockets.peak), (unsigned)u->sockets.per_vm_cap,
            (unsigned)u->sockets.total_cap, (unsigned long)atomic_load(&u->sockets.refused));
}
