/* Raw floor for many VMs: create N bare CPL-3 VMs, run each once, then idle them at 1 Hz each. */
#include "bare_kvm.h"
#include "bench_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define NS_PER_S 1000000000ull

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * NS_PER_S +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

/*
 * One booting thread's share: VMs first, first + stride, ... The monitor boots with one worker
 * per CPU, so the floor boots with the same number of threads, or its ratio would measure
 * parallelism rather than the monitor's cost.
 */
struct boot_share {
    pthread_t thread;
    const struct bare_kvm *k;
    struct bare_vm *vms;
    uint8_t *mem;
    unsigned long n, first, stride;
    int create; /* 1: create the share's VMs; 0: run each to its first exit */
    int failed;
};

static void *boot_share_main(void *arg)
{
    struct boot_share *b = arg;
    for (unsigned long i = b->first; i < b->n && !b->failed; i += b->stride) {
        if (b->create) {
            uint8_t *m = b->mem + i * (size_t)BARE_MEM_SIZE;
            bare_guest_init(m, bare_out_loop, sizeof(bare_out_loop));
            if (bare_vm_create(b->k, &b->vms[i], m) < 0) {
                fprintf(stderr, "raw_scale: VM %lu of %lu failed\n", i, b->n);
                b->failed = 1;
                break;
            }
            bare_vm_close_vm_fd(&b->vms[i]);
        } else if (bare_vm_run_out(b->k, &b->vms[i]) < 0) {
            fprintf(stderr, "raw_scale: VM %lu of %lu failed to run\n", i, b->n);
            b->failed = 1;
        }
    }
    return NULL;
}

/* Creates (create = 1) or first-runs every VM with `parallel` threads; returns 0 or -1. */
static int boot_phase(const struct bare_kvm *k, struct bare_vm *vms, uint8_t *mem, unsigned long n,
                      unsigned long parallel, int create)
{
    struct boot_share shares[64];
    int failed = 0;
    for (unsigned long t = 0; t < parallel; t++) {
        shares[t] = (struct boot_share){.k = k,
                                        .vms = vms,
                                        .mem = mem,
                                        .n = n,
                                        .first = t,
                                        .stride = parallel,
                                        .create = create};
        if (pthread_create(&shares[t].thread, NULL, boot_share_main, &shares[t]) != 0) {
            fprintf(stderr, "raw_scale: cannot start booting thread %lu\n", t);
            parallel = t;
            failed = 1;
            break;
        }
    }
    for (unsigned long t = 0; t < parallel; t++) {
        pthread_join(shares[t].thread, NULL);
        failed |= shares[t].failed;
    }
    return failed ? -1 : 0;
}

static void sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / NS_PER_S), .tv_nsec = (long)(t_ns % NS_PER_S)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

int main(int argc, char **argv)
{
    unsigned long n = 0, idle_s = 5, parallel = 1;
    if (argc < 2 || argc > 4 || (n = strtoul(argv[1], NULL, 0)) == 0 ||
        (argc >= 3 && (idle_s = strtoul(argv[2], NULL, 0)) > 3600) ||
        (argc == 4 && ((parallel = strtoul(argv[3], NULL, 0)) == 0 || parallel > 64))) {
        fprintf(stderr, "usage: raw_scale N [IDLE_SECONDS [PARALLEL]]   (default 5 s of idling, "
                        "VMs booted by 1 thread; PARALLEL up to 64)\n");
        return 2;
    }
    bare_raise_nofile();
    struct bare_kvm k;
    if (bare_kvm_open(&k) < 0)
        return 1;

    long avail_before = bench_proc_kib("/proc/meminfo", "MemAvailable"),
         kernel_before = bench_kernel_kib();
    size_t total_mem = (size_t)n * BARE_MEM_SIZE;
    uint8_t *mem = mmap(NULL, total_mem, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        perror("raw_scale: mmap");
        return 1;
    }
    madvise(mem, total_mem, MADV_NOHUGEPAGE);
    struct bare_vm *vms = calloc(n, sizeof(*vms));
    if (!vms) {
        fprintf(stderr, "raw_scale: out of memory\n");
        return 1;
    }

    /* Create: each VM's fd is closed once its vCPU exists (the vCPU keeps it alive). */
    uint64_t t0 = bare_now_ns();
    if (boot_phase(&k, vms, mem, n, parallel, 1) < 0)
        return 1;
    uint64_t t1 = bare_now_ns();
    long avail_created = bench_proc_kib("/proc/meminfo", "MemAvailable");
    if (boot_phase(&k, vms, mem, n, parallel, 0) < 0)
        return 1;
    uint64_t t2 = bare_now_ns();

    long avail_after = bench_proc_kib("/proc/meminfo", "MemAvailable"),
         kernel_after = bench_kernel_kib();
    long rss = bench_proc_kib("/proc/self/status", "VmRSS");
    double create_ms = (double)(t1 - t0) / 1e6, run_ms = (double)(t2 - t1) / 1e6;
    double boot_ms = create_ms + run_ms;
    double vms_per_s = (double)n / (boot_ms / 1e3);
    double mem_kib = (double)(avail_before - avail_after) / (double)n;
    double rss_kib = (double)rss / (double)n;
    printf("raw_scale: %lu VMs created in %.1f ms, first runs in %.1f ms, by %lu threads: all "
           "booted in %.1f ms (%.0f VMs/s)\n",
           n, create_ms, run_ms, parallel, boot_ms, vms_per_s);
    double created_kib = (double)(avail_before - avail_created) / (double)n;
    double kernel_per_vm = (double)(kernel_after - kernel_before) / (double)n;
    printf("raw_scale: host memory per VM %.1f KiB (MemAvailable delta; %.1f KiB of it before the "
           "first runs), RSS per VM %.1f KiB\n",
           mem_kib, created_kib, rss_kib);
    printf("raw_scale: cross-check: kernel memory outside the LRU lists %.1f KiB/VM, plus RSS "
           "%.1f KiB/VM\n",
           kernel_per_vm, kernel_per_vm + rss_kib);

    /*
     * Idle: every VM re-entered once per second, the entries spread evenly over each second.
     * This line tells a driver measuring from outside (bench/scale.sh measures the monitor and
     * this floor the same way) that the idle phase starts now.
     */
    double idle_frac = 0, idle_us_per_entry = 0, max_late_us = 0;
    if (idle_s > 0)
        printf("raw_scale: idling %lu s\n", idle_s);
    fflush(stdout);
    if (idle_s > 0) {
        uint64_t entries = (uint64_t)n * idle_s, late_max = 0;
        uint64_t c0 = cpu_ns(), start = bare_now_ns(), now = start;
        for (uint64_t e = 0; e < entries; e++) {
            uint64_t slot = start + e * NS_PER_S / n;
            if (slot > now) {
                sleep_until(slot);
                now = bare_now_ns();
            }
            if (now - slot > late_max)
                late_max = now - slot;
            if (bare_vm_run_out(&k, &vms[e % n]) < 0) {
                fprintf(stderr, "raw_scale: VM %lu failed while idling\n", (unsigned long)(e % n));
                return 1;
            }
            now = bare_now_ns();
        }
        sleep_until(start + idle_s * NS_PER_S);
        uint64_t wall = bare_now_ns() - start, cpu = cpu_ns() - c0;
        idle_frac = (double)cpu / (double)wall;
        idle_us_per_entry = (double)cpu / 1e3 / (double)entries;
        max_late_us = (double)late_max / 1e3;
        printf("raw_scale: idle %lu s, %lu entries/s: CPU %.1f ms per s of wall time (%.4f of "
               "one core), %.1f us CPU per entry, worst lateness %.0f us\n",
               idle_s, n, (double)cpu / 1e6 / ((double)wall / 1e9), idle_frac, idle_us_per_entry,
               max_late_us);
    }

    uint64_t t3 = bare_now_ns();
    for (unsigned long i = 0; i < n; i++)
        bare_vm_destroy(&k, &vms[i]);
    munmap(mem, total_mem);
    double teardown_ms = (double)(bare_now_ns() - t3) / 1e6;
    printf("raw_scale: teardown %.1f ms\n", teardown_ms);
    printf(
        "FLOOR raw_scale n=%lu parallel=%lu create_ms=%.1f run_ms=%.1f boot_ms=%.1f vms_per_s=%.0f "
        "mem_kib_per_vm=%.1f created_kib_per_vm=%.1f rss_kib_per_vm=%.1f kernel_kib_per_vm=%.1f "
        "idle_s=%lu "
        "idle_cpu_frac=%.5f "
        "idle_us_per_entry=%.1f teardown_ms=%.1f\n",
        n, parallel, create_ms, run_ms, boot_ms, vms_per_s, mem_kib, created_kib, rss_kib,
        kernel_per_vm, idle_s, idle_frac, idle_us_per_entry, teardown_ms);
    free(vms);
    bare_kvm_close(&k);
    return 0;
}
