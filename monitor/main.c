/* The `denali` command: parses the command line, sets up one monitor and reports how every VM
 * ended. */
#include <errno.h>
#include <stddef.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli_main.h"
#include "daemon/daemon_main.h"
#include "sched/control.h"
#include "sched/monitor.h"
#include "net/network.h"
#include "sched/worker.h"
#include "sched/snapshot_store.h"
#include "disk/disk_device.h"
#include "sched/hibernate.h"
#include "sched/pager.h"
#include "sched/residency.h"
#include "util/ksm.h"
#include <sys/stat.h>

#define EXIT_VM_FAILED      1
#define EXIT_USAGE          2
#define FD_RESERVE          64u
#define RAM_RESERVATION_MAX (64ull << 40)
#define MAX_LISTED_NONZERO  100u

static const char top_usage[] =
    "usage: denali COMMAND [ARGS...]\n"
    "Denali isolation kernel: runs many small paravirtualized VMs, each a KVM VM\n"
    "(platform kvm) or a seccomp-locked host process (platform process).\n"
    "\n"
    "commands:\n"
    "  run [OPTIONS] IMAGE [GUEST-ARGS...]   boot IMAGE in one or more VMs\n"
    "  run [OPTIONS] --restore FILE          start VMs as clones of a snapshot file\n"
    "  snapshot -o FILE [OPTIONS] IMAGE ...  boot IMAGE to its ready call and write FILE\n"
    "  daemon [OPTIONS]                      the supervisor: serves the API (docs/API.md)\n"
    "  ps | inspect | logs | stats | start | stop | kill | rm | pause | resume | events\n"
    "  | version | run -d ...                clients of the daemon; COMMAND --help for each\n"
    "  platforms                             say which platforms this host can run, and\n"
    "                                        which `--platform auto` picks\n"
    "\n"
    "`denali run --help` lists the run options.\n";

static int usage_error(const char *fmt, const char *detail)
{
    fprintf(stderr, "denali: ");
    fprintf(stderr, fmt, detail);
    fprintf(stderr, "\n(see `denali run --help`)\n");
    return EXIT_USAGE;
}

/* A KVM VM holds one descriptor (its vCPU), so the fd limit bounds how many can be live. */
static unsigned live_vm_limit(const struct run_options *o, unsigned fds_per_vm)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    unsigned limit = o->count;
    if (fds_per_vm && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        unsigned fds =
            (rl.rlim_cur > FD_RESERVE * 2 ? (unsigned)(rl.rlim_cur - FD_RESERVE) : FD_RESERVE) /
            fds_per_vm;
        if (fds < limit)
            limit = fds;
    }
    uint64_t by_memory = RAM_RESERVATION_MAX / o->mem_size;
    if (by_memory < limit)
        limit = (unsigned)by_memory;
    return limit;
}

static void show_progress(struct monitor *m)
{
    static bool announced;
    unsigned count = m->options->count;
    unsigned booted = atomic_load(&m->booted);
    bool terminal = m->options->progress_set ? m->options->progress : isatty(STDERR_FILENO);
    if (terminal && count > 1 && !announced)
        fprintf(stderr, "\rdenali: booted %u/%u VMs, %u live, %u ended ", booted, count,
                atomic_load(&m->live), atomic_load(&m->finished));
    uint64_t all = atomic_load(&m->all_booted_ns);
    if (all && !announced) {
        announced = true;
        if (terminal || m->options->stats)
            fprintf(stderr, "%sdenali: all %u VMs booted in %.1f ms\n", terminal ? "\n" : "", count,
                    all / 1e6);
    }
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double cpu_ms_of(const struct rusage *ru)
{
    return (ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e3 +
           (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e3;
}

/* p50 and p99 of the non-zero values of one vm_result field; 0 when none. */
static unsigned percentiles(const struct monitor *m, size_t offset, uint32_t *p50, uint32_t *p99)
{
    unsigned count = m->options->count, n = 0;
    uint32_t *values = malloc(sizeof(*values) * count);
    for (unsigned i = 0; values && i < count; i++) {
        uint32_t v;
        memcpy(&v, (const char *)&m->results[i] + offset, sizeof(v));
        if (v)
            values[n++] = v;
    }
    *p50 = *p99 = 0;
    if (n) {
        qsort(values, n, sizeof(*values), compare_u32);
        *p50 = values[(n - 1) / 2];
        *p99 = values[(uint64_t)(n - 1) * 99 / 100];
    }
    free(values);
    return n;
}

static void print_stats(const struct monitor *m, uint64_t wall_ns)
{
    unsigned count = m->options->count;
    uint32_t p50, p99, ready_p50, ready_p99;
    percentiles(m, offsetof(struct vm_result, boot_us), &p50, &p99);
    unsigned ready = percentiles(m, offsetof(struct vm_result, ready_us), &ready_p50, &ready_p99);
    uint32_t balloon_p50, balloon_p99;
    unsigned ballooned =
        percentiles(m, offsetof(struct vm_result, balloon_us), &balloon_p50, &balloon_p99);
    struct rusage ru, vms;
    getrusage(RUSAGE_SELF, &ru);
    /* VM processes (process platform) are children, all reaped by now; under kvm there are none. */
    getrusage(RUSAGE_CHILDREN, &vms);
    double cpu_ms = cpu_ms_of(&ru), vm_cpu_ms = cpu_ms_of(&vms);
    struct pager_counts paging = pager_counts(m->pager);
    fprintf(stderr,
            "denali-stats: platform=%s vms=%u boot_p50_us=%u boot_p99_us=%u all_booted_ms=%.1f "
            "exits=%lu cpu_ms=%.1f vm_process_cpu_ms=%.1f wall_ms=%.1f max_rss_kb=%ld "
            "vm_process_max_rss_kb=%ld ready_vms=%u ready_p50_us=%u ready_p99_us=%u "
            "balloon_requests=%lu balloon_vms=%u balloon_p50_us=%u balloon_p99_us=%u "
            "balloon_released_kb=%lu hibernations=%lu wakes=%lu hibernate_failures=%lu "
            "guest_ram_peak_kb=%lu pages_out=%lu pages_in=%lu zero_fills=%lu "
            "swapped_peak_kb=%lu paging_failures=%lu page_out_failures=%lu fault_waits=%lu "
            "limit_overruns=%lu max_resident=%u resident_bound=%s resident_peak=%u\n",
            m->platform->ops->name, count, p50, p99, atomic_load(&m->all_booted_ns) / 1e6,
            (unsigned long)atomic_load(&m->exits), cpu_ms, vm_cpu_ms, wall_ns / 1e6, ru.ru_maxrss,
            vms.ru_maxrss, ready, ready_p50, ready_p99,
            (unsigned long)atomic_load(&m->balloon_requests), ballooned, balloon_p50, balloon_p99,
            (unsigned long)(atomic_load(&m->balloon_released) >> 10),
            (unsigned long)atomic_load(&m->hibernations), (unsigned long)atomic_load(&m->wakes),
            (unsigned long)atomic_load(&m->hibernate_failures), (unsigned long)(m->held_peak >> 10),
            (unsigned long)paging.pages_out, (unsigned long)paging.pages_in,
            (unsigned long)paging.zero_fills, (unsigned long)(paging.swapped_peak * 4),
            (unsigned long)paging.failures, (unsigned long)atomic_load(&m->page_out_failures),
            (unsigned long)paging.fault_waits, (unsigned long)paging.limit_overruns,
            m->max_resident, m->resident_bound, atomic_load(&m->resident_peak));
}

static int report(const struct monitor *m)
{
    unsigned count = m->options->count, ok = 0, nonzero = 0, stopped = 0;
    for (unsigned i = 0; i < count; i++) {
        const struct vm_result *r = &m->results[i];
        if (r->outcome == OUTCOME_EXITED && r->status == 0) {
            ok++;
        } else if (r->outcome == OUTCOME_EXITED) {
            if (nonzero++ < MAX_LISTED_NONZERO)
                fprintf(stderr, "denali: vm %u exited %d\n", i, r->status);
        } else {
            stopped++;
            fprintf(stderr, "denali: vm %u stopped: %s\n", i, r->reason ? r->reason : "never ran");
        }
    }
    if (nonzero > MAX_LISTED_NONZERO)
        fprintf(stderr, "denali: ... and %u more VMs exited non-zero\n",
                nonzero - MAX_LISTED_NONZERO);
    fprintf(stderr, "denali: %u VM%s: %u exited 0, %u exited non-zero, %u stopped\n", count,
            count == 1 ? "" : "s", ok, nonzero, stopped);
    return ok == count ? 0 : EXIT_VM_FAILED;
}

/* SIGINT and SIGTERM stop the VMs like a time limit, so the summary still prints. */
static void *signal_main(void *arg)
{
    struct monitor *m = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR2);
    int sig;
    /* SIGUSR2 asks every VM for its free memory back, as --mem-limit does past its limit. */
    while (sigwait(&set, &sig) == 0 && sig == SIGUSR2)
        workers_request_balloon(m, UINT64_MAX);
    workers_request_stop(m, sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
    return NULL;
}

static void watch_signals(struct monitor *m)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR2);
    /* Blocked in every thread made from here on; only signal_main takes them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t thread;
    if (pthread_create(&thread, NULL, signal_main, m) == 0)
        pthread_detach(thread);
}

static int run_command(int argc, char **argv)
{
    struct run_options options;
    char err[512];
    switch (options_parse_run(argc, argv, &options, err, sizeof(err))) {
    case OPTIONS_HELP:
        fputs(options_run_usage, stdout);
        return 0;
    case OPTIONS_ERROR:
        return usage_error("%s", err);
    case OPTIONS_OK:
        break;
    }
    static struct monitor m;
    m.options = &options;
    /* --restore: the image, its arguments and the memory size are the snapshot's. */
    static struct snapshot_guest restored;
    static struct platform_snapshot restored_snap;
    uint64_t image_size = 0, image_hash = 0;
    if (options.restore_path) {
        if (snapshot_store_load(options.restore_path, &restored_snap, &restored, &image_size,
                                &image_hash, err, sizeof(err)) < 0) {
            fprintf(stderr, "denali: %s\n", err);
            return EXIT_USAGE;
        }
        if (options.mem_set && options.mem_size != restored.mem_size) {
            fprintf(stderr, "denali: --mem %lu KiB: the snapshot's VMs have %lu KiB\n",
                    (unsigned long)(options.mem_size >> 10),
                    (unsigned long)(restored.mem_size >> 10));
            return EXIT_USAGE;
        }
        options.mem_size = restored.mem_size;
        options.image_path = restored.image_path;
        options.guest_argc = restored.argc;
        options.guest_argv = restored.argv;
    }
    if (guest_image_load(&m.image, options.image_path, options.mem_size, options.guest_argc,
                         options.guest_argv, err, sizeof(err)) < 0) {
        fprintf(stderr, "denali: %s\n", err);
        return EXIT_USAGE;
    }
    if (options.restore_path &&
        snapshot_store_check_image(&m.image, image_size, image_hash, err, sizeof(err)) < 0) {
        fprintf(stderr, "denali: %s: %s\n", options.restore_path, err);
        return EXIT_USAGE;
    }
    /* Before any VM process exists: each inherits the flag. */
    if (options.ksm) {
        if (ksm_merge_this_process(err, sizeof(err)) < 0) {
            fprintf(stderr, "denali: --ksm: %s\n", err);
            return EXIT_USAGE;
        }
        if (!ksm_running())
            fprintf(stderr,
                    "denali: --ksm: the kernel's KSM is not running (/sys/kernel/mm/ksm/run "
                    "is not 1): nothing will be merged\n");
    }
    enum platform_kind want = options.platform;
    const char *from_env = getenv("DENALI_PLATFORM");
    if (!options.platform_set && from_env && *from_env && platform_parse(from_env, &want) < 0)
        return usage_error("DENALI_PLATFORM: expected kvm, process or auto, got '%s'", from_env);
    m.platform = platform_open(want, err, sizeof(err));
    if (!m.platform) {
        fprintf(stderr, "denali: platform %s: %s\n", platform_kind_name(want), err);
        return EXIT_USAGE;
    }
    if (options.restore_path) {
        if (restored_snap.platform != m.platform->kind) {
            bool known = restored_snap.platform == PLATFORM_KVM ||
                         restored_snap.platform == PLATFORM_PROCESS;
            fprintf(stderr, "denali: %s was taken on platform %s; this run uses %s\n",
                    options.restore_path,
                    known ? platform_kind_name(restored_snap.platform) : "unknown",
                    m.platform->ops->name);
            return EXIT_USAGE;
        }
        m.snapshot = &restored_snap;
    }
    if (options.stats)
        fprintf(stderr, "denali: platform %s (%s)\n", m.platform->ops->name, m.platform->why);
    if (console_init(&m.console, options.console, options.console_dir, err, sizeof(err)) < 0) {
        fprintf(stderr, "denali: %s\n", err);
        return EXIT_USAGE;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    m.worker_count = options.workers ? options.workers : (cpus > 0 ? (unsigned)cpus : 1);
    if (m.worker_count > options.count)
        m.worker_count = options.count;
    /* Clones are forked from a zygote, which holds one more RAM slot. */
    bool cloning = options.clone || options.restore_path;
    /*
     * Paging needs a limit to keep and a place to go. A clone's own pages are copy-on-write copies
     * (in its process, or in the monitor's view on kvm) no userfaultfd sees, so pressure
     * hibernates a clone whole; it wakes as a VM of its own, paged like any other.
     */
    bool paging = options.mem_limit && options.swap_path && !options.snapshot_out;
    if (paging && !m.platform->ops->pager_start) {
        fprintf(stderr,
                "denali: --mem-limit with --swap: the %s platform cannot page yet "
                "(ballooning only)\n",
                m.platform->ops->name);
        paging = false;
    }
    if (cloning && (options.hibernate_after_s > 0 || options.swap_path) &&
        !m.platform->ops->vcpu_copy_private) {
        fprintf(stderr,
                "denali: --hibernate-after or --swap with clones: the %s platform cannot "
                "hibernate a clone yet\n",
                m.platform->ops->name);
        return EXIT_USAGE;
    }
    /* A paged VM's process lends the monitor its userfaultfd and its pagemap. */
    if (paging) {
        m.platform->paging = true;
        m.platform->fds_per_vm += 2;
    }
    /* A writable disk's overlay is a descriptor each VM holds from its first write. */
    for (unsigned i = 0; i < options.disk_count; i++)
        m.platform->fds_per_vm += !options.disks[i].read_only;
    m.max_live = live_vm_limit(&options, m.platform->fds_per_vm);
    struct host_limits host;
    residency_read_host(&host);
    m.max_resident = residency_limit(options.count, options.max_resident, m.platform->pids_per_vm,
                                     &host, &m.resident_bound);
    if (m.max_resident > m.max_live) {
        m.max_resident = m.max_live;
        m.resident_bound = "max_live"; /* descriptors or the RAM reservation */
    }
    /*
     * Hibernation and paging keep guest RAM in one memfd on every platform:
     * pages go out by punching holes, come back through it, and survive a
     * dropped mapping. kvm maps either kind.
     */
    if (options.hibernate_after_s > 0 || options.swap_path)
        m.platform->shared_ram = true;
    m.results = calloc(options.count, sizeof(*m.results));
    if (!m.results || ram_pool_init(&m.ram, options.mem_size, m.max_live + (cloning ? 1 : 0),
                                    m.platform->shared_ram) < 0) {
        fprintf(stderr, "denali: cannot reserve guest memory for %u VMs of %lu KiB: %s\n",
                m.max_live, (unsigned long)(options.mem_size >> 10), strerror(errno));
        return EXIT_USAGE;
    }
    m.platform->ram = &m.ram;
    watch_signals(&m);
    struct network *net = network_start(&m, err, sizeof(err));
    if (!net && err[0]) {
        fprintf(stderr, "denali: %s\n", err);
        return EXIT_USAGE;
    }
    struct disks *disks = disks_start(&m, err, sizeof(err));
    if (!disks && err[0]) {
        fprintf(stderr, "denali: %s\n", err);
        return EXIT_USAGE;
    }
    m.swap_fd = -1;
    if (options.swap_path && (m.swap_fd = swap_open(options.swap_path, err, sizeof(err))) < 0) {
        fprintf(stderr, "denali: %s\n", err);
        return EXIT_USAGE;
    }
    struct pager pager;
    if (paging) {
        if (pager_init(&pager, m.platform, &m.ram, m.swap_fd, options.count, err, sizeof(err)) <
            0) {
            fprintf(stderr, "denali: %s\n", err);
            return EXIT_USAGE;
        }
        pager.hard_limit = options.mem_limit;
        m.pager = &pager;
    }
    m.quantum_ns = (uint64_t)options.quantum_ms * 1000000ull;
    m.epoch_ns = monitor_now_ns();
    if (options.time_limit_s > 0)
        m.time_limit_ns = (uint64_t)(options.time_limit_s * 1e9);
    bool watch = options.stats || (options.progress_set ? options.progress : isatty(STDERR_FILENO));
    struct control *control = NULL;
    if (options.control_fd &&
        !(control = control_start(&m, options.control_fd, err, sizeof(err)))) {
        fprintf(stderr, "denali: %s\n", err);
        return EXIT_USAGE;
    }
    if (workers_run(&m, watch ? show_progress : NULL) < 0) {
        fprintf(stderr, "denali: cannot start the workers: %s\n", strerror(errno));
        return EXIT_USAGE;
    }
    control_stop(control);
    uint64_t wall = monitor_now_ns() - m.epoch_ns;
    console_destroy(&m.console);
    int status = report(&m);
    if (options.snapshot_out) {
        struct stat st;
        if (m.snapshot_written && stat(options.snapshot_out, &st) == 0) {
            fprintf(stderr, "denali: snapshot of %s written to %s (%lu KiB)\n", options.image_path,
                    options.snapshot_out, (unsigned long)(st.st_size >> 10));
        } else {
            fprintf(stderr,
                    "denali: no snapshot written to %s: vm 0 did not reach its ready call\n",
                    options.snapshot_out);
            status = EXIT_VM_FAILED;
        }
    }
    if (options.stats)
        print_stats(&m, wall);
    if (m.pager)
        pager_close(m.pager);
    network_stop(net);
    disks_stop(disks);
    /* The platform first: a process platform's zygote holds a slot of the pool. */
    platform_close(m.platform);
    ram_pool_destroy(&m.ram);
    guest_image_unload(&m.image);
    for (unsigned i = 0; i < options.count; i++)
        free(m.results[i].reason);
    free(m.results);
    return status;
}

/* One line per platform, then the one `auto` picks: for people and for the test runner. */
static int platforms_command(int argc)
{
    if (argc != 1) {
        fprintf(stderr, "denali: platforms takes no arguments\n");
        return EXIT_USAGE;
    }
    const enum platform_kind kinds[] = {PLATFORM_KVM, PLATFORM_PROCESS};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char why[192];
        if (platform_available(kinds[i], why, sizeof(why)))
            printf("%s: available\n", platform_kind_name(kinds[i]));
        else
            printf("%s: unavailable (%s)\n", platform_kind_name(kinds[i]), why);
    }
    char err[192];
    struct platform *p = platform_open(PLATFORM_AUTO, err, sizeof(err));
    if (!p) {
        printf("auto: none (%s)\n", err);
        return EXIT_VM_FAILED;
    }
    printf("auto: %s (%s)\n", p->ops->name, p->why);
    platform_close(p);
    return 0;
}

int main(int argc, char **argv)
{
    /*
     * Every KVM VM registers an MMU notifier on this process, so each munmap
     * or mprotect walks all of them: with 1,000 VMs, malloc giving memory
     * back (trimming, mmap'd chunks) costs milliseconds. Keep what it gets.
     * One arena: a thread's own arena grows by mprotect, a little at a time
     * (the slirp thread's socket buffers spent nearly all its time there
     * with 10,000 VMs), while the main arena grows with brk and M_TOP_PAD.
     */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_ARENA_MAX, 1);
    if (argc < 2) {
        fputs(top_usage, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(top_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0 && cli_run_is_detached(argc - 1, argv + 1))
        return cli_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "run") == 0 || strcmp(argv[1], "snapshot") == 0)
        return run_command(argc - 1, argv + 1);
    if (strcmp(argv[1], "daemon") == 0)
        return daemon_main(argc - 1, argv + 1);
    if (cli_is_command(argv[1]))
        return cli_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "platforms") == 0)
        return platforms_command(argc - 1);
    fprintf(stderr, "denali: unknown command '%s'\n", argv[1]);
    fputs(top_usage, stderr);
    return EXIT_USAGE;
}
