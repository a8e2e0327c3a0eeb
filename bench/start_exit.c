/* Times commands from process start to exit: ROUNDS rounds, each command once per round, medians.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_COMMANDS 8

extern char **environ;

/*
 * Runs argv once with stdout and stderr to /dev/null; returns the ns from just before the spawn
 * to the moment waitpid saw it exit, or 0 when it could not start or did not exit 0. Spawning
 * from this small program (vfork and exec inside posix_spawn) keeps a shell's own fork, which
 * costs more than a small static program's whole life on these machines, out of the figure.
 */
static uint64_t run_once(char **argv, posix_spawn_file_actions_t *fa)
{
    pid_t pid;
    uint64_t t0 = bench_now_ns();
    int err = posix_spawnp(&pid, argv[0], fa, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "start_exit: %s: %s\n", argv[0], strerror(err));
        return 0;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 0;
    uint64_t t = bench_now_ns() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "start_exit: %s did not exit 0 (status 0x%x)\n", argv[0], status);
        return 0;
    }
    return t;
}

int main(int argc, char **argv)
{
    unsigned long rounds;
    if (argc < 3 || (rounds = strtoul(argv[1], NULL, 0)) == 0 || rounds > 100000) {
        fprintf(stderr, "usage: start_exit ROUNDS COMMAND [ARGS...] [-- COMMAND [ARGS...]]...\n"
                        "  each round runs every command once, in turn; prints the median,\n"
                        "  p10 and p90 of each one's start-to-exit time\n");
        return 2;
    }
    /* Split the rest at "--" into commands, in place. */
    char **cmds[MAX_COMMANDS];
    int ncmds = 0;
    cmds[ncmds++] = &argv[2];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") != 0)
            continue;
        argv[i] = NULL;
        if (ncmds == MAX_COMMANDS || i + 1 >= argc) {
            fprintf(stderr, "start_exit: at most %d commands, none empty\n", MAX_COMMANDS);
            return 2;
        }
        cmds[ncmds++] = &argv[i + 1];
    }
    uint64_t *t = calloc((size_t)ncmds * rounds, sizeof(*t));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    if (!t)
        return 1;
    for (unsigned long r = 0; r < rounds; r++)
        for (int c = 0; c < ncmds; c++)
            if ((t[(size_t)c * rounds + r] = run_once(cmds[c], &fa)) == 0)
                return 1;
    for (int c = 0; c < ncmds; c++) {
        uint64_t *v = &t[(size_t)c * rounds];
        qsort(v, rounds, sizeof(*v), bench_compare_u64);
        double median = rounds % 2 ? (double)v[rounds / 2]
                                   : ((double)v[rounds / 2 - 1] + (double)v[rounds / 2]) / 2;
        printf("START_EXIT cmd=%d rounds=%lu median_ms=%.3f p10_ms=%.3f p90_ms=%.3f", c, rounds,
               median / 1e6, (double)v[rounds / 10] / 1e6, (double)v[rounds * 9 / 10] / 1e6);
        printf(" command=");
        for (char **a = cmds[c]; *a; a++)
            printf("%s%s", a == cmds[c] ? "" : "_", strrchr(*a, '/') ? strrchr(*a, '/') + 1 : *a);
        printf("\n");
    }
    posix_spawn_file_actions_destroy(&fa);
    free(t);
    return 0;
}
