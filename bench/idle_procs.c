/* Process-platform scale floor: N processes on slices of one memfd, idling in futex waits. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S     1000000000ull
#define SLICE_SIZE   (2ull << 20) /* a VM's RAM: -m 2M */
#define TOUCH_PAGES  8u           /* pages each process writes, as a small guest does */
#define PAGE_SIZE    4096u
#define MAX_PARALLEL 64u
#define WORD_EXIT    UINT32_MAX /* a process's word set to this: exit */

/*
 * The control page(s), shared by every process: a count of processes ready, and one futex word
 * per process, which the parent bumps to wake it (as a monitor wakes a VM whose deadline came).
 */
struct control {
    _Atomic uint32_t ready;
    _Atomic uint32_t word[];
};

static struct control *ctl;
static size_t ctl_size;
static int memfd;
static unsigned long nprocs;
static pid_t *pids;
static _Atomic unsigned long spawned;
/*
 * The spawning threads live until every process has been reaped: PR_SET_PDEATHSIG fires when
 * the thread that forked a process ends, not the whole parent, so a spawner that returned
 * early would kill its share. `forked` is passed when all have forked; `release` at the end.
 */
static pthread_barrier_t forked, release;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / NS_PER_S), .tv_nsec = (long)(t_ns % NS_PER_S)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Shared (not FUTEX_PRIVATE_FLAG) futex calls: the words live in memory several processes map. */
static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* Reads a "Key: value kB" line from /proc/meminfo; returns the value in KiB, or -1. */
static long meminfo_kib(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    size_t keylen = strlen(key);
    long val = -1;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, keylen) == 0 && line[keylen] == ':') {
            val = strtol(line + keylen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return val;
}

/* Kernel memory outside the page LRU lists (page tables, kernel stacks, slab), as in raw_scale. */
static long kernel_kib(void)
{
    return meminfo_kib("MemTotal") - meminfo_kib("MemFree") - meminfo_kib("Active") -
           meminfo_kib("Inactive") - meminfo_kib("Unevictable");
}

/* BPF: compare the 32-bit word at `off` of seccomp_data with k; on equality skip `jt`. */
#define LOAD(off)       BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, jt, jf)  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf))
#define JSET(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (k), (jt), (jf))
#define RET(v)          BPF_STMT(BPF_RET | BPF_K, (v))
#define ARG_LO(i)       (offsetof(struct seccomp_data, args) + (i)*8u)
#define ARG_HI(i)       (offsetof(struct seccomp_data, args) + (i)*8u + 4u)

/*
 * A small filter of the kind a VM process carries: x86-64 only (no x32 numbers), exit and
 * exit_group, and futex on the process's own word or the ready count only; anything else kills
 * the process. Built per process, since the word's address is pinned.
 */
static int load_filter(_Atomic uint32_t *word)
{
    uint64_t w = (uint64_t)(uintptr_t)word, r = (uint64_t)(uintptr_t)&ctl->ready;
    struct sock_filter code[] = {
        LOAD(offsetof(struct seccomp_data, arch)),
        JEQ(AUDIT_ARCH_X86_64, 1, 0),
        RET(SECCOMP_RET_KILL_PROCESS),
        LOAD(offsetof(struct seccomp_data, nr)),
        JSET(0x40000000u, 0, 1), /* x32 */
        RET(SECCOMP_RET_KILL_PROCESS),
        JEQ(SYS_exit_group, 1, 0),
        JEQ(SYS_exit, 0, 1),
        RET(SECCOMP_RET_ALLOW),
        JEQ(SYS_futex, 0, 9),
        /* The high halves of both addresses are equal: one page mapping holds them. */
        LOAD(ARG_HI(0)),
        JEQ((uint32_t)(w >> 32), 0, 7),
        LOAD(ARG_LO(0)),
        JEQ((uint32_t)w, 1, 0),
        JEQ((uint32_t)r, 0, 4),
        LOAD(ARG_LO(1)),
        JEQ(FUTEX_WAIT, 1, 0),
        JEQ(FUTEX_WAKE, 0, 1),
        RET(SECCOMP_RET_ALLOW),
        RET(SECCOMP_RET_KILL_PROCESS),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    if ((uint32_t)(w >> 32) != (uint32_t)(r >> 32))
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* The child: its slice, its pages, its filter, then sleep until told to exit. */
static __attribute__((noreturn)) void child_main(unsigned long i, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(3);
    uint8_t *slice =
        mmap(NULL, SLICE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, (off_t)(i * SLICE_SIZE));
    if (slice == MAP_FAILED)
        _exit(4);
    close(memfd);
    for (unsigned p = 0; p < TOUCH_PAGES; p++)
        slice[p * PAGE_SIZE] = 1;
    _Atomic uint32_t *word = &ctl->word[i];
    if (load_filter(word) < 0)
        _exit(5);
    if (atomic_fetch_add(&ctl->ready, 1) + 1 == nprocs)
        futex(&ctl->ready, FUTEX_WAKE, 1, NULL);
    uint32_t v;
    while ((v = atomic_load(word)) != WORD_EXIT)
        futex(word, FUTEX_WAIT, v, NULL);
    syscall(SYS_exit_group, 0);
    _exit(0); /* not reached */
}

struct spawner {
    pthread_t thread;
    unsigned long first, stride;
    pid_t parent;
    int err; /* errno of a failed fork, 0 otherwise */
};

/* One spawning thread, as the monitor has one per worker: forks its share of the processes. */
static void *spawner_main(void *arg)
{
    struct spawner *s = arg;
    for (unsigned long i = s->first; i < nprocs; i += s->stride) {
        pid_t pid = fork();
        if (pid < 0) {
            s->err = errno;
            break;
        }
        if (pid == 0)
            child_main(i, s->parent);
        pids[i] = pid;
        atomic_fetch_add(&spawned, 1);
    }
    pthread_barrier_wait(&forked);
    pthread_barrier_wait(&release);
    return NULL;
}

/* Wakes every process with WORD_EXIT and reaps them; returns how many did not exit 0. */
static unsigned long stop_all(void)
{
    for (unsigned long i = 0; i < nprocs; i++) {
        atomic_store(&ctl->word[i], WORD_EXIT);
        futex(&ctl->word[i], FUTEX_WAKE, 1, NULL);
    }
    unsigned long bad = 0;
    int status;
    while (waitpid(-1, &status, 0) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
    return bad;
}

/*
 * Waits until every process is ready; fails when one ends first (its filter or mapping failed)
 * or when none became ready for a long while.
 */
static int wait_ready(void)
{
    uint32_t r, last = 0;
    uint64_t last_progress = now_ns();
    while ((r = atomic_load(&ctl->ready)) < nprocs) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};
        futex(&ctl->ready, FUTEX_WAIT, r, &ts);
        int status;
        pid_t dead = waitpid(-1, &status, WNOHANG);
        if (dead > 0) {
            fprintf(stderr, "idle_procs: process %d ended before it was ready (status 0x%x)\n",
                    (int)dead, status);
            return -1;
        }
        if (r != last) {
            last = r;
            last_progress = now_ns();
        } else if (now_ns() - last_progress > 60 * NS_PER_S) {
            fprintf(stderr, "idle_procs: stuck at %u of %lu processes ready\n", r, nprocs);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long idle_s = 0, parallel = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    parallel = cpus > 0 ? (unsigned long)cpus : 1;
    if (argc < 3 || argc > 4 || (nprocs = strtoul(argv[1], NULL, 0)) == 0 ||
        nprocs >= WORD_EXIT / 2 || (idle_s = strtoul(argv[2], NULL, 0)) > 3600 ||
        (argc == 4 && ((parallel = strtoul(argv[3], NULL, 0)) == 0 || parallel > MAX_PARALLEL))) {
        fprintf(stderr, "usage: idle_procs N SECONDS [PARALLEL]   (SECONDS of idling, each process "
                        "woken once a second; PARALLEL spawning threads, default online CPUs)\n");
        return 2;
    }
    if (parallel > nprocs)
        parallel = nprocs;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NPROC, &rl);
    }

    long avail_before = meminfo_kib("MemAvailable"), kernel_before = kernel_kib();
    long shmem_before = meminfo_kib("Shmem");
    ctl_size = (sizeof(struct control) + nprocs * sizeof(uint32_t) + PAGE_SIZE - 1) &
               ~(size_t)(PAGE_SIZE - 1);
    ctl = mmap(NULL, ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pids = calloc(nprocs, sizeof(*pids));
    /* One memfd for every process's RAM, as the monitor must (a descriptor per VM would not do). */
    memfd = memfd_create("idle_procs", 0);
    if (ctl == MAP_FAILED || !pids || memfd < 0 ||
        ftruncate(memfd, (off_t)(nprocs * SLICE_SIZE)) < 0) {
        perror("idle_procs: setting up");
        return 1;
    }

    struct spawner spawners[MAX_PARALLEL];
    pthread_barrier_init(&forked, NULL, (unsigned)parallel + 1);
    pthread_barrier_init(&release, NULL, (unsigned)parallel + 1);
    uint64_t t0 = now_ns();
    for (unsigned long t = 0; t < parallel; t++) {
        spawners[t] = (struct spawner){.first = t, .stride = parallel, .parent = getpid()};
        if (pthread_create(&spawners[t].thread, NULL, spawner_main, &spawners[t]) != 0) {
            /* Exiting ends the spawners, and with them (PDEATHSIG) every process forked. */
            fprintf(stderr, "idle_procs: cannot start spawning thread %lu\n", t);
            return 1;
        }
    }
    pthread_barrier_wait(&forked);
    int fork_err = 0;
    for (unsigned long t = 0; t < parallel; t++)
        if (spawners[t].err)
            fork_err = spawners[t].err;
    int failed = 0;
    if (fork_err) {
        /* The limit that stopped us, for the driver to report (EAGAIN: pid_max, threads-max or
         * RLIMIT_NPROC; ENOMEM: memory). */
        unsigned long n = atomic_load(&spawned);
        fprintf(stderr, "idle_procs: fork failed after %lu of %lu processes: %s\n", n, nprocs,
                strerror(fork_err));
        printf("FLOOR idle_procs n=%lu error=fork spawned=%lu errno=%d\n", nprocs, n, fork_err);
        failed = 1;
    }
    uint64_t t_forked = now_ns();
    if (!failed && wait_ready() < 0)
        failed = 1;
    if (failed) {
        stop_all();
        pthread_barrier_wait(&release);
        for (unsigned long t = 0; t < parallel; t++)
            pthread_join(spawners[t].thread, NULL);
        return 1;
    }
    uint64_t t_ready = now_ns();

    long avail_after = meminfo_kib("MemAvailable"), kernel_after = kernel_kib();
    long shmem_after = meminfo_kib("Shmem");
    char status_path[64];
    snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)pids[0]);
    FILE *f = fopen(status_path, "r");
    long rss = -1;
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "VmRSS:", 6) == 0)
                rss = strtol(line + 6, NULL, 10);
        fclose(f);
    }
    double boot_ms = (double)(t_ready - t0) / 1e6, fork_ms = (double)(t_forked - t0) / 1e6;
    double per_s = (double)nprocs / (boot_ms / 1e3);
    double mem_kib = (double)(avail_before - avail_after) / (double)nprocs;
    double kern_kib = (double)(kernel_after - kernel_before) / (double)nprocs;
    double shmem_kib = (double)(shmem_after - shmem_before) / (double)nprocs;
    printf("idle_procs: %lu processes forked by %lu threads in %.1f ms, all ready (slice mapped, "
           "%u pages touched, filter loaded, waiting) in %.1f ms (%.0f processes/s)\n",
           nprocs, parallel, fork_ms, TOUCH_PAGES, boot_ms, per_s);
    printf("idle_procs: host memory per process %.1f KiB (MemAvailable delta); kernel outside the "
           "LRU lists %.1f KiB, shmem %.1f KiB; RSS of one process %ld KiB\n",
           mem_kib, kern_kib, shmem_kib, rss);

    /*
     * Idle: every process woken once per second, the wake-ups spread evenly over each second,
     * as a monitor keeping every deadline in one timer heap would. This line tells a driver
     * measuring CPU from outside (bench/scale.sh) that the idle phase starts now.
     */
    if (idle_s > 0)
        printf("idle_procs: idling %lu s\n", idle_s);
    fflush(stdout);
    uint64_t late_max = 0;
    if (idle_s > 0) {
        uint64_t wakes = (uint64_t)nprocs * idle_s, start = now_ns(), now = start;
        for (uint64_t e = 0; e < wakes; e++) {
            uint64_t slot = start + e * NS_PER_S / nprocs;
            if (slot > now) {
                sleep_until(slot);
                now = now_ns();
            }
            if (now - slot > late_max)
                late_max = now - slot;
            _Atomic uint32_t *word = &ctl->word[e % nprocs];
            uint32_t v = atomic_load(word) + 1;
            atomic_store(word, v == WORD_EXIT ? 0 : v);
            futex(word, FUTEX_WAKE, 1, NULL);
            now = now_ns();
        }
        sleep_until(start + idle_s * NS_PER_S);
        printf("idle_procs: idled %lu s, %lu wake-ups/s, worst lateness %.0f us\n", idle_s, nprocs,
               (double)late_max / 1e3);
    }

    uint64_t t_stop = now_ns();
    unsigned long bad = stop_all();
    double reap_ms = (double)(now_ns() - t_stop) / 1e6;
    pthread_barrier_wait(&release);
    for (unsigned long t = 0; t < parallel; t++)
        pthread_join(spawners[t].thread, NULL);
    printf("idle_procs: all woken to exit and reaped in %.1f ms; %lu did not exit 0\n", reap_ms,
           bad);
    printf("FLOOR idle_procs n=%lu parallel=%lu fork_ms=%.1f boot_ms=%.1f procs_per_s=%.0f "
           "mem_kib_per_proc=%.1f kernel_kib_per_proc=%.1f shmem_kib_per_proc=%.1f "
           "rss_kib_one=%ld idle_s=%lu worst_late_us=%.0f reap_ms=%.1f bad_exits=%lu\n",
           nprocs, parallel, fork_ms, boot_ms, per_s, mem_kib, kern_kib, shmem_kib, rss, idle_s,
           (double)late_max / 1e3, reap_ms, bad);
    return bad ? 1 : 0;
}
