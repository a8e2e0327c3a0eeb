/* Helpers every floor in bench/ shares: the clock, sorting, /proc memory figures, sibling tools. */
#ifndef DENALI_BENCH_UTIL_H
#define DENALI_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);
/* qsort comparison of uint64_t values, ascending. */
int bench_compare_u64(const void *a, const void *b);

/* A latency sample's summary in microseconds, as the monitor's --stats computes p50 and p99. */
struct bench_latency {
    double p50_us, p99_us, mean_us;
};
/* Sorts ns[0..n) (n > 0) and summarizes it. */
struct bench_latency bench_latency_of(uint64_t *ns, size_t n);
/* A "Key: value kB" line of a /proc file such as /proc/meminfo, in KiB; -1 if absent. */
long bench_proc_kib(const char *path, const char *key);
/*
 * Host memory outside the page LRU lists, in KiB: kernel allocations (slab, page tables,
 * kernel stacks, KVM's own pages), much less noisy than MemAvailable on a shared machine.
 */
long bench_kernel_kib(void);
/*
 * The path of the tool NAME beside this program (argv0's directory), or the environment
 * variable ENV's value when set; -1 with a message naming WHO when it is not executable.
 */
int bench_find_sibling(const char *who, const char *argv0, const char *env, const char *name,
                       char *path, size_t len);

#endif
