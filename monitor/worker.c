/* Scheduling mechanism: worker threads that create, enter, preempt and sleep VMs (M:N over vCPUs).
 */
#include "worker.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exit_handler.h"
#include "vm.h"

#define IDLE_POLL_NS          1000000000ull
#define LIVE_LIMIT_BACKOFF_NS 1000000ull

struct worker {
    struct monitor *m;
    unsigned index;
    pthread_t thread;
    timer_t quantum_timer;
    struct run_queue run_queue;
    struct timer_heap timers;
    uint32_t next_id; /* this worker creates VMs next_id, next_id + workers, ... */
    struct vm **live;
    size_t live_count;
    size_t live_capacity;
    struct vm *slice_owner; /* the VM whose quantum the timer is measuring */
    uint64_t exits;
    sem_t *done;
};

/* Read by the quantum signal handler, so they are per thread and async-signal-safe. */
static _Thread_local struct kvm_run *volatile current_run;
static _Thread_local volatile sig_atomic_t slice_expired;

static void on_quantum_signal(int sig)
{
    (void)sig;
    slice_expired = 1;
    struct kvm_run *run = current_run;
    if (run)
        kvm_vcpu_kick(run);
}

uint64_t monitor_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t virtual_now(const struct monitor *m)
{
    return monitor_now_ns() - m->epoch_ns;
}

static struct vm *vm_of(struct sched_entity *e)
{
    return (struct vm *)((char *)e - offsetof(struct vm, sched));
}

static void arm_quantum(struct worker *w)
{
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(w->m->quantum_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(w->m->quantum_ns % 1000000000ull);
    slice_expired = 0;
    timer_settime(w->quantum_timer, 0, &its, NULL);
}

static bool has_pending_creations(const struct worker *w)
{
    return w->next_id < w->m->options->count;
}

static void note_booted(struct monitor *m, struct vm *vm)
{
    vm->booted = true;
    uint64_t now = monitor_now_ns();
    uint64_t us = (now - vm->created_ns) / 1000;
    m->results[vm->id].boot_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (atomic_fetch_add(&m->booted, 1) + 1 == m->options->count)
        atomic_store(&m->all_booted_ns, now - m->epoch_ns);
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
}

static void finish_vm(struct worker *w, struct vm *vm, enum vm_outcome outcome, int status,
                      const char *reason)
{
    struct monitor *m = w->m;
    if (!vm->booted)
        note_booted(m, vm);
    timer_heap_remove(&w->timers, &vm->sched);
    console_flush(vm->console, vm->id, &vm->console_line);
    record(m, vm->id, outcome, status, reason);
    vm_destroy(vm, &m->kvm);
    ram_pool_put(&m->ram, vm->mem.ram);
    struct vm *moved = w->live[--w->live_count];
    w->live[vm->live_index] = moved;
    moved->live_index = vm->live_index;
    if (w->slice_owner == vm)
        w->slice_owner = NULL;
    free(vm);
    atomic_fetch_sub(&m->live, 1);
}

static bool reserve_live_slot(struct monitor *m)
{
    unsigned live = atomic_load(&m->live);
    while (live < m->max_live)
        if (atomic_compare_exchange_weak(&m->live, &live, live + 1))
            return true;
    return false;
}

/* Creates this worker's next VM; returns false if the live-VM limit made it wait. */
static bool create_next(struct worker *w)
{
    struct monitor *m = w->m;
    if (!reserve_live_slot(m))
        return false;
    uint32_t id = w->next_id;
    w->next_id += m->worker_count;
    char err[256];
    struct vm *vm = calloc(1, sizeof(*vm));
    uint8_t *ram = vm ? ram_pool_get(&m->ram) : NULL;
    if (w->live_count == w->live_capacity) {
        size_t capacity = w->live_capacity ? 2 * w->live_capacity : 64;
        struct vm **live = realloc(w->live, capacity * sizeof(*live));
        if (live) {
            w->live = live;
            w->live_capacity = capacity;
        }
    }
    if (!vm || !ram || w->live_count == w->live_capacity) {
        snprintf(err, sizeof(err), "could not create VM: out of memory");
        goto fail;
    }
    vm->created_ns = monitor_now_ns();
    if (vm_boot(vm, &m->kvm, &m->image, id, m->options->count, ram, err, sizeof(err)) < 0)
        goto fail;
    vm->console = &m->console;
    vm->live_index = w->live_count;
    w->live[w->live_count++] = vm;
    run_queue_push(&w->run_queue, &vm->sched);
    return true;
fail:
    if (ram)
        ram_pool_put(&m->ram, ram);
    free(vm);
    atomic_fetch_add(&m->booted, 1);
    record(m, id, OUTCOME_STOPPED, 0, err);
    atomic_fetch_sub(&m->live, 1);
    return true;
}

static bool timers_due(const struct worker *w, uint64_t vnow)
{
    struct sched_entity *first = timer_heap_peek(&w->timers);
    return first && first->deadline <= vnow;
}

static bool time_limit_passed(const struct monitor *m, uint64_t vnow)
{
    return m->time_limit_ns && vnow >= m->time_limit_ns;
}

/* At the end of a quantum: does anything else deserve this worker? */
static bool should_yield(const struct worker *w)
{
    uint64_t vnow = virtual_now(w->m);
    return w->run_queue.length > 0 || timers_due(w, vnow) || has_pending_creations(w) ||
           time_limit_passed(w->m, vnow);
}

static void enter(struct worker *w, struct vm *vm, struct vm_exit *exit)
{
    vm->vregs->time_ns = virtual_now(w->m);
    if (vm->in_idle) {
        vm->has_result = true;
        vm->result = vm->pending_events;
        vm->pending_events = 0;
        vm->in_idle = false;
    }
    vm->vregs->events = vm->pending_events;
    if (vm->has_result)
        kvm_vcpu_set_result(&vm->vcpu, vm->result);
    current_run = vm->vcpu.run;
    kvm_vcpu_run(&vm->vcpu, exit);
    current_run = NULL;
    /* An interrupted entry may not have run the guest, so the result stays pending. */
    if (exit->kind != VM_EXIT_INTERRUPTED)
        vm->has_result = false;
    w->exits++;
}

/* Returns true if the VM went to sleep, false if it should go on running now. */
static bool idle(struct worker *w, struct vm *vm, uint64_t deadline)
{
    vm->in_idle = true;
    if (deadline <= virtual_now(w->m))
        vm->pending_events |= DENALI_EVENT_TIMER;
    if (vm->pending_events)
        return false;
    if (deadline != DENALI_DEADLINE_NONE &&
        timer_heap_insert(&w->timers, &vm->sched, deadline) < 0) {
        /* Without room in the heap, a spurious wake-up is the safe answer. */
        vm->pending_events |= DENALI_EVENT_TIMER;
        return false;
    }
    if (w->slice_owner == vm)
        w->slice_owner = NULL;
    return true;
}

static void run_slice(struct worker *w, struct vm *vm)
{
    if (w->slice_owner != vm) {
        w->slice_owner = vm;
        arm_quantum(w);
    }
    for (;;) {
        if (slice_expired) {
            if (should_yield(w)) {
                w->slice_owner = NULL;
                run_queue_push(&w->run_queue, &vm->sched);
                return;
            }
            arm_quantum(w);
        }
        struct vm_exit exit;
        enter(w, vm, &exit);
        if (!vm->booted && exit.kind != VM_EXIT_INTERRUPTED)
            note_booted(w->m, vm);
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
            if (idle(w, vm, d.deadline))
                return;
            break;
        case ACTION_EXIT:
            finish_vm(w, vm, OUTCOME_EXITED, d.status, NULL);
            return;
        case ACTION_STOP:
            finish_vm(w, vm, OUTCOME_STOPPED, 0, d.reason);
            return;
        }
    }
}

static void wake_due(struct worker *w, uint64_t vnow)
{
    struct sched_entity *e;
    while ((e = timer_heap_pop_expired(&w->timers, vnow))) {
        vm_of(e)->pending_events |= DENALI_EVENT_TIMER;
        run_queue_push(&w->run_queue, e);
    }
}

static void enforce_time_limit(struct worker *w)
{
    while (w->live_count > 0) {
        struct vm *vm = w->live[w->live_count - 1];
        while (run_queue_pop(&w->run_queue))
            ;
        finish_vm(w, vm, OUTCOME_STOPPED, 0, "time limit reached");
    }
    while (has_pending_creations(w)) {
        uint32_t id = w->next_id;
        w->next_id += w->m->worker_count;
        atomic_fetch_add(&w->m->booted, 1);
        record(w->m, id, OUTCOME_STOPPED, 0, "time limit reached before it started");
    }
}

static void sleep_until(const struct monitor *m, uint64_t vtarget)
{
    uint64_t target = m->epoch_ns + vtarget;
    struct timespec ts = {.tv_sec = (time_t)(target / 1000000000ull),
                          .tv_nsec = (long)(target % 1000000000ull)};
    /* A stray quantum signal may cut this short; the loop simply looks again. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static uint64_t next_wake(const struct worker *w, uint64_t vnow)
{
    uint64_t wake = vnow + IDLE_POLL_NS;
    struct sched_entity *first = timer_heap_peek(&w->timers);
    if (first && first->deadline < wake)
        wake = first->deadline;
    if (w->m->time_limit_ns && w->m->time_limit_ns < wake)
        wake = w->m->time_limit_ns;
    return wake;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct monitor *m = w->m;
    struct sigevent sev = {0};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGUSR1;
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &w->quantum_timer) < 0) {
        perror("denali: timer_create");
        abort();
    }
    for (;;) {
        uint64_t vnow = virtual_now(m);
        if (time_limit_passed(m, vnow)) {
            enforce_time_limit(w);
            break;
        }
        wake_due(w, vnow);
        bool waiting_for_room = has_pending_creations(w) && !create_next(w);
        struct sched_entity *e = run_queue_pop(&w->run_queue);
        if (e) {
            run_slice(w, vm_of(e));
            continue;
        }
        if (has_pending_creations(w)) {
            if (waiting_for_room)
                sleep_until(m, vnow + LIVE_LIMIT_BACKOFF_NS);
            continue;
        }
        if (w->live_count == 0)
            break;
        sleep_until(m, next_wake(w, vnow));
    }
    timer_delete(w->quantum_timer);
    sem_post(w->done);
    return NULL;
}

int workers_run(struct monitor *m, void (*progress)(struct monitor *m))
{
    struct sigaction sa = {0};
    sa.sa_handler = on_quantum_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) < 0)
        return -1;
    struct worker *workers = calloc(m->worker_count, sizeof(*workers));
    if (!workers)
        return -1;
    sem_t done;
    sem_init(&done, 0, 0);
    for (unsigned i = 0; i < m->worker_count; i++) {
        struct worker *w = &workers[i];
        w->m = m;
        w->index = i;
        w->next_id = i;
        w->done = &done;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "denali: cannot start worker thread %u\n", i);
            abort();
        }
    }
    for (unsigned finished = 0; finished < m->worker_count;) {
        int rc;
        if (progress) {
            struct timespec tick;
            clock_gettime(CLOCK_REALTIME, &tick);
            tick.tv_nsec += 100 * 1000 * 1000;
            if (tick.tv_nsec >= 1000000000) {
                tick.tv_sec++;
                tick.tv_nsec -= 1000000000;
            }
            rc = sem_timedwait(&done, &tick);
            progress(m);
        } else {
            rc = sem_wait(&done);
        }
        if (rc == 0)
            finished++;
    }
    sem_destroy(&done);
    uint64_t exits = 0;
    for (unsigned i = 0; i < m->worker_count; i++) {
        pthread_join(workers[i].thread, NULL);
        exits += workers[i].exits;
        timer_heap_free(&workers[i].timers);
        free(workers[i].live);
    }
    atomic_store(&m->exits, exits);
    free(workers);
    return 0;
}
