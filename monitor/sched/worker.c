/* Scheduling mechanism: worker threads that create, enter, preempt and sleep VMs (M:N over vCPUs).
 */
#include "sched/worker.h"
#include "sched/control.h"
#include "sched/snapshot_store.h"
#include "sched/hibernate.h"
#include "sched/pager.h"
#include "sched/residency.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sched/exit_handler.h"
#include "sched/vm.h"

/* Nothing to wake a worker that has no deadlines: it looks again this rarely. */
#define IDLE_POLL_NS          (60ull * 1000000000ull)
#define LIVE_LIMIT_BACKOFF_NS 1000000ull
#define HEAP_TRIM_GAP_NS      (10ull * 1000000000ull)
#define HEAP_TRIM_ROUNDS      3u
/* A hibernated VM's own deadlines come no sooner than this (events still wake it at once). */
#define HIBERNATED_TIMER_SLACK_MAX_NS (30ull * 1000000000ull)
/* --mem-limit: between two balloon requests, time for the guests to answer the first. */
#define PRESSURE_BATCH               64u /* VMs hibernated at most a tick for the limit */
#define GOVERN_REQUEST_GAP_NS        (200ull * 1000000ull)
#define GOVERN_PAGING_REQUEST_GAP_NS (30000ull * 1000000ull)
/* The watcher's round (progress, hibernation, memory), and its ticks for memory when paging. */
#define WATCH_ROUND_NS     (100l * 1000 * 1000)
#define WATCH_TICKS_PAGING 5u
/* A VM's reference bits are read (and cleared) at most this often, but when pages in use go. */
#define PAGING_SCAN_GAP_NS (250ull * 1000000ull)
/* Creating waits for paging at most this long without a page going out. */
#define CREATION_HOLD_MAX_NS (1000ull * 1000000ull)
/* Ticks in a row past the limit before paging takes pages in use as well. */
#define PAGING_PATIENCE_TICKS 5u
/* Paging aims this far under the limit, so that it is not back at it a tick later. */
#define PAGING_TARGET  0.9
#define PAGING_TRIGGER 0.95

/*
 * One scheduler shared by all workers: any worker runs any VM, so CPU-bound
 * VMs share all cores equally. Moving a vCPU between threads or CPUs costs
 * nothing measurable here: a vCPU alternating between two pinned threads
 * enters as fast as one that stays (both ~25 us per exit), and per-worker
 * queues with home workers made no difference at 1,000 VMs.
 */
struct scheduler {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct run_queue run_queue;
    struct timer_heap timers;
    uint32_t next_id; /* the next VM to create */
    /*
     * VMs a worker is creating, not yet live: no worker may end while one
     * is (a process platform clone's parent is the thread that started its
     * zygote, and that thread's end would kill it).
     */
    unsigned creating;
    struct vm **live;
    struct vm **by_id; /* live VMs by id, for waking a receiver of frames */
    size_t live_count;
    size_t live_capacity;
    unsigned sleeping;
    bool limit_enforced;
    struct monitor *monitor;
    struct worker *workers; /* for preempting one when an event is delivered immediately */
    unsigned worker_count;
    unsigned next_preempt;
};

struct worker {
    struct monitor *m;
    struct scheduler *s;
    pthread_t thread;
    timer_t quantum_timer;
    uint64_t exits;
    struct vm *current; /* the VM it runs now (changed under the scheduler lock) */
};

/* SLICE_ASIDE: paused by the daemon, neither queued nor asleep until resumed. */
enum slice_end { SLICE_YIELD, SLICE_SLEEP, SLICE_DONE, SLICE_ASIDE };

/* Read by the quantum signal handler, so they are per thread and async-signal-safe. */
static _Thread_local struct platform_vcpu *volatile current_vcpu;
static _Thread_local const struct platform_ops *current_ops;
static _Thread_local volatile sig_atomic_t slice_expired;
/* The worker this thread is, or NULL (the uplink's thread delivers frames too). */
static _Thread_local struct worker *this_worker;

static void on_quantum_signal(int sig)
{
    (void)sig;
    slice_expired = 1;
    struct platform_vcpu *vcpu = current_vcpu;
    if (vcpu)
        current_ops->vcpu_kick(vcpu);
}

static uint64_t virtual_now(const struct monitor *m)
{
    return monitor_now_ns() - m->epoch_ns;
}

static struct vm *vm_of(struct sched_entity *e)
{
    return (struct vm *)((char *)e - offsetof(struct vm, sched));
}

static bool time_limit_passed(const struct monitor *m, uint64_t vnow)
{
    uint64_t limit = atomic_load(&m->time_limit_ns);
    return limit && vnow >= limit;
}

static void arm_quantum(struct worker *w)
{
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(w->m->quantum_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(w->m->quantum_ns % 1000000000ull);
    slice_expired = 0;
    timer_settime(w->quantum_timer, 0, &its, NULL);
}

static void note_booted(struct monitor *m, struct vm *vm)
{
    vm->booted = true;
    uint64_t now = monitor_now_ns();
    uint64_t us = (now - vm->created_ns) / 1000;
    m->results[vm->id].boot_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (atomic_fetch_add(&m->booted, 1) + 1 == m->options->count)
        atomic_store(&m->all_booted_ns, now - m->epoch_ns);
    control_vm_event(m, vm->id, "started");
}

static void note_ready(struct monitor *m, struct vm *vm, uint64_t since_ns)
{
    uint64_t us = (monitor_now_ns() - since_ns) / 1000;
    m->results[vm->id].ready_us = us > UINT32_MAX ? UINT32_MAX : us ? (uint32_t)us : 1;
    control_vm_event(m, vm->id, "ready");
}

static void note_balloon(struct monitor *m, struct vm *vm, uint64_t since_ns)
{
    uint64_t us = (monitor_now_ns() - since_ns) / 1000;
    m->results[vm->id].balloon_us = us > UINT32_MAX ? UINT32_MAX : us ? (uint32_t)us : 1;
}

static void record(struct monitor *m, uint32_t id, enum vm_outcome outcome, int status,
                   const char *reason)
{
    struct vm_result *r = &m->results[id];
    r->outcome = (uint8_t)outcome;
    r->status = status;
    if (reason)
        r->reason = strdup(reason);
    atomic_fetch_add(&m->finished, 1);
    control_vm_ended(m, id, outcome, status, reason);
}

/* Ends a VM that no queue refers to any more; needs no lock. */
static void end_vm(struct monitor *m, struct vm *vm, enum vm_outcome outcome, int status,
                   const char *reason)
{
    if (!vm->hibernated)
        residency_leave(m);
    if (!vm->booted)
        note_booted(m, vm);
    console_flush(vm->console, vm->id, &vm->console_line);
    record(m, vm->id, outcome, status, reason);
    /* No other thread may write into the guest's memory once it goes back to the pool. */
    vm_devices_detach(vm->devices, vm);
    if (vm->pager)
        pager_detach(vm->paged_by, vm);
    vm_destroy(vm, m->platform);
    /* A VM ended while hibernated (a time limit, a signal) leaves its registers behind. */
    free(vm->hibernated);
    vm->hibernated = NULL;
    free(vm->swap_runs);
    vm->swap_runs = NULL;
    ram_pool_put(&m->ram, vm->mem.ram);
}

/* Called with the lock held: forgets a VM that end_vm has ended. */
static void forget_vm(struct monitor *m, struct scheduler *s, struct vm *vm)
{
    s->by_id[vm->id] = NULL;
    struct vm *moved = s->live[--s->live_count];
    s->live[vm->live_index] = moved;
    moved->live_index = vm->live_index;
    free(vm);
    atomic_fetch_sub(&m->live, 1);
}

static void wake_one(struct scheduler *s)
{
    if (s->sleeping)
        pthread_cond_signal(&s->wake);
}

/* Under the pager from its first instruction, so that --mem-limit holds at every fault. */
static void attach_pager(struct monitor *m, struct vm *vm)
{
    char err[200];
    if (pager_attach(m->pager, vm, err, sizeof(err)) < 0 &&
        atomic_fetch_add(&m->page_out_failures, 1) == 0)
        fprintf(stderr, "denali: vm %u runs unpaged until its first page-out: %s\n", vm->id, err);
}

/* Called without the lock: makes VM id and queues it. */
static void create_vm(struct worker *w, uint32_t id)
{
    struct monitor *m = w->m;
    struct scheduler *s = w->s;
    char err[256] = "could not create VM: out of memory";
    struct vm *vm = calloc(1, sizeof(*vm));
    uint8_t *ram = vm ? ram_pool_get(&m->ram) : NULL;
    if (vm && ram) {
        vm->created_ns = monitor_now_ns();
        vm->last_used_ns = vm->created_ns;
        vm->console = &m->console;
        int rc;
        bool cloned = m->snapshot != NULL;
        if (cloned) {
            rc = vm_clone(vm, m->platform, &m->image, m->snapshot, id, m->options->count, ram, err,
                          sizeof(err));
        } else if (m->options->clone && id != 0) {
            snprintf(err, sizeof(err), "not cloned: vm 0 ended before its ready call");
            rc = -1;
        } else {
            rc = vm_boot(vm, m->platform, &m->image, id, m->options->count, ram, err, sizeof(err));
        }
        if (rc == 0 && m->pager) {
            vm->paged_by = m->pager;
            vm->mem.make_resident = pager_resident_hook;
            vm->mem.resident_ctx = vm;
            /* A clone's memory is the snapshot's, copy-on-write: not paged. */
            if (!cloned)
                attach_pager(m, vm);
        }
        if (rc == 0) {
            vm->devices = &m->devices;
            vm_devices_attach(vm->devices, vm);
            if (cloned) {
                vm_devices_resume_clone(vm->devices, vm, m->snapshot);
                vm->clone_requested_ns = vm->created_ns;
            }
            pthread_mutex_lock(&s->lock);
            bool room = true;
            if (s->live_count == s->live_capacity) {
                size_t capacity = s->live_capacity ? 2 * s->live_capacity : 256;
                struct vm **live = realloc(s->live, capacity * sizeof(*live));
                if (live) {
                    s->live = live;
                    s->live_capacity = capacity;
                } else {
                    room = false;
                }
            }
            if (room) {
                vm->live_index = s->live_count;
                s->live[s->live_count++] = vm;
                s->by_id[id] = vm;
                s->creating--;
                control_vm_created(m, vm);
                run_queue_push_front(&s->run_queue, &vm->sched);
                wake_one(s);
                pthread_mutex_unlock(&s->lock);
                return;
            }
            pthread_mutex_unlock(&s->lock);
            vm_destroy(vm, m->platform);
        }
    }
    if (ram)
        ram_pool_put(&m->ram, ram);
    free(vm);
    atomic_fetch_add(&m->booted, 1);
    record(m, id, OUTCOME_STOPPED, 0, err);
    atomic_fetch_sub(&m->live, 1);
    residency_leave(m);
    pthread_mutex_lock(&s->lock);
    s->creating--;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

static void enter(struct worker *w, struct vm *vm, struct vm_exit *exit)
{
    vm->vregs->time_ns = virtual_now(w->m);
    if (vm->in_idle) {
        vm->has_result = true;
        vm->result = atomic_exchange(&vm->pending_events, 0);
        vm->in_idle = false;
        /*
         * Only a wake-up by something from outside (a frame, a request)
         * counts as use: a server that wakes on its own timers to find
         * nothing to do is idle, as hibernation and paging see it. A
         * balloon request wakes every VM at once, so it does not count.
         */
        if (vm->result & ~(DENALI_EVENT_TIMER | DENALI_EVENT_BALLOON))
            vm->last_used_ns = monitor_now_ns();
    }
    /* Only now, with the events taken (the device may re-arm its wake-ups). */
    vm_devices_before_entry(vm->devices, vm);
    vm->vregs->events = atomic_load(&vm->pending_events);
    const struct platform_ops *ops = w->m->platform->ops;
    if (vm->has_result)
        ops->vcpu_set_result(vm->vcpu, vm->result);
    current_ops = ops;
    current_vcpu = vm->vcpu;
    /*
     * The quantum may have run out since run_slice looked, while no vCPU
     * was current to kick: the one-shot timer would not fire again, and a
     * guest that never exits would keep this worker for good.
     */
    if (slice_expired)
        ops->vcpu_kick(vm->vcpu);
    ops->vcpu_run(vm->vcpu, exit);
    current_vcpu = NULL;
    vm->exits++;
    /*
     * A signal can end a run before the guest took its registers; then the
     * result is still owed. Once taken, re-sending it would clobber %rax.
     */
    vm->has_result = vm->has_result && ops->vcpu_result_pending(vm->vcpu);
    w->exits++;
}

/* At the end of a quantum: does anything else deserve this worker? */
static bool others_waiting(struct worker *w)
{
    struct scheduler *s = w->s;
    uint64_t vnow = virtual_now(w->m);
    pthread_mutex_lock(&s->lock);
    struct sched_entity *first = timer_heap_peek(&s->timers);
    bool waiting = s->run_queue.length > 0 || (first && first->deadline <= vnow) ||
                   (s->next_id < w->m->options->count && !s->limit_enforced);
    pthread_mutex_unlock(&s->lock);
    return waiting;
}

/*
 * The devices' work at every exit (the NIC drains its tx ring, the disks
 * serve their request ring); -1: the VM was stopped for it.
 */
static int device_after_exit(struct monitor *m, struct vm *vm)
{
    const char *reason = NULL;
    if (vm_devices_after_exit(vm->devices, vm, &reason) >= 0)
        return 0;
    end_vm(m, vm, OUTCOME_STOPPED, 0, reason ? reason : "device rules broken");
    return -1;
}

/* Runs vm until it yields, idles or ends; never holds the lock. */
/* `denali snapshot`: VM 0 at its ready call, into the file -o named. */
static int save_snapshot(struct monitor *m, struct vm *vm, char *why, size_t whylen)
{
    struct platform_snapshot *snap = calloc(1, sizeof(*snap));
    if (!snap) {
        snprintf(why, whylen, "snapshot: out of memory");
        return -1;
    }
    int rc = vm_snapshot_take(vm, m->platform, snap, why, whylen);
    if (rc == 0) {
        rc = snapshot_store_save(m->options->snapshot_out, snap, &m->image, vm->mem.ram, why,
                                 whylen);
        close(snap->memfd);
    }
    free(snap);
    if (rc == 0)
        m->snapshot_written = true;
    return rc;
}

/*
 * --clone: VM 0 reached its ready call. Snapshot it, let the other VMs be
 * created as clones, and make VM 0 itself a clone too, so that every VM
 * shares the snapshot's pages and gets its own identity the same way.
 */
static int become_template(struct worker *w, struct vm *vm, char *why, size_t whylen)
{
    struct monitor *m = w->m;
    struct platform_snapshot *snap = calloc(1, sizeof(*snap));
    if (!snap) {
        snprintf(why, whylen, "snapshot: out of memory");
        return -1;
    }
    char err[160];
    if (vm_snapshot_take(vm, m->platform, snap, err, sizeof(err)) < 0) {
        snprintf(why, whylen, "%s", err);
        free(snap);
        return -1;
    }
    vm_become_clone(vm, m->platform, &m->image, snap, m->options->count, err, sizeof(err));
    if (!vm->vcpu) {
        snprintf(why, whylen, "%s", err);
        close(snap->memfd);
        free(snap);
        return -1;
    }
    vm->has_result = false; /* the clone's first entry returns 1 from the ready call itself */
    vm->clone_requested_ns = monitor_now_ns();
    pthread_mutex_lock(&w->s->lock);
    m->snapshot = snap;
    pthread_cond_broadcast(&w->s->wake);
    pthread_mutex_unlock(&w->s->lock);
    return 0;
}

/*
 * How late a hibernated VM's own deadlines may come: ten times the idleness
 * that sent it to swap, at most 30 s; 1 s for one sent there by
 * --mem-limit's pressure alone.
 */
static uint64_t hibernated_timer_slack_ns(const struct monitor *m)
{
    double after = m->options->hibernate_after_s;
    if (after <= 0)
        return 1000000000ull;
    uint64_t slack = (uint64_t)(after * 10 * 1e9);
    return slack < HIBERNATED_TIMER_SLACK_MAX_NS ? slack : HIBERNATED_TIMER_SLACK_MAX_NS;
}

/* What a device may give back of a hibernated VM's slot. */
struct slot_release {
    struct ram_pool *pool;
    uint8_t *ram;
};

static int release_slot_pages(void *ctx, uint64_t gpa, uint64_t len)
{
    struct slot_release *r = ctx;
    return ram_pool_release(r->pool, r->ram, gpa, len) < 0 ? -1 : 0;
}

/*
 * --hibernate-after: the watcher asked for vm, asleep in an idle, to go to
 * swap; a worker does it while it owns the VM. False when it stays in
 * memory (an event came meanwhile, or the swap file would not take it).
 */
static bool hibernate(struct worker *w, struct vm *vm)
{
    struct monitor *m = w->m;
    vm->hibernate_asked = false;
    if (vm->hibernated || !vm->in_idle || atomic_load(&vm->pending_events))
        return false;
    /* Its paged-out pages first: hibernation saves what is in memory (run_slice stops a failure).
     */
    if (vm->pager && pager_make_resident(m->pager, vm, 0, vm->mem.layout->mem_size) < 0)
        return false;
    char err[200];
    if (vm_hibernate(vm, m->platform, &m->ram, m->swap_fd, err, sizeof(err)) < 0) {
        if (atomic_fetch_add(&m->hibernate_failures, 1) == 0)
            fprintf(stderr, "denali: vm %u stays in memory: %s\n", vm->id, err);
        return false;
    }
    atomic_fetch_add(&m->hibernations, 1);
    struct slot_release release = {.pool = &m->ram, .ram = vm->mem.ram};
    vm_devices_hibernated(vm->devices, vm, release_slot_pages, &release);
    control_vm_event(m, vm->id, "hibernated");
    if (vm->pager)
        pager_detach(m->pager, vm);
    vm->page_out_asked = 0;
    vm->resident_guess = 0;
    residency_leave(m);
    /*
     * Its own timers wake it late: a server's poll timeout or a TCP timer
     * of a connection long idle would otherwise bring each hibernated VM
     * back every second or so, and a tail of thousands would thrash. A
     * deadline means "not before" (an idle may always end late), and
     * anything from outside still wakes it at once.
     */
    uint64_t late = virtual_now(m) + hibernated_timer_slack_ns(m);
    if (vm->sleep_deadline != DENALI_DEADLINE_NONE && vm->sleep_deadline < late)
        vm->sleep_deadline = late;
    return true;
}

/* A hibernated VM was woken: back into memory, or stopped with the reason. */
static bool wake(struct worker *w, struct vm *vm)
{
    struct monitor *m = w->m;
    char err[200];
    residency_enter(m);
    if (vm_wake(vm, m->platform, &m->ram, &m->image, m->swap_fd, err, sizeof(err)) < 0) {
        char reason[240];
        snprintf(reason, sizeof(reason), "could not wake from hibernation: %s", err);
        free(vm->hibernated);
        vm->hibernated = NULL;
        end_vm(m, vm, OUTCOME_STOPPED, 0, reason);
        return false;
    }
    atomic_fetch_add(&m->wakes, 1);
    control_vm_event(m, vm->id, "woken");
    if (m->pager)
        attach_pager(m, vm);
    return true;
}

/*
 * --mem-limit with --swap: the watcher asked for pages of vm out; a worker
 * does it while it owns the VM. True when the VM goes back to sleep (it
 * was asleep in an idle with nothing pending), false when it runs now.
 */
static bool page_out(struct worker *w, struct vm *vm)
{
    struct monitor *m = w->m;
    uint64_t want = vm->page_out_asked;
    vm->page_out_asked = 0;
    /* Attached at creation, a VM is paged from its first instruction: booted or not. */
    if ((vm->booted || vm->pager) && !vm->clone_of && !pager_failure(vm)) {
        char err[200];
        if (pager_page_out(m->pager, vm, want, vm->page_out_even_used, err, sizeof(err)) < 0 &&
            atomic_fetch_add(&m->page_out_failures, 1) == 0)
            fprintf(stderr, "denali: vm %u keeps its pages in memory: %s\n", vm->id, err);
    }
    return vm->in_idle && !atomic_load(&vm->pending_events);
}

static enum slice_end run_slice(struct worker *w, struct vm *vm, uint64_t *deadline)
{
    struct monitor *m = w->m;
    arm_quantum(w);
    for (;;) {
        if (slice_expired) {
            /* A VM that keeps the CPU a whole quantum is in use, as much as one woken by a frame.
             */
            vm->last_used_ns = monitor_now_ns();
            if (time_limit_passed(m, virtual_now(m))) {
                end_vm(m, vm, OUTCOME_STOPPED, 0, atomic_load(&m->stop_reason));
                return SLICE_DONE;
            }
            /* The watcher wants pages of it out: that happens between two slices; so do the
             * daemon's pause and kill. */
            if (others_waiting(w) || vm->page_out_asked || vm->paused || vm->kill_asked)
                return SLICE_YIELD;
            arm_quantum(w);
        }
        struct vm_exit exit;
        enter(w, vm, &exit);
        const char *lost = pager_failure(vm);
        if (lost) {
            end_vm(m, vm, OUTCOME_STOPPED, 0, lost);
            return SLICE_DONE;
        }
        if (!vm->booted && exit.kind != VM_EXIT_INTERRUPTED)
            note_booted(m, vm);
        if (vm->clone_requested_ns && exit.kind != VM_EXIT_INTERRUPTED) {
            note_ready(m, vm, vm->clone_requested_ns);
            vm->clone_requested_ns = 0;
        }
        if (device_after_exit(m, vm) < 0)
            return SLICE_DONE;
        struct vm_decision d;
        exit_handler_decide(vm, &exit, &d);
        switch (d.action) {
        case ACTION_RESUME:
            vm->has_result = true;
            vm->result = d.result;
            break;
        case ACTION_YIELD:
            slice_expired = 1;
            break;
        case ACTION_IDLE:
            /* A VM that idles having seen the request has answered it as far as it will. */
            if (!(atomic_load(&vm->pending_events) & DENALI_EVENT_BALLOON))
                atomic_store(&vm->balloon_requested_ns, 0);
            vm->in_idle = true;
            if (d.deadline <= virtual_now(m))
                atomic_fetch_or(&vm->pending_events, DENALI_EVENT_TIMER);
            /* Input still waits for it (frames outside its ring): run it again to take them. */
            uint64_t waiting = vm_devices_going_idle(vm->devices, vm, d.idle_flags);
            if (waiting)
                atomic_fetch_or(&vm->pending_events, waiting);
            if (atomic_load(&vm->pending_events))
                break;
            *deadline = d.deadline;
            return SLICE_SLEEP;
        case ACTION_READY:
            vm->has_result = true;
            vm->result = 0;
            if (!m->results[vm->id].ready_us)
                note_ready(m, vm, vm->created_ns);
            if (vm->id == 0 && !m->snapshot && (m->options->clone || m->options->snapshot_out)) {
                char why[200];
                if (m->options->snapshot_out) {
                    /* `denali snapshot`: the file is the VM's whole purpose; it ends here. */
                    if (save_snapshot(m, vm, why, sizeof(why)) < 0)
                        end_vm(m, vm, OUTCOME_STOPPED, 0, why);
                    else
                        end_vm(m, vm, OUTCOME_EXITED, 0, NULL);
                    return SLICE_DONE;
                }
                if (become_template(w, vm, why, sizeof(why)) < 0) {
                    end_vm(m, vm, OUTCOME_STOPPED, 0, why);
                    return SLICE_DONE;
                }
            }
            break;
        case ACTION_RELEASE: {
            if (vm->pager)
                pager_forget(m->pager, vm, d.release_gpa, d.release_len);
            int rc = ram_pool_release(&m->ram, vm->mem.ram, d.release_gpa, d.release_len);
            /*
             * A kvm clone's own pages are the monitor's copy-on-write view, which a shared
             * pool's hole does not reach; elsewhere this only drops the monitor's own entries.
             */
            if (rc == 0 && vm->clone_of)
                madvise(vm->mem.ram + d.release_gpa, d.release_len, MADV_DONTNEED);
            vm->has_result = true;
            vm->result = rc < 0 ? (uint64_t)-DENALI_EINVAL : 0;
            if (rc == 0)
                atomic_fetch_add(&m->balloon_released, d.release_len);
            /* Until it idles again, each range it gives moves the answer's end. */
            uint64_t asked = atomic_load(&vm->balloon_requested_ns);
            if (asked)
                note_balloon(m, vm, asked);
            break;
        }
        case ACTION_EXIT:
            end_vm(m, vm, OUTCOME_EXITED, d.status, NULL);
            return SLICE_DONE;
        case ACTION_STOP:
            end_vm(m, vm, OUTCOME_STOPPED, 0, d.reason);
            return SLICE_DONE;
        }
    }
}

/* Called with the lock held: a VM neither running nor queued goes off its timer, onto the queue. */
static bool queue_if_asleep(struct scheduler *s, struct vm *vm)
{
    /* A paused VM takes its events when resumed (a kill must still reach a worker). */
    if (vm->running || vm->sched.on_run_queue || (vm->paused && !vm->kill_asked))
        return false;
    timer_heap_remove(&s->timers, &vm->sched);
    run_queue_push(&s->run_queue, &vm->sched);
    return true;
}

/*
 * Called with the lock held: for immediate delivery, a worker running some
 * other VM gives it up now, as an interrupt would force a switch.
 */
static void preempt_for(struct scheduler *s, const struct vm *receiver)
{
    if (this_worker) {
        slice_expired = 1; /* the sender's own worker: it yields after this exit */
        return;
    }
    if (s->sleeping) {
        wake_one(s);
        return;
    }
    for (unsigned i = 0; i < s->worker_count; i++) {
        struct worker *w = &s->workers[(s->next_preempt + i) % s->worker_count];
        if (w->current && w->current != receiver) {
            s->next_preempt = (unsigned)(w - s->workers) + 1;
            pthread_kill(w->thread, SIGUSR1);
            return;
        }
    }
}

void workers_deliver_events(struct monitor *m, uint32_t vm_id, uint64_t events, bool immediate)
{
    struct scheduler *s = m->scheduler;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    struct vm *vm = s->by_id[vm_id];
    if (vm) {
        atomic_fetch_or(&vm->pending_events, events);
        if (immediate && !vm->running) {
            /* Every frame is an interrupt that switches to its receiver now. */
            if (!vm->sched.on_run_queue) {
                timer_heap_remove(&s->timers, &vm->sched);
                run_queue_push_front(&s->run_queue, &vm->sched);
            }
            preempt_for(s, vm);
        } else if (queue_if_asleep(s, vm)) {
            wake_one(s);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/*
 * The platform found VM vm_id's vCPU dead or misbehaving while it slept:
 * run it now, so that its worker hears why and stops it (called from any
 * thread).
 */
static void wake_for_platform(void *ctx, uint32_t vm_id)
{
    struct scheduler *s = ctx;
    pthread_mutex_lock(&s->lock);
    struct vm *vm = s->by_id[vm_id];
    if (vm && queue_if_asleep(s, vm))
        wake_one(s);
    pthread_mutex_unlock(&s->lock);
}

/* Called with the lock held. */
static void wake_due(struct scheduler *s, uint64_t vnow)
{
    struct sched_entity *e;
    while ((e = timer_heap_pop_expired(&s->timers, vnow))) {
        atomic_fetch_or(&vm_of(e)->pending_events, DENALI_EVENT_TIMER);
        run_queue_push(&s->run_queue, e);
    }
}

/* Called with the lock held: stops every VM not running now and every VM not yet created. */
static void enforce_time_limit(struct monitor *m, struct scheduler *s)
{
    s->limit_enforced = true;
    while (run_queue_pop(&s->run_queue))
        ;
    for (size_t i = s->live_count; i-- > 0;) {
        struct vm *vm = s->live[i];
        if (vm->running)
            continue; /* its worker stops it at the end of its quantum */
        timer_heap_remove(&s->timers, &vm->sched);
        end_vm(m, vm, OUTCOME_STOPPED, 0, atomic_load(&m->stop_reason));
        forget_vm(m, s, vm);
    }
    for (; s->next_id < m->options->count; s->next_id++) {
        atomic_fetch_add(&m->booted, 1);
        record(m, s->next_id, OUTCOME_STOPPED, 0, "stopped before it started");
    }
}

static bool reserve_live_slot(struct monitor *m)
{
    if (!residency_reserve(m)) /* room in memory: hibernated VMs take none */
        return false;
    unsigned live = atomic_load(&m->live);
    while (live < m->max_live)
        if (atomic_compare_exchange_weak(&m->live, &live, live + 1))
            return true;
    residency_leave(m);
    return false;
}

/* Called with the lock held: sleeps until vtarget or a wake-up. */
static void wait_until(struct worker *w, uint64_t vtarget)
{
    struct scheduler *s = w->s;
    uint64_t target = w->m->epoch_ns + vtarget;
    struct timespec ts = {.tv_sec = (time_t)(target / 1000000000ull),
                          .tv_nsec = (long)(target % 1000000000ull)};
    s->sleeping++;
    pthread_cond_timedwait(&s->wake, &s->lock, &ts);
    s->sleeping--;
}

/*
 * The monitor's heap keeps what it has freed (what slirp's closed connections
 * held: 16 of the 39 MB of 1,000 web servers after a light load) until
 * malloc_trim gives it back. A worker about to wait with nothing to run does
 * that HEAP_TRIM_ROUNDS times after VMs last ran (slirp frees a closed
 * connection's memory only when its TIME-WAIT ends, seconds later), at most
 * every HEAP_TRIM_GAP_NS and without the scheduler's lock (about 0.1 ms for
 * that heap). Returns 0 when it
 * trimmed (the caller looks at the queues again), else when to wake (virtual
 * ns): vwake, or sooner for a trim that is due later.
 */
static _Atomic unsigned heap_trims_due;
static uint64_t trim_heap_or_wake(struct monitor *m, struct scheduler *s, uint64_t vwake)
{
    static _Atomic uint64_t last_ns;
    unsigned due_trims = atomic_load_explicit(&heap_trims_due, memory_order_relaxed);
    if (due_trims == 0)
        return vwake;
    uint64_t now = monitor_now_ns(), last = atomic_load(&last_ns);
    if (now - last < HEAP_TRIM_GAP_NS) {
        uint64_t due = last + HEAP_TRIM_GAP_NS - m->epoch_ns;
        return due < vwake ? due : vwake;
    }
    if (!atomic_compare_exchange_strong(&last_ns, &last, now))
        return vwake;
    atomic_compare_exchange_strong(&heap_trims_due, &due_trims, due_trims - 1);
    pthread_mutex_unlock(&s->lock);
    malloc_trim(0);
    pthread_mutex_lock(&s->lock);
    return 0;
}

static uint64_t next_wake(const struct monitor *m, const struct scheduler *s, uint64_t vnow)
{
    uint64_t wake = vnow + IDLE_POLL_NS;
    struct sched_entity *first = timer_heap_peek(&s->timers);
    if (first && first->deadline < wake)
        wake = first->deadline;
    uint64_t limit = atomic_load(&m->time_limit_ns);
    if (limit && !s->limit_enforced && limit < wake)
        wake = limit;
    return wake;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    this_worker = w;
    struct monitor *m = w->m;
    struct scheduler *s = w->s;
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &w->quantum_timer) < 0) {
        perror("denali: timer_create");
        abort();
    }
    const uint32_t count = m->options->count;
    bool created = false; /* on this worker's last turn */
    pthread_mutex_lock(&s->lock);
    for (;;) {
        uint64_t vnow = virtual_now(m);
        if (time_limit_passed(m, vnow) && !s->limit_enforced)
            enforce_time_limit(m, s);
        wake_due(s, vnow);
        /*
         * Creating comes first so that booting many VMs is not held back by running ones, but
         * takes every other turn while others wait: VMs already made (to hibernate, woken by a
         * frame) are not held back by booting either.
         */
        bool blocked_on_room = false, my_turn = !created || s->run_queue.length == 0;
        created = false;
        /* --clone: the others wait for VM 0's snapshot (or its end without one). */
        bool blocked_on_template =
            m->options->clone && s->next_id == 1 && !m->snapshot && !m->template_ended;
        if (s->next_id < count && !blocked_on_template && my_turn) {
            if (atomic_load(&m->creation_held)) {
                blocked_on_room = true; /* paging catches up with the limit first */
            } else if (reserve_live_slot(m)) {
                uint32_t id = s->next_id++;
                s->creating++;
                pthread_mutex_unlock(&s->lock);
                create_vm(w, id);
                pthread_mutex_lock(&s->lock);
                created = true;
            } else {
                blocked_on_room = true;
            }
        }
        struct sched_entity *e = run_queue_pop(&s->run_queue);
        if (e) {
            struct vm *vm = vm_of(e);
            vm->running = true;
            w->current = vm;
            pthread_mutex_unlock(&s->lock);
            uint64_t deadline = 0;
            enum slice_end end;
            if (vm->kill_asked) {
                end_vm(m, vm, OUTCOME_STOPPED, VM_STATUS_KILLED, vm->kill_reason);
                end = SLICE_DONE;
            } else if (vm->paused) {
                end = SLICE_ASIDE;
            } else if (vm->hibernate_asked && hibernate(w, vm)) {
                /* Back to sleep, out of memory, until its deadline or an event. */
                deadline = vm->sleep_deadline;
                end = SLICE_SLEEP;
            } else if (vm->hibernated && !wake(w, vm)) {
                end = SLICE_DONE;
            } else if (vm->page_out_asked && page_out(w, vm)) {
                deadline = vm->sleep_deadline;
                end = SLICE_SLEEP;
            } else {
                vm->last_run_ns = monitor_now_ns();
                if (atomic_load_explicit(&heap_trims_due, memory_order_relaxed) != HEAP_TRIM_ROUNDS)
                    atomic_store_explicit(&heap_trims_due, HEAP_TRIM_ROUNDS, memory_order_relaxed);
                end = run_slice(w, vm, &deadline);
            }
            pthread_mutex_lock(&s->lock);
            vm->running = false;
            w->current = NULL;
            if (end == SLICE_SLEEP)
                vm->sleep_deadline = deadline; /* to put it back to sleep the same way */
            if (end != SLICE_DONE && s->limit_enforced) {
                /* The limit passed while it ran: enforce_time_limit left it to us. */
                end_vm(m, vm, OUTCOME_STOPPED, 0, atomic_load(&m->stop_reason));
                end = SLICE_DONE;
            } else if (end != SLICE_DONE && vm->kill_asked) {
                /* Asked while it ran and went to sleep before its worker saw it. */
                end_vm(m, vm, OUTCOME_STOPPED, VM_STATUS_KILLED, vm->kill_reason);
                end = SLICE_DONE;
            } else if (end != SLICE_DONE && vm->paused) {
                end = SLICE_ASIDE; /* resuming queues it; until then no event or timer does */
            }
            if (end == SLICE_DONE) {
                if (m->options->clone && vm->id == 0 && !m->template_ended) {
                    m->template_ended = true;
                    pthread_cond_broadcast(&s->wake);
                }
                forget_vm(m, s, vm);
                if (s->next_id >= count && s->live_count == 0 && s->creating == 0)
                    pthread_cond_broadcast(&s->wake);
            } else if (end == SLICE_ASIDE) {
                /* Off every queue: a resume (or a kill) hands it to a worker again. */
            } else if (end == SLICE_YIELD) {
                run_queue_push(&s->run_queue, &vm->sched);
            } else if (atomic_load(&vm->pending_events)) {
                /* An event came while it was going to sleep (wake_for_frames saw it running). */
                run_queue_push(&s->run_queue, &vm->sched);

            } else if (deadline != DENALI_DEADLINE_NONE &&
                       timer_heap_insert(&s->timers, &vm->sched, deadline) < 0) {
                /* Without room in the heap a spurious wake-up is the safe answer. */
                atomic_fetch_or(&vm->pending_events, DENALI_EVENT_TIMER);
                run_queue_push(&s->run_queue, &vm->sched);
            }
            continue;
        }
        if (s->next_id >= count && s->live_count == 0 && s->creating == 0)
            break;
        if (blocked_on_room)
            wait_until(w, vnow + LIVE_LIMIT_BACKOFF_NS);
        else if (s->next_id >= count || blocked_on_template) {
            uint64_t vwake = trim_heap_or_wake(m, s, next_wake(m, s, vnow));
            if (vwake)
                wait_until(w, vwake);
        }
    }
    pthread_mutex_unlock(&s->lock);
    timer_delete(w->quantum_timer);
    return NULL;
}

struct progress_watch {
    struct monitor *m;
    void (*progress)(struct monitor *m);
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    _Atomic bool nudged; /* a fault waits for room: govern memory now, not at the next tick */
};

void workers_request_balloon(struct monitor *m, uint64_t pages)
{
    struct scheduler *s = m->scheduler;
    if (!s)
        return;
    uint64_t now = monitor_now_ns();
    atomic_fetch_add(&m->balloon_requests, 1);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->live_count; i++) {
        struct vm *vm = s->live[i];
        vm->vregs->balloon_pages = pages;
        uint64_t none = 0;
        atomic_compare_exchange_strong(&vm->balloon_requested_ns, &none, now);
        atomic_fetch_or(&vm->pending_events, DENALI_EVENT_BALLOON);
        queue_if_asleep(s, vm);
    }
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/*
 * --hibernate-after, on the watcher's tick: a VM asleep in an idle for that
 * long is handed to a worker (off its timer, onto the run queue) marked to
 * be hibernated rather than run; its deadline or an event wakes it later.
 */
/* Asleep in an idle, in memory, nothing pending: a VM a worker may hibernate (under the lock). */
static bool can_hibernate(const struct vm *vm)
{
    return !vm->running && !vm->sched.on_run_queue && !vm->hibernated && !vm->hibernate_asked &&
           vm->in_idle && !atomic_load(&vm->pending_events);
}

/* Hands vm to a worker, off its timer, marked to be hibernated rather than run (under the lock). */
static void ask_hibernate(struct scheduler *s, struct vm *vm)
{
    vm->hibernate_asked = true;
    timer_heap_remove(&s->timers, &vm->sched);
    run_queue_push(&s->run_queue, &vm->sched);
    wake_one(s);
}

static void hibernate_idle_vms(struct monitor *m)
{
    struct scheduler *s = m->scheduler;
    if (!s || m->options->hibernate_after_s <= 0)
        return;
    uint64_t after = (uint64_t)(m->options->hibernate_after_s * 1e9), now = monitor_now_ns();
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->live_count; i++) {
        struct vm *vm = s->live[i];
        if (can_hibernate(vm) && now - vm->last_used_ns >= after)
            ask_hibernate(s, vm);
    }
    pthread_mutex_unlock(&s->lock);
}

/*
 * Past the limit with a swap file: hibernates the least recently used VMs
 * asleep in an idle, as many as the excess needs at what each holds on
 * average, at most PRESSURE_BATCH a tick (Denali swapped whole VMs too).
 */
static unsigned hibernate_coldest(struct monitor *m, uint64_t excess, uint64_t held)
{
    struct scheduler *s = m->scheduler;
    if (!s || m->swap_fd < 0 || m->snapshot)
        return 0;
    unsigned asked = 0;
    pthread_mutex_lock(&s->lock);
    uint64_t per_vm = s->live_count ? held / s->live_count : held;
    uint64_t freed = 0;
    while (freed < excess && asked < PRESSURE_BATCH) {
        struct vm *coldest = NULL;
        for (size_t i = 0; i < s->live_count; i++) {
            struct vm *vm = s->live[i];
            if (can_hibernate(vm) && (!coldest || vm->last_used_ns < coldest->last_used_ns))
                coldest = vm;
        }
        if (!coldest)
            break;
        ask_hibernate(s, coldest);
        freed += per_vm ? per_vm : 1;
        asked++;
    }
    pthread_mutex_unlock(&s->lock);
    return asked;
}

/*
 * Least recently used first, then least recently run: the pager's clock
 * goes round the VMs in this order. Used means woken by something from
 * outside or busy a whole quantum: a server's own timers run it often
 * without making it popular (under a Zipf load every VM with a connection
 * ran at least every 250 ms, so the least recently run was no colder).
 */
static int by_last_use(const void *a, const void *b)
{
    const struct vm *x = *(struct vm *const *)a, *y = *(struct vm *const *)b;
    if (x->last_used_ns != y->last_used_ns)
        return x->last_used_ns < y->last_used_ns ? -1 : 1;
    return x->last_run_ns < y->last_run_ns ? -1 : x->last_run_ns > y->last_run_ns;
}

/*
 * Past the limit: asks the least recently used VMs for pages, as many as the excess (to
 * PAGING_TARGET of the limit) needs at what each held at its last scan, at most PRESSURE_BATCH a
 * tick. Each VM's own clock picks which (pager.c). Returns the VMs asked.
 */
static unsigned page_coldest(struct monitor *m, uint64_t held, uint64_t limit, bool even_used)
{
    struct scheduler *s = m->scheduler;
    if (!s || !m->pager)
        return 0;
    uint64_t goal = (uint64_t)((double)limit * PAGING_TARGET), now = monitor_now_ns();
    uint64_t left = held > goal ? (held - goal) / DENALI_PAGE_SIZE : 0;
    unsigned asked = 0;
    pthread_mutex_lock(&s->lock);
    struct vm **order = malloc(s->live_count * sizeof(*order));
    size_t n = 0;
    for (size_t i = 0; order && i < s->live_count; i++) {
        struct vm *vm = s->live[i];
        /* A scan clears the VM's reference bits: one too soon after the last learns nothing. */
        bool scanned_lately = now - vm->last_scan_ns < PAGING_SCAN_GAP_NS && !even_used;
        if ((vm->booted || vm->pager) && !vm->hibernated && !vm->hibernate_asked &&
            !vm->page_out_asked && !scanned_lately)
            order[n++] = vm;
    }
    if (order)
        qsort(order, n, sizeof(*order), by_last_use);
    uint64_t average = s->live_count ? held / DENALI_PAGE_SIZE / s->live_count : 0;
    for (size_t i = 0; i < n && left > 0 && asked < PRESSURE_BATCH; i++) {
        struct vm *vm = order[i];
        uint64_t guess = vm->resident_guess ? vm->resident_guess : average;
        uint64_t want = guess < left ? guess : left;
        if (!want)
            continue;
        /*
         * A clone's pages are the snapshot's and its own process's, where the
         * pager cannot take them one by one: it goes to swap whole, which
         * gathers them into its slot, and wakes as a VM of its own that pages
         * like any other. A clone that is busy now waits for a later tick.
         */
        if (vm->clone_of) {
            if (!can_hibernate(vm))
                continue;
            ask_hibernate(s, vm);
            vm->last_scan_ns = now;
            left -= want;
            asked++;
            continue;
        }
        vm->page_out_asked = want;
        vm->page_out_even_used = even_used;
        vm->last_scan_ns = now;
        queue_if_asleep(s, vm);
        left -= want;
        asked++;
    }
    if (asked)
        pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    free(order);
    return asked;
}

/*
 * With paging: new VMs wait while guest RAM is past the limit by half of it
 * and paging is still taking pages out (a second without a page out lets
 * them go, so a limit paging cannot reach never stops the fleet). Without
 * it, VMs filling their memory as they boot outran the pager: 1,507 VMs
 * filling 32 MiB under a 4 GiB limit held 15 GiB.
 */
static void hold_creation(struct monitor *m, uint64_t held, uint64_t limit)
{
    static uint64_t last_pages_out, last_progress_ns;
    if (!m->pager)
        return;
    uint64_t now = monitor_now_ns(), out = atomic_load(&m->pager->pages_out);
    if (out != last_pages_out || !last_progress_ns) {
        last_pages_out = out;
        last_progress_ns = now;
    }
    bool paging_works = now - last_progress_ns < CREATION_HOLD_MAX_NS;
    atomic_store(&m->creation_held, held > limit + limit / 2 && paging_works);
}

/*
 * --mem-limit, on the watcher's tick: guest memory above the limit first
 * asks every VM for its free pages back (ballooning), then, with --swap,
 * pages out the coldest pages of the least recently used VMs (or, on a
 * platform that cannot page, hibernates the least recently used idle VMs).
 * Still past the limit with nothing left to do, it says so once.
 */
static void govern_memory(struct monitor *m)
{
    uint64_t limit = m->options->mem_limit;
    if (!limit)
        return;
    uint64_t held = ram_pool_resident_bytes(&m->ram);
    /* Clones keep what they wrote in their own processes, outside the pool. */
    if (m->snapshot)
        held += m->platform->ops->private_bytes(m->platform);
    if (held > m->held_peak)
        m->held_peak = held;
    /*
     * WSClock's second chance: paging first takes only pages no guest
     * touched since its last scan. Pages in use go too once the limit has
     * been passed for PAGING_PATIENCE_TICKS ticks in a row (every VM busy
     * with all of its memory), or the limit would not hold.
     */
    static unsigned over_ticks;
    hold_creation(m, held, limit);
    /*
     * The pager keeps the limit at every fault (a fault that does not fit
     * waits), so guest RAM never passes it: paging starts short of it, at
     * PAGING_TRIGGER, and whenever a fault waits for room.
     */
    uint64_t trigger = m->pager ? (uint64_t)((double)limit * PAGING_TRIGGER) : limit;
    if (held <= trigger && !(m->pager && pager_waiting(m->pager))) {
        over_ticks = 0;
        return;
    }
    over_ticks++;
    static uint64_t last_request_ns;
    uint64_t now = monitor_now_ns();
    /*
     * Paging, where there is a pager; whole idle VMs otherwise. Under a
     * Zipf load, hibernating the least recently used idle VMs for pressure
     * thrashed (1,000 web servers over the limit: every request to the tail
     * restarted a process); paging takes only their cold pages.
     * --hibernate-after still hibernates VMs idle that long.
     */
    if (last_request_ns &&
        (m->pager ? page_coldest(m, held, limit, over_ticks > PAGING_PATIENCE_TICKS)
                  : hibernate_coldest(m, held - limit, held)))
        return;
    /*
     * With paging, rarely: a request wakes every VM, which touches pages
     * that were cold, and a guest soon touches the free pages it gave back
     * again (each then a fault). 96 web servers under a Zipf load served
     * 5,804 requests/s asked every 5 s, 7,364 asked once.
     */
    if (now - last_request_ns < (m->pager ? GOVERN_PAGING_REQUEST_GAP_NS : GOVERN_REQUEST_GAP_NS))
        return;
    /* With paging the next tick asks again; without, nothing else will happen. */
    if (last_request_ns && !m->over_limit_warned && !m->pager) {
        fprintf(stderr,
                "denali: --mem-limit: guests hold %lu MiB after ballooning%s, over the limit of "
                "%lu MiB\n",
                (unsigned long)(held >> 20),
                m->swap_fd >= 0 ? " and hibernating every idle VM" : " (no --swap to go to)",
                (unsigned long)(limit >> 20));
        m->over_limit_warned = true;
    }
    last_request_ns = now;
    workers_request_balloon(m, UINT64_MAX);
}

/*
 * The pager's want_room: called by its fault thread with the pager's lock
 * held, so it takes no lock (the watcher takes the pager's under its own);
 * a signal lost meanwhile costs a tick at most.
 */
static void nudge_watcher(void *ctx)
{
    struct progress_watch *p = ctx;
    atomic_store(&p->nudged, true);
    pthread_cond_signal(&p->done_cond);
}

static void *progress_main(void *arg)
{
    struct progress_watch *p = arg;
    /* Paging keeps the limit at a finer grain: a busy guest touches megabytes in 100 ms. */
    unsigned ticks_a_round = p->m->pager ? WATCH_TICKS_PAGING : 1;
    pthread_mutex_lock(&p->lock);
    for (unsigned tick_count = 0; !p->done; tick_count++) {
        struct timespec tick;
        clock_gettime(CLOCK_MONOTONIC, &tick);
        tick.tv_nsec += WATCH_ROUND_NS / ticks_a_round;
        if (tick.tv_nsec >= 1000000000) {
            tick.tv_sec++;
            tick.tv_nsec -= 1000000000;
        }
        int rc = pthread_cond_timedwait(&p->done_cond, &p->lock, &tick);
        bool nudged = atomic_exchange(&p->nudged, false);
        govern_memory(p->m);
        /* A nudge is not a tick: the progress line and idle hibernation keep their pace. */
        if (nudged && rc != ETIMEDOUT)
            tick_count--;
        if (tick_count % ticks_a_round)
            continue;
        if (p->progress)
            p->progress(p->m);
        hibernate_idle_vms(p->m);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void init_monotonic_cond(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

void workers_request_stop(struct monitor *m, const char *reason)
{
    atomic_store(&m->stop_reason, reason);
    atomic_store(&m->time_limit_ns, 1);
    struct scheduler *s = m->scheduler;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->wake);
    /* Now, not at the end of each running VM's quantum: a stop must not hang on one. */
    for (unsigned i = 0; i < s->worker_count; i++)
        if (s->workers[i].current)
            pthread_kill(s->workers[i].thread, SIGUSR1);
    pthread_mutex_unlock(&s->lock);
}

/* Called with the lock held: the worker running vm, if one is, gives it up now. */
static void interrupt_running(struct scheduler *s, const struct vm *vm)
{
    for (unsigned i = 0; i < s->worker_count; i++)
        if (s->workers[i].current == vm)
            pthread_kill(s->workers[i].thread, SIGUSR1);
}

/* Called with the lock held: the live VM id, or NULL with why in err. */
static struct vm *find_live(const struct monitor *m, const struct scheduler *s, uint32_t id,
                            char *err, size_t errlen)
{
    if (id >= m->options->count) {
        snprintf(err, errlen, "no vm %u: the fleet has %u", id, m->options->count);
        return NULL;
    }
    struct vm *vm = s->by_id[id];
    if (!vm)
        snprintf(err, errlen, "vm %u is not running (%s)", id,
                 id >= s->next_id ? "not created yet" : "it has ended");
    return vm;
}

int workers_control_vm(struct monitor *m, uint32_t id, enum vm_control_op op, const char *reason,
                       char *err, size_t errlen)
{
    struct scheduler *s = m->scheduler;
    if (!s) {
        snprintf(err, errlen, "the monitor is not running VMs");
        return -1;
    }
    pthread_mutex_lock(&s->lock);
    struct vm *vm = find_live(m, s, id, err, errlen);
    if (!vm) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    int rc = 0;
    const char *event = NULL;
    switch (op) {
    case VM_CONTROL_SHUTDOWN:
        atomic_fetch_or(&vm->pending_events, DENALI_EVENT_SHUTDOWN);
        if (queue_if_asleep(s, vm))
            wake_one(s);
        break;
    case VM_CONTROL_KILL:
        vm->kill_asked = true;
        vm->kill_reason = reason ? reason : "killed";
        if (vm->running)
            interrupt_running(s, vm);
        else if (queue_if_asleep(s, vm))
            wake_one(s);
        break;
    case VM_CONTROL_PAUSE:
        if (vm->paused) {
            snprintf(err, errlen, "vm %u is already paused", id);
            rc = -1;
            break;
        }
        vm->paused = true;
        if (vm->running) {
            interrupt_running(s, vm);
        } else if (!vm->sched.on_run_queue) {
            /* Asleep: off its timer now (a queued one is set aside when a worker takes it). */
            timer_heap_remove(&s->timers, &vm->sched);
        }
        event = "paused";
        break;
    case VM_CONTROL_RESUME:
        if (!vm->paused) {
            snprintf(err, errlen, "vm %u is not paused", id);
            rc = -1;
            break;
        }
        vm->paused = false;
        if (queue_if_asleep(s, vm))
            wake_one(s);
        event = "resumed";
        break;
    }
    pthread_mutex_unlock(&s->lock);
    if (event)
        control_vm_event(m, id, event);
    return rc;
}

static void fill_stats(const struct vm *vm, struct vm_stats *out)
{
    *out = (struct vm_stats){.id = vm->id, .exits = vm->exits};
    out->state = vm->paused ? "paused" : vm->hibernated ? "hibernated" : "running";
    out->memory_bytes = vm_resident_bytes(vm);
    vm_devices_counters(vm->devices, vm, &out->io);
}

int workers_vm_stats(struct monitor *m, uint32_t id, bool all,
                     void (*report)(void *ctx, const struct vm_stats *stats), void *ctx, char *err,
                     size_t errlen)
{
    struct scheduler *s = m->scheduler;
    if (!s) {
        snprintf(err, errlen, "the monitor is not running VMs");
        return -1;
    }
    int rc = 0;
    struct vm_stats stats;
    pthread_mutex_lock(&s->lock);
    if (all) {
        for (size_t i = 0; i < s->live_count; i++) {
            fill_stats(s->live[i], &stats);
            report(ctx, &stats);
        }
    } else {
        struct vm *vm = find_live(m, s, id, err, errlen);
        if (vm) {
            fill_stats(vm, &stats);
            report(ctx, &stats);
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int workers_run(struct monitor *m, void (*progress)(struct monitor *m))
{
    struct sigaction sa = {0};
    sa.sa_handler = on_quantum_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) < 0)
        return -1;
    struct scheduler s = {.monitor = m};
    s.by_id = calloc(m->options->count, sizeof(*s.by_id));
    if (!s.by_id)
        return -1;
    pthread_mutex_init(&s.lock, NULL);
    m->platform->wake_ctx = &s;
    m->platform->wake = wake_for_platform;
    if (!atomic_load(&m->stop_reason))
        atomic_store(&m->stop_reason, "time limit reached");
    m->scheduler = &s;
    init_monotonic_cond(&s.wake);
    struct worker *workers = calloc(m->worker_count, sizeof(*workers));
    if (!workers)
        return -1;
    s.workers = workers;
    s.worker_count = m->worker_count;
    struct progress_watch watch = {.m = m, .progress = progress};
    pthread_t watcher;
    bool watching = progress || m->options->mem_limit || m->options->hibernate_after_s > 0;
    if (watching) {
        pthread_mutex_init(&watch.lock, NULL);
        init_monotonic_cond(&watch.done_cond);
        if (pthread_create(&watcher, NULL, progress_main, &watch) != 0)
            watching = false;
    }
    if (watching && m->pager)
        pager_set_want_room(m->pager, nudge_watcher, &watch);
    for (unsigned i = 0; i < m->worker_count; i++) {
        workers[i].m = m;
        workers[i].s = &s;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            fprintf(stderr, "denali: cannot start worker thread %u\n", i);
            abort();
        }
    }
    uint64_t exits = 0;
    for (unsigned i = 0; i < m->worker_count; i++) {
        pthread_join(workers[i].thread, NULL);
        exits += workers[i].exits;
    }
    atomic_store(&m->exits, exits);
    if (watching && m->pager)
        pager_set_want_room(m->pager, NULL, NULL);
    if (watching) {
        pthread_mutex_lock(&watch.lock);
        watch.done = true;
        pthread_cond_signal(&watch.done_cond);
        pthread_mutex_unlock(&watch.lock);
        pthread_join(watcher, NULL);
    }
    m->platform->wake = NULL;
    m->scheduler = NULL;
    timer_heap_free(&s.timers);
    free(s.by_id);
    free(s.live);
    free(workers);
    return 0;
}
