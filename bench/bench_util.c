/* Helpers every floor in bench/ shares: the clock, sorting, /proc memory figures, sibling tools. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

long bench_proc_kib(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
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

long bench_kernel_kib(void)
{
    static const char *const lru[] = {"MemFree", "Active", "Inactive", "Unevictable"};
    long kib = bench_proc_kib("/proc/meminfo", "MemTotal");
    for (size_t i = 0; i < sizeof(lru) / sizeof(lru[0]); i++)
        kib -= bench_proc_kib("/proc/meminfo", lru[i]);
    return kib;
}

int bench_find_sibling(const char *who, const char *argv0, const char *env, const char *name,
                       char *path, size_t len)
{
    const char *given = getenv(env);
    int n;
    if (given) {
        n = snprintf(path, len, "%s", given);
    } else {
        const char *slash = strrchr(argv0, '/');
        int dir = slash ? (int)(slash - argv0) : 1;
        n = snprintf(path, len, "%.*s/%s", dir, slash ? argv0 : ".", name);
    }
    if (n < 0 || (size_t)n >= len || access(path, X_OK) != 0) {
        fprintf(stderr, "%s: no executable %s (build it: make bench-tools)\n", who, path);
        return -1;
    }
    return 0;
}

struct bench_latency bench_latency_of(uint64_t *ns, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ns[i];
    qsort(ns, n, sizeof(*ns), bench_compare_u64);
    return (struct bench_latency){.p50_us = (double)ns[(n - 1) / 2] / 1e3,
                                  .p99_us = (double)ns[(n - 1) * 99 / 100] / 1e3,
                                  .mean_us = (double)sum / (double)n / 1e3};
}
