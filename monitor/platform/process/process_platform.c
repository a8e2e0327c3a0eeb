/* The process platform's monitor side: starting VM processes, handing them the turn, ending them.
 */
#include "platform/process/process_platform.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/guest_image.h"
#include "image/ram_pool.h"
#include "util/pagemap.h"

#define VMPROC_PROGRAM "denali-vmproc"
/* While a VM runs, its worker looks this often whether the process still lives. */
#define LIVENESS_POLL_NS 100000000l
/* A VM process that has not parked this long after being preempted is stopped. */
#define PREEMPT_GRACE_NS 2000000000ull
/* A VM process must finish setting up within this. */
#define SETUP_LIMIT_NS 10000000000ull
/* The watchdog looks at every sleeping VM process this often. */
#define WATCHDOG_PERIOD_NS 1000000000ull
/*
 * CPU a VM process may use while it is supposed to sleep, between two
 * looks: its own parking code needs microseconds; more means the guest
 * wrote the handoff word itself and ran on.
 */
#define PARKED_CPU_SLACK_NS 20000000ull

struct process_platform {
    struct platform base;
    char program[PATH_MAX];
    pid_t monitor_pid;
    uint32_t launch_flags;
    /* Every live VM process, for the watchdog; a destroyed one leaves before it is reaped. */
    pthread_mutex_t lock;
    pthread_cond_t stop_cond;
    struct platform_vcpu **vcpus;
    size_t vcpu_count;
    size_t vcpu_capacity;
    bool watchdog_running;
    bool watchdog_stop;
    pthread_t watchdog;
    /*
     * Clones are forked from a zygote: a VM process set up as a clone of the
     * snapshot that never runs its guest. Forking one costs a fraction of
     * starting and locking down a new process (and its filter is compiled
     * once). Under zygote_lock; zygote_snap says which snapshot it serves.
     */
    pthread_mutex_t zygote_lock;
    struct platform_vcpu *zygote;
    const struct platform_snapshot *zygote_snap;
    uint8_t *zygote_ram;
    bool zygote_unusable; /* could not start: clones start as processes of their own */
};

struct platform_vcpu {
    pid_t pid;
    uint32_t id;
    size_t index;                   /* in the platform's vcpus, under its lock */
    struct vmproc_control *control; /* the monitor's view, in the VM's slice of guest RAM */
    volatile sig_atomic_t kicked;
    bool started;
    bool result_pending;
    /* Changed by its worker at every run; the watchdog reads them under no lock. */
    _Atomic bool running;
    _Atomic uint64_t runs;
    /* The watchdog's last look: which run it saw it parked after, with how much CPU. */
    uint64_t seen_runs;
    uint64_t seen_cpu_ns;
    bool seen;
    /* Set (under the platform's lock) when the watchdog condemned it: why. */
    _Atomic bool condemned;
    char condemned_why[96];
    /* Paging: its userfaultfd (until the pager takes it) and its pagemap; -1 without. */
    int uffd;
    int pagemap_fd;
    const struct guest_layout *layout;
};

static struct process_platform *process_of(struct platform *p)
{
    return (struct process_platform *)p;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long futex(volatile uint32_t *word, int op, uint32_t value, const struct timespec *timeout)
{
    /* Shared (not FUTEX_PRIVATE_FLAG): the other side is another process. */
    return syscall(SYS_futex, word, op, value, timeout, NULL, 0);
}

unsigned process_platform_regions(const struct guest_layout *layout,
                                  struct vmproc_region regions[VMPROC_MAX_REGIONS])
{
    unsigned n = 0;
    for (unsigned i = 0; i < layout->region_count && n < VMPROC_MAX_REGIONS; i++) {
        const struct guest_region *r = &layout->regions[i];
        uint32_t prot = VMPROC_PROT_READ;
        if (r->writable)
            prot |= VMPROC_PROT_WRITE;
        if (r->executable)
            prot |= VMPROC_PROT_EXEC;
        uint32_t source = r->gate        ? VMPROC_SOURCE_GATE
                          : r->from_file ? VMPROC_SOURCE_FILE
                                         : VMPROC_SOURCE_RAM;
        regions[n++] = (struct vmproc_region){.start = r->start,
                                              .end = r->end,
                                              .prot = prot,
                                              .source = source,
                                              .file_offset = r->file_offset};
    }
    return n;
}

unsigned process_platform_clone_regions(struct vmproc_region regions[VMPROC_MAX_REGIONS],
                                        unsigned count, const struct platform_snapshot *snap)
{
    /*
     * Guest RAM comes from the snapshot, copy-on-write, but for the pages
     * the monitor itself reads or writes: the virtual registers and the
     * snapshot's windows (a NIC's rings), mapped over it from the VM's slice.
     */
    for (unsigned i = 0; i < count; i++)
        if (regions[i].source == VMPROC_SOURCE_RAM && regions[i].start != DENALI_VREGS_ADDR)
            regions[i].source = VMPROC_SOURCE_SNAPSHOT;
    for (unsigned w = 0; w < snap->window_count && count < VMPROC_MAX_REGIONS; w++)
        regions[count++] = (struct vmproc_region){.start = snap->windows[w].start,
                                                  .end = snap->windows[w].end,
                                                  .prot = VMPROC_PROT_READ | VMPROC_PROT_WRITE,
                                                  .source = VMPROC_SOURCE_RAM};
    return count;
}

void process_platform_decode(const struct vmproc_control *c, struct vm_exit *exit)
{
    memset(exit, 0, sizeof(*exit));
    exit->rip = c->rip;
    exit->rsp = c->rsp;
    exit->reason = c->kind;
    switch (c->kind) {
    case VMPROC_EXIT_HYPERCALL:
    case VMPROC_EXIT_PORT_IO:
        exit->kind = VM_EXIT_IO;
        /* Out-of-range values become a port no hypercall has, which stops the VM. */
        exit->port = c->port > 0xffff ? 0xffff : (uint16_t)c->port;
        exit->io_out = c->kind == VMPROC_EXIT_HYPERCALL || c->io_out;
        exit->io_size = c->kind == VMPROC_EXIT_HYPERCALL ? 1 : (uint8_t)(c->io_size & 0xff);
        exit->io_count = 1;
        for (int i = 0; i < 3; i++)
            exit->args[i] = c->args[i];
        break;
    case VMPROC_EXIT_PREEMPTED:
        exit->kind = VM_EXIT_INTERRUPTED;
        break;
    case VMPROC_EXIT_FAULT:
        exit->kind = VM_EXIT_FAULT;
        exit->signo = c->signo;
        exit->si_code = c->si_code;
        exit->cr2 = c->fault_addr;
        exit->syscall_nr = c->syscall_nr;
        exit->syscall_arch = c->syscall_arch;
        break;
    default:
        exit->kind = VM_EXIT_UNEXPECTED;
        break;
    }
}

static void describe_death(const siginfo_t *info, char *text, size_t len)
{
    if (info->si_code == CLD_EXITED)
        snprintf(text, len, "VM process exited with status %d", info->si_status);
    else
        snprintf(text, len, "VM process killed by signal %d (%s)", info->si_status,
                 sigabbrev_np(info->si_status) ? sigabbrev_np(info->si_status) : "?");
}

/* True, with how it died in why, when the VM process has died; it stays a zombie to be reaped. */
static bool has_died(pid_t pid, char *why, size_t len)
{
    siginfo_t info = {0};
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0)
        return false;
    describe_death(&info, why, len);
    return true;
}

/* Waits for a VM process that has ended or been killed, so that its pid and its RAM are free. */
static void reap(pid_t pid)
{
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED) < 0 && errno == EINTR)
        ;
}

/* The reason a VM process wrote before it gave up setting up, NUL-terminated whatever it wrote. */
static void setup_message(const struct vmproc_control *c, char message[VMPROC_MESSAGE_MAX])
{
    memcpy(message, c->message, VMPROC_MESSAGE_MAX);
    message[VMPROC_MESSAGE_MAX - 1] = 0;
}

/* Why set-up did not reach the step it should have: the process's own reason, or a plain one. */
static void setup_went_wrong(const struct vmproc_control *c, char *why, size_t len)
{
    char message[VMPROC_MESSAGE_MAX];
    setup_message(c, message);
    snprintf(why, len, "%s",
             c->kind == VMPROC_EXIT_SETUP_FAILED ? message : "VM process set-up went wrong");
}

static void failed(struct vm_exit *exit, const char *text)
{
    memset(exit, 0, sizeof(*exit));
    exit->kind = VM_EXIT_FAILED;
    snprintf(exit->detail, sizeof(exit->detail), "%.90s", text);
}

/* True (and the exit filled in) when the VM process has died; it stays a zombie for destroy. */
static bool process_died(struct platform_vcpu *v, struct vm_exit *exit)
{
    char why[sizeof(exit->detail)];
    if (!has_died(v->pid, why, sizeof(why)))
        return false;
    /* It explained itself before it exited. */
    if (v->control->kind == VMPROC_EXIT_SETUP_FAILED) {
        char message[VMPROC_MESSAGE_MAX];
        setup_message(v->control, message);
        snprintf(why, sizeof(why), "VM process set-up failed: %.60s", message);
    }
    failed(exit, why);
    return true;
}

/*
 * Waits until the VM process hands the turn back. On a kick, preempts it
 * with a signal and keeps waiting for it to park. False (exit filled in)
 * when it died or would not park.
 */
static bool wait_for_turn(struct platform_vcpu *v, struct vm_exit *exit, uint64_t limit_ns)
{
    volatile uint32_t *turn = &v->control->turn;
    const struct timespec poll = {.tv_sec = 0, .tv_nsec = LIVENESS_POLL_NS};
    uint64_t preempted_at = 0;
    uint64_t started = now_ns();
    for (;;) {
        uint32_t now_turn = atomic_load_explicit((_Atomic uint32_t *)turn, memory_order_acquire);
        if (now_turn == VMPROC_TURN_MONITOR)
            return true;
        if (v->kicked && !preempted_at && v->started) {
            kill(v->pid, VMPROC_PREEMPT_SIGNAL);
            preempted_at = now_ns();
        }
        long rc = futex(turn, FUTEX_WAIT, now_turn, &poll);
        if (rc < 0 && errno == EINTR)
            continue; /* a kick: the loop's top preempts */
        if (rc < 0 && errno == ETIMEDOUT && process_died(v, exit))
            return false;
        /*
         * Woken, or the word changed under us: the guest can write the word
         * and wake it too, as often as it likes, so the limits are checked on
         * every round, or it could keep this worker forever.
         */
        uint64_t now = now_ns();
        if (preempted_at && now - preempted_at > PREEMPT_GRACE_NS) {
            failed(exit, "VM process did not stop within 2 s of being preempted");
            return false;
        }
        if (limit_ns && now - started > limit_ns) {
            failed(exit, "VM process did not finish setting up within 10 s");
            return false;
        }
    }
}

/*
 * Paging, at set-up: takes the VM process's userfaultfd (fd, its number
 * there) and opens its pagemap, while it is still open to the monitor.
 */
static int take_pager(struct platform_vcpu *v, uint64_t fd, char *why, size_t len)
{
    int pidfd = (int)syscall(SYS_pidfd_open, v->pid, 0);
    if (fd > INT_MAX || pidfd < 0 ||
        (v->uffd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0)) < 0) {
        snprintf(why, len, "paging: cannot take the VM process's userfaultfd: %s", strerror(errno));
        if (pidfd >= 0)
            close(pidfd);
        return -1;
    }
    close(pidfd);
    char path[48];
    snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)v->pid);
    v->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (v->pagemap_fd < 0) {
        snprintf(why, len, "paging: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * A VM process started for paging hands its userfaultfd over in the middle
 * of its set-up, before it locks down. Taken at launch, so that the pager
 * can watch every fault of the guest's, from its very first instruction.
 */
static int receive_pager(struct platform_vcpu *v, char *err, size_t errlen)
{
    struct vm_exit exit;
    struct vmproc_control *c = v->control;
    if (!wait_for_turn(v, &exit, SETUP_LIMIT_NS)) {
        snprintf(err, errlen, "%s", exit.detail);
        return -1;
    }
    if (c->kind != VMPROC_EXIT_PAGER) {
        setup_went_wrong(c, err, errlen);
        return -1;
    }
    if (take_pager(v, c->args[0], err, errlen) < 0)
        return -1;
    c->kind = 0;
    atomic_store_explicit((_Atomic uint32_t *)&c->turn, VMPROC_TURN_GUEST, memory_order_release);
    futex(&c->turn, FUTEX_WAKE, 1, NULL);
    return 0;
}

static void process_run(struct platform_vcpu *v, struct vm_exit *exit)
{
    memset(exit, 0, sizeof(*exit));
    if (atomic_load(&v->condemned)) {
        failed(exit, v->condemned_why);
        return;
    }
    if (v->kicked) {
        v->kicked = 0;
        exit->kind = VM_EXIT_INTERRUPTED;
        return;
    }
    struct vmproc_control *c = v->control;
    if (!v->started) {
        if (!wait_for_turn(v, exit, SETUP_LIMIT_NS))
            return;
        if (c->kind != VMPROC_EXIT_READY) {
            char why[VMPROC_MESSAGE_MAX];
            setup_went_wrong(c, why, sizeof(why));
            failed(exit, why);
            return;
        }
        v->started = true;
    }
    atomic_store(&v->running, true);
    atomic_fetch_add(&v->runs, 1);
    atomic_store_explicit((_Atomic uint32_t *)&c->turn, VMPROC_TURN_GUEST, memory_order_release);
    futex(&c->turn, FUTEX_WAKE, 1, NULL);
    v->result_pending = false;
    bool parked = wait_for_turn(v, exit, 0);
    atomic_store(&v->running, false);
    if (!parked)
        return;
    v->kicked = 0;
    /* One copy, then only the copy is looked at: the guest can write the page at any time. */
    struct vmproc_control copy;
    memcpy(&copy, c, sizeof(copy));
    process_platform_decode(&copy, exit);
    /* Staged for exactly this call, or not at all: the length is then one the monitor checked. */
    if (exit->kind == VM_EXIT_IO && exit->port == DENALI_PORT_BASE + DENALI_HC_CONSOLE_WRITE &&
        copy.staged_len != 0 && copy.staged_len == exit->args[1] &&
        copy.staged_addr == exit->args[0] && copy.staged_len <= DENALI_CONSOLE_MAX)
        exit->staged = (const uint8_t *)c - VMPROC_CONTROL_GPA + VMPROC_STAGE_GPA;
}

static void process_set_result(struct platform_vcpu *v, uint64_t value)
{
    v->control->result = value;
    v->result_pending = true;
}

static bool process_result_pending(const struct platform_vcpu *v)
{
    return v->result_pending;
}

static void process_kick(struct platform_vcpu *v)
{
    v->kicked = 1;
}

static void forget_vcpu(struct process_platform *pp, struct platform_vcpu *v)
{
    pthread_mutex_lock(&pp->lock);
    struct platform_vcpu *moved = pp->vcpus[--pp->vcpu_count];
    pp->vcpus[v->index] = moved;
    moved->index = v->index;
    pthread_mutex_unlock(&pp->lock);
}

static void process_destroy(struct platform *p, struct platform_vcpu *v)
{
    /* Out of the watchdog's sight first: once reaped, its pid may belong to anyone. */
    forget_vcpu(process_of(p), v);
    /* Reaped before returning: the RAM slice must not be reused while the process can run. */
    kill(v->pid, SIGKILL);
    reap(v->pid);
    if (v->uffd >= 0)
        close(v->uffd);
    if (v->pagemap_fd >= 0)
        close(v->pagemap_fd);
    free(v);
}

/* Registers the guest RAM the VM process maps from its slice (not its image's file pages). */
static int process_pager_start(struct platform_vcpu *v, uint64_t *addr_base, char *err,
                               size_t errlen)
{
    if (v->uffd < 0) {
        snprintf(err, errlen, "paging: the VM process has no userfaultfd");
        return -1;
    }
    struct vmproc_region regions[VMPROC_MAX_REGIONS];
    unsigned n = process_platform_regions(v->layout, regions);
    for (unsigned i = 0; i < n; i++) {
        if (regions[i].source != VMPROC_SOURCE_RAM)
            continue;
        struct uffdio_register reg = {
            .range = {.start = regions[i].start, .len = regions[i].end - regions[i].start},
            .mode = UFFDIO_REGISTER_MODE_MISSING};
        if (ioctl(v->uffd, UFFDIO_REGISTER, &reg) < 0) {
            snprintf(err, errlen, "paging: registering guest memory 0x%lx: %s",
                     (unsigned long)regions[i].start, strerror(errno));
            return -1;
        }
    }
    /* The guest's addresses in its process are its guest-physical ones. */
    *addr_base = 0;
    int fd = v->uffd;
    v->uffd = -1;
    return fd;
}

/* Present in the VM process's page tables: touched since they were last dropped. */
static int process_referenced(struct platform_vcpu *v, uint64_t gpa, uint64_t pages, uint8_t *bits)
{
    return pagemap_present(v->pagemap_fd, gpa / DENALI_PAGE_SIZE, pages, bits);
}

static void process_forget_references(struct platform_vcpu *v)
{
    v->control->forget_references = 1;
}

/*
 * Looks at one sleeping VM process (called with the platform's lock held):
 * dead, or burning CPU while it should sleep. Returns true when condemned.
 */
static bool watch_one(struct platform_vcpu *v)
{
    if (atomic_load(&v->running) || atomic_load(&v->condemned) || !v->started) {
        v->seen = false;
        return false;
    }
    if (has_died(v->pid, v->condemned_why, sizeof(v->condemned_why)))
        return true;
    clockid_t clock;
    struct timespec ts;
    if (clock_getcpuclockid(v->pid, &clock) != 0 || clock_gettime(clock, &ts) != 0)
        return false;
    uint64_t cpu = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t runs = atomic_load(&v->runs);
    bool cheated = v->seen && v->seen_runs == runs && cpu - v->seen_cpu_ns > PARKED_CPU_SLACK_NS;
    v->seen = true;
    v->seen_runs = runs;
    v->seen_cpu_ns = cpu;
    if (!cheated)
        return false;
    snprintf(v->condemned_why, sizeof(v->condemned_why),
             "ran while it should have slept (its handoff word was forged)");
    kill(v->pid, SIGKILL);
    return true;
}

/*
 * Idle VM processes are not watched by any worker: this thread finds those
 * that died and those that handed the turn over without stopping, so no
 * VM is waited for forever and none takes CPU it was not given.
 */
static void *watchdog_main(void *arg)
{
    struct process_platform *pp = arg;
    pthread_mutex_lock(&pp->lock);
    while (!pp->watchdog_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(WATCHDOG_PERIOD_NS / 1000000000ull);
        pthread_cond_timedwait(&pp->stop_cond, &pp->lock, &until);
        if (pp->watchdog_stop)
            break;
        for (size_t i = 0; i < pp->vcpu_count; i++) {
            struct platform_vcpu *v = pp->vcpus[i];
            if (!watch_one(v))
                continue;
            atomic_store(&v->condemned, true);
            if (pp->base.wake)
                pp->base.wake(pp->base.wake_ctx, v->id);
        }
    }
    pthread_mutex_unlock(&pp->lock);
    return NULL;
}

static int remember_vcpu(struct process_platform *pp, struct platform_vcpu *v)
{
    pthread_mutex_lock(&pp->lock);
    int rc = 0;
    if (!pp->watchdog_running) {
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&pp->stop_cond, &attr);
        pthread_condattr_destroy(&attr);
        pp->watchdog_running = pthread_create(&pp->watchdog, NULL, watchdog_main, pp) == 0;
        if (!pp->watchdog_running)
            rc = -1;
    }
    if (rc == 0 && pp->vcpu_count == pp->vcpu_capacity) {
        size_t capacity = pp->vcpu_capacity ? 2 * pp->vcpu_capacity : 256;
        struct platform_vcpu **vcpus = realloc(pp->vcpus, capacity * sizeof(*vcpus));
        if (vcpus) {
            pp->vcpus = vcpus;
            pp->vcpu_capacity = capacity;
        } else {
            rc = -1;
        }
    }
    if (rc == 0) {
        v->index = pp->vcpu_count;
        pp->vcpus[pp->vcpu_count++] = v;
    }
    pthread_mutex_unlock(&pp->lock);
    return rc;
}

/* Descriptors a VM process is started with, at 3, 4 and 5 (see vmproc_abi.h). */
#define VM_PROCESS_FDS_MAX 3

/* What the child of start_vm_process needs; it shares the monitor's memory until it execs. */
struct vm_process_start {
    const char *program;
    char *argv[3];
    int fds[VM_PROCESS_FDS_MAX]; /* to become VMPROC_RAM_FD, VMPROC_IMAGE_FD, VMPROC_SNAPSHOT_FD */
    unsigned fd_count;
    int error; /* set by the child when it could not exec */
};

static int vm_process_child(void *arg)
{
    struct vm_process_start *s = arg;
    /*
     * Through descriptors above all of them, so that none is overwritten by
     * another's move when it already sits at 3, 4 or 5.
     */
    int above = 0;
    for (unsigned i = 0; i < s->fd_count; i++)
        if (s->fds[i] >= above)
            above = s->fds[i] + 1;
    char *envp[] = {NULL};
    for (unsigned i = 0; i < s->fd_count; i++)
        if (dup2(s->fds[i], above + (int)i) < 0)
            goto failed;
    for (unsigned i = 0; i < s->fd_count; i++)
        if (dup2(above + (int)i, VMPROC_RAM_FD + (int)i) < 0)
            goto failed;
    if (setpgid(0, 0) < 0 || execve(s->program, s->argv, envp) < 0)
        goto failed;
failed:
    s->error = errno;
    _exit(127);
}

/*
 * Starts the VM-process program: a vfork-style clone that only moves its
 * descriptors, leaves the monitor's process group (a terminal's ^C reaches
 * the monitor only, which stops VMs itself) and execs. Not posix_spawn: its
 * child resets every signal handler first, 128 system calls a VM. Here every
 * signal stays blocked from before the clone until the exec, so no handler
 * of the monitor's can run in the child, and exec resets the handlers; the
 * VM process sets its own mask. snapshot_fd is -1 but for a clone. Returns
 * 0 or an errno.
 */
static int start_vm_process(const char *program, char *slice_text, int memfd, int image_fd,
                            int snapshot_fd, pid_t *pid)
{
    struct vm_process_start s = {.program = program,
                                 .argv = {VMPROC_PROGRAM, slice_text, NULL},
                                 .fds = {memfd, image_fd, snapshot_fd},
                                 .fd_count = snapshot_fd >= 0 ? 3 : 2};
    /* The child runs on this while this thread is suspended (CLONE_VFORK) until its exec. */
    _Alignas(16) char child_stack[16384];
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t child = clone(vm_process_child, child_stack + sizeof(child_stack),
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &s);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (child < 0)
        return clone_errno;
    if (s.error) {
        reap(child);
        return s.error;
    }
    *pid = child;
    return 0;
}

/*
 * Starts VM id's process: booting the image at its entry, or with snap, as
 * a clone resuming from the snapshot's ready call.
 */
static struct platform_vcpu *launch_vm(struct platform *p, const struct guest_image *image,
                                       uint8_t *ram, uint32_t id,
                                       const struct platform_snapshot *snap, uint32_t flags,
                                       char *err, size_t errlen)
{
    struct process_platform *pp = process_of(p);
    struct platform_vcpu *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory for a VM process");
        return NULL;
    }
    v->id = id;
    v->uffd = -1;
    v->pagemap_fd = -1;
    v->layout = &image->layout;
    v->control = (struct vmproc_control *)(ram + VMPROC_CONTROL_GPA);
    memset(v->control, 0, sizeof(*v->control));
    uint64_t slice = ram_pool_offset(p->ram, ram);
    struct vmproc_launch *l = (struct vmproc_launch *)(ram + VMPROC_LAUNCH_GPA);
    *l = (struct vmproc_launch){
        .magic = VMPROC_LAUNCH_MAGIC,
        .version = VMPROC_LAUNCH_VERSION,
        .entry = image->elf.entry,
        .slice_offset = slice,
        .slice_size = image->layout.mem_size,
        .monitor_pid = (uint32_t)pp->monitor_pid,
        .flags = pp->launch_flags | flags,
    };
    /* A clone's memory is its own process's, copy-on-write: it is not paged. */
    bool clone = snap && !(flags & VMPROC_LAUNCH_RESUME_RESULT);
    if (p->paging && !clone && !(flags & VMPROC_LAUNCH_ZYGOTE))
        l->flags |= VMPROC_LAUNCH_PAGER;
    l->region_count = process_platform_regions(&image->layout, l->regions);
    if (snap) {
        struct process_cpu_state cpu;
        memcpy(&cpu, snap->cpu_state, sizeof(cpu));
        l->flags |= VMPROC_LAUNCH_RESUME;
        l->resume_rsp = cpu.gate_rsp;
        l->resume_fs_base = cpu.fs_base;
        l->resume_result = 1;
        /* Back from hibernation its memory is its own slice's again; a clone's is the snapshot's.
         */
        if (!(flags & VMPROC_LAUNCH_RESUME_RESULT))
            l->region_count = process_platform_clone_regions(l->regions, l->region_count, snap);
    }

    char slice_text[24];
    snprintf(slice_text, sizeof(slice_text), "%lx", (unsigned long)slice);
    int rc = start_vm_process(pp->program, slice_text, p->ram->memfd, image->fd,
                              snap ? snap->memfd : -1, &v->pid);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a VM process (%s): %s", pp->program, strerror(rc));
        free(v);
        return NULL;
    }
    /* The zygote is not a VM: the watchdog never sees it, its owner ends it. */
    if (!(flags & VMPROC_LAUNCH_ZYGOTE) && remember_vcpu(pp, v) < 0) {
        snprintf(err, errlen, "out of memory for the VM-process watchdog");
        kill(v->pid, SIGKILL);
        reap(v->pid);
        free(v);
        return NULL;
    }
    if ((l->flags & VMPROC_LAUNCH_PAGER) && receive_pager(v, err, errlen) < 0) {
        process_destroy(p, v);
        return NULL;
    }
    return v;
}

static void stop_zygote(struct process_platform *pp)
{
    if (pp->zygote) {
        kill(pp->zygote->pid, SIGKILL);
        reap(pp->zygote->pid);
        free(pp->zygote);
        pp->zygote = NULL;
    }
    if (pp->zygote_ram)
        ram_pool_put(pp->base.ram, pp->zygote_ram);
    pp->zygote_ram = NULL;
    pp->zygote_snap = NULL;
}

/* Starts the zygote for snap in a RAM slot of its own; on failure clones start the slow way. */
static void start_zygote(struct process_platform *pp, const struct guest_image *image,
                         const struct platform_snapshot *snap)
{
    stop_zygote(pp);
    pp->zygote_snap = snap;
    pp->zygote_ram = ram_pool_get(pp->base.ram);
    char err[160];
    if (pp->zygote_ram)
        pp->zygote = launch_vm(&pp->base, image, pp->zygote_ram, UINT32_MAX, snap,
                               VMPROC_LAUNCH_ZYGOTE, err, sizeof(err));
    struct vm_exit exit;
    if (!pp->zygote || !wait_for_turn(pp->zygote, &exit, SETUP_LIMIT_NS) ||
        pp->zygote->control->kind != VMPROC_EXIT_READY) {
        stop_zygote(pp);
        pp->zygote_unusable = true;
        pp->zygote_snap = snap;
        return;
    }
    pp->zygote->started = true;
}

/*
 * Asks the zygote for a child whose slice is ram: NULL when the zygote
 * failed (it is then stopped, and clones start the slow way).
 */
static struct platform_vcpu *fork_from_zygote(struct process_platform *pp, uint8_t *ram,
                                              uint32_t id)
{
    struct platform_vcpu *z = pp->zygote;
    struct vmproc_control *child = (struct vmproc_control *)(ram + VMPROC_CONTROL_GPA);
    memset(child, 0, sizeof(*child));
    z->control->args[0] = ram_pool_offset(pp->base.ram, ram);
    z->control->kind = 0;
    atomic_store_explicit((_Atomic uint32_t *)&z->control->turn, VMPROC_TURN_GUEST,
                          memory_order_release);
    futex(&z->control->turn, FUTEX_WAKE, 1, NULL);
    struct vm_exit exit;
    int64_t pid = (int64_t)z->control->result;
    if (!wait_for_turn(z, &exit, SETUP_LIMIT_NS) || z->control->kind != VMPROC_EXIT_FORKED ||
        (pid = (int64_t)z->control->result) <= 0 || pid > INT32_MAX) {
        stop_zygote(pp);
        pp->zygote_unusable = true;
        return NULL;
    }
    /* Only a child of ours may be handed to a worker (and killed by it). */
    siginfo_t info = {0};
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
        stop_zygote(pp);
        pp->zygote_unusable = true;
        return NULL;
    }
    struct platform_vcpu *v = calloc(1, sizeof(*v));
    if (!v) {
        kill((pid_t)pid, SIGKILL);
        reap((pid_t)pid);
        return NULL;
    }
    v->id = id;
    v->pid = (pid_t)pid;
    v->control = child;
    v->uffd = -1;
    v->pagemap_fd = -1;
    if (remember_vcpu(pp, v) < 0) {
        kill(v->pid, SIGKILL);
        reap(v->pid);
        free(v);
        return NULL;
    }
    return v;
}

static struct platform_vcpu *process_vcpu_create(struct platform *p,
                                                 const struct guest_image *image, uint8_t *ram,
                                                 uint32_t id, char *err, size_t errlen)
{
    return launch_vm(p, image, ram, id, NULL, 0, err, errlen);
}

static struct platform_vcpu *process_vcpu_clone(struct platform *p, const struct guest_image *image,
                                                uint8_t *ram, uint32_t id,
                                                const struct platform_snapshot *snap, char *err,
                                                size_t errlen)
{
    if (snap->cpu_state_len != sizeof(struct process_cpu_state) ||
        snap->platform != PLATFORM_PROCESS) {
        snprintf(err, errlen, "the snapshot was not taken on the process platform");
        return NULL;
    }
    struct process_platform *pp = process_of(p);
    pthread_mutex_lock(&pp->zygote_lock);
    if (pp->zygote_snap != snap) {
        pp->zygote_unusable = false;
        start_zygote(pp, image, snap);
    }
    struct platform_vcpu *v = pp->zygote ? fork_from_zygote(pp, ram, id) : NULL;
    pthread_mutex_unlock(&pp->zygote_lock);
    return v ? v : launch_vm(p, image, ram, id, snap, 0, err, errlen);
}

/* Back from hibernation: the VM's memory is in its slice again, its registers in state. */
static struct platform_vcpu *process_vcpu_resume(struct platform *p,
                                                 const struct guest_image *image, uint8_t *ram,
                                                 uint32_t id, const struct platform_snapshot *state,
                                                 char *err, size_t errlen)
{
    if (state->cpu_state_len != sizeof(struct process_cpu_state) ||
        state->platform != PLATFORM_PROCESS || state->memfd >= 0) {
        snprintf(err, errlen, "a hibernated VM's state is not the process platform's");
        return NULL;
    }
    return launch_vm(p, image, ram, id, state, VMPROC_LAUNCH_RESUME_RESULT, err, errlen);
}

/*
 * At the guest's ready call: where the gate's saved registers are (the
 * guest's stack, which the snapshot's RAM holds) and its FS base. Both come
 * from the control page, which the guest can write: a wrong value only
 * makes its own clones fault, so they are checked for range alone.
 */
static int process_vcpu_capture(struct platform_vcpu *v, struct platform_snapshot *snap, char *err,
                                size_t errlen)
{
    struct vmproc_control copy;
    memcpy(&copy, v->control, sizeof(copy));
    uint64_t saved = (VMPROC_GATE_SAVED + 1) * sizeof(uint64_t);
    if (copy.kind != VMPROC_EXIT_HYPERCALL || copy.rsp < DENALI_LOW_LIMIT + saved ||
        copy.rsp > snap->mem_size) {
        snprintf(err, errlen, "the ready call did not come through the gate (rsp 0x%lx)",
                 (unsigned long)copy.rsp);
        return -1;
    }
    struct process_cpu_state cpu = {.gate_rsp = copy.rsp - saved, .fs_base = copy.fs_base};
    memcpy(snap->cpu_state, &cpu, sizeof(cpu));
    snap->cpu_state_len = sizeof(cpu);
    snap->platform = PLATFORM_PROCESS;
    return 0;
}

/*
 * Each VM process's resident pages that are not shared with a file or the
 * pool (statm's resident minus shared): a clone's own copy-on-write pages,
 * and the program's few. The zygote's are counted too.
 */
static uint64_t process_private_bytes(struct platform *p)
{
    struct process_platform *pp = process_of(p);
    uint64_t pages = 0;
    pthread_mutex_lock(&pp->lock);
    for (size_t i = 0; i < pp->vcpu_count; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/statm", (int)pp->vcpus[i]->pid);
        FILE *f = fopen(path, "re");
        unsigned long size, resident, shared;
        if (f && fscanf(f, "%lu %lu %lu", &size, &resident, &shared) == 3 && resident > shared)
            pages += resident - shared;
        if (f)
            fclose(f);
    }
    pthread_mutex_unlock(&pp->lock);
    return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

struct guest_run_copy {
    pid_t pid;
    uint8_t *ram;
    uint64_t gpa;
    char *err;
    size_t errlen;
};

/* Copies a run of the VM process's own pages into ram at the same guest offsets. */
static int read_guest_run(void *ctx, uint64_t offset, uint64_t len)
{
    struct guest_run_copy *c = ctx;
    uint64_t gpa = c->gpa + offset;
    struct iovec local = {.iov_base = c->ram + gpa, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)gpa, .iov_len = len};
    ssize_t n = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    snprintf(c->err, c->errlen, "reading the clone's own pages: %s",
             n < 0 ? strerror(errno) : "short read");
    return 1;
}

/*
 * The pages a clone wrote are anonymous and private in its process (the
 * rest are the snapshot's, file pages, or the slice's, shared): the
 * process's pagemap tells them apart, process_vm_readv copies them. Both
 * need the monitor to be allowed to trace its VM processes (root is).
 */
static int process_vcpu_copy_private(struct platform_vcpu *v, uint8_t *ram, uint64_t gpa,
                                     uint64_t len, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)v->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct guest_run_copy c = {.pid = v->pid, .ram = ram, .gpa = gpa, .err = err, .errlen = errlen};
    int rc = pagemap_each_private_run(fd, gpa, len, read_guest_run, &c);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    close(fd);
    return rc == 0 ? 0 : -1;
}

static void process_close(struct platform *p)
{
    struct process_platform *pp = process_of(p);
    pthread_mutex_lock(&pp->lock);
    bool running = pp->watchdog_running;
    pp->watchdog_stop = true;
    if (running)
        pthread_cond_signal(&pp->stop_cond);
    pthread_mutex_unlock(&pp->lock);
    if (running)
        pthread_join(pp->watchdog, NULL);
    pthread_mutex_lock(&pp->zygote_lock);
    stop_zygote(pp);
    pthread_mutex_unlock(&pp->zygote_lock);
    pthread_mutex_destroy(&pp->zygote_lock);
    free(pp->vcpus);
    pthread_mutex_destroy(&pp->lock);
    free(pp);
}

static const struct platform_ops process_ops = {
    .name = "process",
    .vcpu_create = process_vcpu_create,
    .vcpu_clone = process_vcpu_clone,
    .vcpu_resume = process_vcpu_resume,
    .vcpu_capture = process_vcpu_capture,
    .private_bytes = process_private_bytes,
    .vcpu_copy_private = process_vcpu_copy_private,
    .pager_start = process_pager_start,
    .referenced = process_referenced,
    .forget_references = process_forget_references,
    .vcpu_run = process_run,
    .vcpu_set_result = process_set_result,
    .vcpu_result_pending = process_result_pending,
    .vcpu_kick = process_kick,
    .vcpu_destroy = process_destroy,
    .close = process_close,
};

/* The VM-process program lives beside the monitor's own binary. */
static int find_program(char *path, size_t len, char *err, size_t errlen)
{
    const char *override = getenv("DENALI_VMPROC");
    if (override && *override) {
        snprintf(path, len, "%s", override);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0) {
            snprintf(err, errlen, "cannot find the monitor's own path: %s", strerror(errno));
            return -1;
        }
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash)
            slash[1] = 0;
        if (strlen(self) + sizeof(VMPROC_PROGRAM) > len) {
            snprintf(err, errlen, "the monitor's path is too long");
            return -1;
        }
        memcpy(path, self, strlen(self));
        memcpy(path + strlen(self), VMPROC_PROGRAM, sizeof(VMPROC_PROGRAM));
    }
    if (access(path, X_OK) < 0) {
        snprintf(err, errlen, "cannot run the VM-process program %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

struct platform *process_platform_open(char *err, size_t errlen)
{
    struct process_platform *pp = calloc(1, sizeof(*pp));
    if (!pp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (find_program(pp->program, sizeof(pp->program), err, errlen) < 0) {
        free(pp);
        return NULL;
    }
    pthread_mutex_init(&pp->lock, NULL);
    pthread_mutex_init(&pp->zygote_lock, NULL);
    pp->monitor_pid = getpid();
    pp->launch_flags = VMPROC_LAUNCH_UNSHARE;
    pp->base.ops = &process_ops;
    pp->base.kind = PLATFORM_PROCESS;
    pp->base.shared_ram = true;
    pp->base.fds_per_vm = 0;
    pp->base.pids_per_vm = 1;
    return &pp->base;
}
