/* Process-platform scale floor: N spawned processes on slices of one memfd, idling in futex waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define NS_PER_S     1000000000ull
#define MAX_PARALLEL 64u
/* Shared with idle_child.c. */
#define RAM_FD      3
#define SLICE_SIZE  (2ull << 20) /* a VM's RAM: -m 2M */
#define WORD_OFFSET 0x1000u      /* each process's futex word, in its slice's second page */
#define WORD_SETUP  0u
#define WORD_READY  1u
#define WORD_EXIT   UINT32_MAX
/* A process not ready after this long is taken as failed. */
#define READY_TIMEOUT_NS (30 * NS_PER_S)

static char child_path[PATH_MAX];
static unsigned long nprocs;
static int memfd;
static uint8_t *ram; /* the whole memfd, mapped here as the monitor maps all guest RAM */
static pid_t *pids;
static uint64_t *ready_ns; /* spawn to ready, per process */
static _Atomic unsigned long spawned;
/*
 * The spawning threads live until every process is reaped: PR_SET_PDEATHSIG (which each child
 * sets) fires when the thread that spawned it ends, not the whole parent.
 */
static pthread_barrier_t spawned_all, release;

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / NS_PER_S), .tv_nsec = (long)(t_ns % NS_PER_S)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static _Atomic uint32_t *word_of(unsigned long i)
{
    return (_Atomic uint32_t *)(ram + i * SLICE_SIZE + WORD_OFFSET);
}

/* Shared (not FUTEX_PRIVATE_FLAG) futexes: each word is mapped by two processes. */
static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

struct spawner {
    pthread_t thread;
    unsigned long first, stride;
    int err;          /* errno of a failed posix_spawn, 0 otherwise */
    const char *what; /* what failed */
};

/* Waits until process i says it is ready; -1 when it ends first or takes too long. */
static int wait_ready(unsigned long i)
{
    _Atomic uint32_t *w = word_of(i);
    uint64_t deadline = bench_now_ns() + READY_TIMEOUT_NS;
    while (atomic_load(w) == WORD_SETUP) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000};
        futex(w, FUTEX_WAIT, WORD_SETUP, &ts);
        if (atomic_load(w) != WORD_SETUP)
            break;
        siginfo_t info = {0};
        bool ended = waitid(P_PID, (id_t)pids[i], &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                     info.si_pid != 0;
        if (ended || bench_now_ns() > deadline)
            return -1;
    }
    return 0;
}

/*
 * One spawning thread, as the monitor has one per worker: spawns a process, waits until it is
 * ready (mapped, locked down, waiting), then the next, as a worker creates a VM and runs it to
 * its first exit.
 */
static void *spawner_main(void *arg)
{
    struct spawner *s = arg;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, memfd, RAM_FD);
    char *envp[] = {NULL};
    for (unsigned long i = s->first; i < nprocs; i += s->stride) {
        char offset[24];
        snprintf(offset, sizeof(offset), "%llx", (unsigned long long)(i * SLICE_SIZE));
        char *argv[] = {"idle_child", offset, NULL};
        uint64_t t0 = bench_now_ns();
        int err = posix_spawn(&pids[i], child_path, &fa, NULL, argv, envp);
        if (err != 0) {
            s->err = err;
            s->what = "posix_spawn";
            break;
        }
        atomic_fetch_add(&spawned, 1);
        if (wait_ready(i) < 0) {
            s->err = ETIMEDOUT;
            s->what = "process ended or hung before it was ready";
            break;
        }
        ready_ns[i] = bench_now_ns() - t0;
    }
    posix_spawn_file_actions_destroy(&fa);
    pthread_barrier_wait(&spawned_all);
    pthread_barrier_wait(&release);
    return NULL;
}

/* Sets every spawned process's word to WORD_EXIT, wakes it and reaps all; returns how many did
 * not exit 0. */
static unsigned long stop_all(void)
{
    for (unsigned long i = 0; i < nprocs; i++) {
        if (pids[i] <= 0)
            continue;
        atomic_store(word_of(i), WORD_EXIT);
        futex(word_of(i), FUTEX_WAKE, 1, NULL);
    }
    unsigned long bad = 0;
    for (unsigned long i = 0; i < nprocs; i++) {
        int status;
        if (pids[i] > 0 &&
            (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
            bad++;
    }
    return bad;
}

int main(int argc, char **argv)
{
    unsigned long idle_s = 0, parallel = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    parallel = cpus > 0 ? (unsigned long)cpus : 1;
    if (argc < 3 || argc > 4 || (nprocs = strtoul(argv[1], NULL, 0)) == 0 || nprocs > 1000000 ||
        (idle_s = strtoul(argv[2], NULL, 0)) > 3600 ||
        (argc == 4 && ((parallel = strtoul(argv[3], NULL, 0)) == 0 || parallel > MAX_PARALLEL))) {
        fprintf(stderr, "usage: idle_procs N SECONDS [PARALLEL]   (SECONDS of idling, each process "
                        "woken once a second; PARALLEL spawning threads, default online CPUs)\n");
        return 2;
    }
    if (bench_find_sibling("idle_procs", argv[0], "IDLE_CHILD", "idle_child", child_path,
                           sizeof(child_path)) < 0)
        return 1;
    if (parallel > nprocs)
        parallel = nprocs;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NPROC, &rl);
    }

    long avail_before = bench_proc_kib("/proc/meminfo", "MemAvailable"),
         kernel_before = bench_kernel_kib();
    long shmem_before = bench_proc_kib("/proc/meminfo", "Shmem"),
         anon_before = bench_proc_kib("/proc/meminfo", "AnonPages");
    /* One memfd for every process's RAM, as the monitor must (a descriptor per VM would not do);
     * above RAM_FD, so the child's dup2 always makes a fresh, inheritable descriptor. */
    int fd = memfd_create("idle_procs", MFD_CLOEXEC);
    memfd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 16) : -1;
    if (fd >= 0)
        close(fd);
    size_t total = nprocs * SLICE_SIZE;
    pids = calloc(nprocs, sizeof(*pids));
    ready_ns = calloc(nprocs, sizeof(*ready_ns));
    if (memfd < 0 || !pids || !ready_ns || ftruncate(memfd, (off_t)total) < 0) {
        perror("idle_procs: setting up");
        return 1;
    }
    ram = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd, 0);
    if (ram == MAP_FAILED) {
        perror("idle_procs: mmap");
        return 1;
    }

    struct spawner spawners[MAX_PARALLEL];
    pthread_barrier_init(&spawned_all, NULL, (unsigned)parallel + 1);
    pthread_barrier_init(&release, NULL, (unsigned)parallel + 1);
    uint64_t t0 = bench_now_ns();
    for (unsigned long t = 0; t < parallel; t++) {
        spawners[t] = (struct spawner){.first = t, .stride = parallel};
        if (pthread_create(&spawners[t].thread, NULL, spawner_main, &spawners[t]) != 0) {
            /* Exiting ends the spawners, and with them (PDEATHSIG) every process spawned. */
            fprintf(stderr, "idle_procs: cannot start spawning thread %lu\n", t);
            return 1;
        }
    }
    pthread_barrier_wait(&spawned_all);
    uint64_t t_ready = bench_now_ns();
    int failed = 0;
    for (unsigned long t = 0; t < parallel; t++) {
        if (spawners[t].err) {
            /* The limit that stopped us, for the driver to report (EAGAIN from posix_spawn:
             * pid_max, threads-max or RLIMIT_NPROC; ENOMEM: memory). */
            unsigned long n = atomic_load(&spawned);
            fprintf(stderr, "idle_procs: %s failed after %lu of %lu processes: %s\n",
                    spawners[t].what, n, nprocs, strerror(spawners[t].err));
            printf("FLOOR idle_procs n=%lu error=\"%s: %s\" spawned=%lu\n", nprocs,
                   spawners[t].what, strerror(spawners[t].err), n);
            failed = 1;
            break;
        }
    }
    if (failed) {
        stop_all();
        pthread_barrier_wait(&release);
        for (unsigned long t = 0; t < parallel; t++)
            pthread_join(spawners[t].thread, NULL);
        return 1;
    }

    long avail_after = bench_proc_kib("/proc/meminfo", "MemAvailable"),
         kernel_after = bench_kernel_kib();
    long shmem_after = bench_proc_kib("/proc/meminfo", "Shmem"),
         anon_after = bench_proc_kib("/proc/meminfo", "AnonPages");
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
    double boot_ms = (double)(t_ready - t0) / 1e6;
    double per_s = (double)nprocs / (boot_ms / 1e3);
    double mem_kib = (double)(avail_before - avail_after) / (double)nprocs;
    double kern_kib = (double)(kernel_after - kernel_before) / (double)nprocs;
    double shmem_kib = (double)(shmem_after - shmem_before) / (double)nprocs;
    double anon_kib = (double)(anon_after - anon_before) / (double)nprocs;
    qsort(ready_ns, nprocs, sizeof(*ready_ns), bench_compare_u64);
    double p50 = (double)ready_ns[(nprocs - 1) / 2] / 1e3;
    double p99 = (double)ready_ns[(nprocs - 1) * 99 / 100] / 1e3;
    printf("idle_procs: %lu processes spawned by %lu threads, each ready (slice mapped, pages "
           "touched, filter loaded, waiting) before the next: all in %.1f ms (%.0f processes/s); "
           "spawn to ready p50 %.1f us, p99 %.1f us\n",
           nprocs, parallel, boot_ms, per_s, p50, p99);
    printf("idle_procs: host memory per process %.1f KiB (MemAvailable delta); kernel outside the "
           "LRU lists %.1f KiB, shmem %.1f KiB, anonymous %.1f KiB; RSS of one process %ld KiB\n",
           mem_kib, kern_kib, shmem_kib, anon_kib, rss);

    /*
     * Idle: every process woken once per second, the wake-ups spread evenly over each second,
     * as a monitor keeping every deadline in one timer heap would. This line tells a driver
     * measuring CPU from outside (bench/scale.sh) that the idle phase starts now.
     */
    if (idle_s > 0)
        printf("idle_procs: idling %lu s\n", idle_s);
    fflush(stdout);
    uint64_t late_max = 0, wakes = 0, due = (uint64_t)nprocs * idle_s;
    if (idle_s > 0) {
        /*
         * The phase ends on time even when the machine cannot keep up (each wake-up costs the
         * woken process CPU too): wake-ups still due then are not made, and counted, rather
         * than stretching the phase past the window a driver measures.
         */
        uint64_t start = bench_now_ns(), end = start + idle_s * NS_PER_S, now = start;
        for (uint64_t e = 0; e < due && now < end; e++) {
            uint64_t slot = start + e * NS_PER_S / nprocs;
            if (slot > now) {
                sleep_until(slot);
                now = bench_now_ns();
            }
            if (now - slot > late_max)
                late_max = now - slot;
            _Atomic uint32_t *w = word_of(e % nprocs);
            uint32_t v = atomic_load(w) + 1;
            atomic_store(w, v == WORD_EXIT ? WORD_READY + 1 : v);
            futex(w, FUTEX_WAKE, 1, NULL);
            wakes++;
            now = bench_now_ns();
        }
        sleep_until(end);
        printf("idle_procs: idled %lu s, %lu wake-ups/s due: %llu of %llu made, worst lateness "
               "%.0f us\n",
               idle_s, nprocs, (unsigned long long)wakes, (unsigned long long)due,
               (double)late_max / 1e3);
    }

    uint64_t t_stop = bench_now_ns();
    unsigned long bad = stop_all();
    double reap_ms = (double)(bench_now_ns() - t_stop) / 1e6;
    pthread_barrier_wait(&release);
    for (unsigned long t = 0; t < parallel; t++)
        pthread_join(spawners[t].thread, NULL);
    printf("idle_procs: all woken to exit and reaped in %.1f ms; %lu did not exit 0\n", reap_ms,
           bad);
    printf("FLOOR idle_procs n=%lu parallel=%lu boot_ms=%.1f procs_per_s=%.0f ready_p50_us=%.1f "
           "ready_p99_us=%.1f mem_kib_per_proc=%.1f kernel_kib_per_proc=%.1f "
           "shmem_kib_per_proc=%.1f anon_kib_per_proc=%.1f rss_kib_one=%ld idle_s=%lu "
           "wakes=%llu wakes_due=%llu worst_late_us=%.0f reap_ms=%.1f bad_exits=%lu\n",
           nprocs, parallel, boot_ms, per_s, p50, p99, mem_kib, kern_kib, shmem_kib, anon_kib, rss,
           idle_s, (unsigned long long)wakes, (unsigned long long)due, (double)late_max / 1e3,
           reap_ms, bad);
    return bad ? 1 : 0;
}
