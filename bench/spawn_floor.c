/* Process-platform boot floor: posix_spawn of a tiny static program until it reports back. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_PARALLEL 64
/* The descriptor spawn_child writes its byte to (see spawn_child.c). */
#define REPORT_FD 3
/* A child silent this long is taken as failed rather than waited for forever. */
#define REPORT_TIMEOUT_MS 10000

static char child_path[PATH_MAX];
static uint64_t *latency_ns;

struct spawner {
    pthread_t thread;
    unsigned long first, stride, n;
    int failed;
};

/*
 * One spawning thread (the monitor starts VMs from each of its workers): spawn, wait for the
 * child's byte, and only then reap it, so the figure is spawn-to-report as a VM's boot is
 * request-to-main.
 */
static void *spawner_main(void *arg)
{
    struct spawner *s = arg;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        perror("spawn_floor: pipe2");
        s->failed = 1;
        return NULL;
    }
    /* Kept above REPORT_FD, so the dup2 below always makes a new, inheritable descriptor. */
    int wfd = fcntl(fds[1], F_DUPFD_CLOEXEC, 16);
    close(fds[1]);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, wfd, REPORT_FD);
    char *argv[] = {"spawn_child", NULL};
    char *envp[] = {NULL};
    for (unsigned long i = s->first; i < s->n && !s->failed; i += s->stride) {
        pid_t pid;
        uint64_t t0 = bench_now_ns();
        int err = posix_spawn(&pid, child_path, &fa, NULL, argv, envp);
        if (err != 0) {
            fprintf(stderr, "spawn_floor: posix_spawn %s: %s\n", child_path, strerror(err));
            s->failed = 1;
            break;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        char byte;
        if (poll(&pfd, 1, REPORT_TIMEOUT_MS) != 1 || read(fds[0], &byte, 1) != 1) {
            fprintf(stderr, "spawn_floor: child %lu never reported back\n", i);
            s->failed = 1;
        }
        latency_ns[i] = bench_now_ns() - t0;
        int status;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "spawn_floor: child %lu did not exit 0\n", i);
            s->failed = 1;
        }
    }
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    close(wfd);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long n = 1000, parallel = 1;
    if (argc > 3 || (argc >= 2 && (n = strtoul(argv[1], NULL, 0)) == 0) ||
        (argc == 3 && ((parallel = strtoul(argv[2], NULL, 0)) == 0 || parallel > MAX_PARALLEL))) {
        fprintf(stderr,
                "usage: spawn_floor [N [PARALLEL]]   (default 1000 spawns by 1 thread; "
                "PARALLEL up to %d)\n",
                MAX_PARALLEL);
        return 2;
    }
    if (bench_find_sibling("spawn_floor", argv[0], "SPAWN_CHILD", "spawn_child", child_path,
                           sizeof(child_path)) < 0)
        return 1;
    latency_ns = calloc(n, sizeof(*latency_ns));
    if (!latency_ns) {
        fprintf(stderr, "spawn_floor: out of memory\n");
        return 1;
    }

    struct spawner spawners[MAX_PARALLEL];
    unsigned long started = 0;
    int failed = 0;
    uint64_t t0 = bench_now_ns();
    for (; started < parallel; started++) {
        spawners[started] =
            (struct spawner){.first = started, .stride = parallel, .n = n, .failed = 0};
        if (pthread_create(&spawners[started].thread, NULL, spawner_main, &spawners[started])) {
            fprintf(stderr, "spawn_floor: cannot start spawning thread %lu\n", started);
            failed = 1;
            break;
        }
    }
    for (unsigned long t = 0; t < started; t++) {
        pthread_join(spawners[t].thread, NULL);
        failed |= spawners[t].failed;
    }
    uint64_t wall = bench_now_ns() - t0;
    if (failed)
        return 1;

    struct bench_latency l = bench_latency_of(latency_ns, n);
    double p50 = l.p50_us, p99 = l.p99_us, mean = l.mean_us;
    printf("spawn_floor: %lu posix_spawns of %s by %lu threads, spawn to the child's byte: p50 "
           "%.1f us, p99 %.1f us, mean %.1f us; %.1f ms in all\n",
           n, child_path, parallel, p50, p99, mean, (double)wall / 1e6);
    printf("FLOOR spawn n=%lu parallel=%lu p50_us=%.1f p99_us=%.1f mean_us=%.1f wall_ms=%.1f\n", n,
           parallel, p50, p99, mean, (double)wall / 1e6);
    free(latency_ns);
    return 0;
}
