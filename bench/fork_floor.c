/* Clone floor: fork of a small static process with a guest-sized private mapping, to its report. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define MEM_SIZE (4u << 20)
#define PAGE     4096u

/*
 * As the zygote holds a snapshot: a memfd mapped private (copy-on-write),
 * with TOUCHED of its pages read, and its own slice mapped shared. Each
 * child writes one page of each, as a clone's first instructions do, and
 * reports; the parent reaps it before the next, one at a time, as the
 * zygote forks.
 */
int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000;
    unsigned long touched = argc > 2 ? strtoul(argv[2], NULL, 0) : 64;
    if (argc > 3 || n == 0 || touched > MEM_SIZE / PAGE) {
        fprintf(stderr, "usage: fork_floor [N [PAGES]]   (default 1000 forks, 64 pages read)\n");
        return 2;
    }
    int fd = memfd_create("fork-floor", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 2 * MEM_SIZE) < 0) {
        perror("fork_floor: memfd");
        return 1;
    }
    uint8_t *slice = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, MEM_SIZE);
    uint8_t *snap = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (slice == MAP_FAILED || snap == MAP_FAILED) {
        perror("fork_floor: mmap");
        return 1;
    }
    volatile uint8_t sink = 0;
    for (unsigned long i = 0; i < touched; i++)
        sink = (uint8_t)(sink + snap[i * PAGE]);
    int pipefd[2];
    if (pipe(pipefd) < 0) {
        perror("fork_floor: pipe");
        return 1;
    }
    uint64_t *latency = calloc(n, sizeof(*latency));
    if (!latency)
        return 1;
    for (unsigned long i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork_floor: fork");
            return 1;
        }
        if (pid == 0) {
            snap[0] = 1;
            slice[0] = 1;
            char byte = 'r';
            _exit(write(pipefd[1], &byte, 1) == 1 ? 0 : 1);
        }
        char byte;
        if (read(pipefd[0], &byte, 1) != 1) {
            fprintf(stderr, "fork_floor: child %lu never reported\n", i);
            return 1;
        }
        latency[i] = bench_now_ns() - t0;
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "fork_floor: child %lu failed\n", i);
            return 1;
        }
    }
    struct bench_latency l = bench_latency_of(latency, n);
    double p50 = l.p50_us, p99 = l.p99_us;
    printf("fork_floor: %lu forks of a static process with %lu of %u MiB read, fork to the child's "
           "byte: p50 %.1f us, p99 %.1f us\n",
           n, touched, MEM_SIZE >> 20, p50, p99);
    printf("FLOOR fork n=%lu pages=%lu p50_us=%.1f p99_us=%.1f\n", n, touched, p50, p99);
    free(latency);
    return 0;
}
