/* Process-platform floors: one process's futex handoff round trip, or one to each of N in turn. */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define BATCHES 100u
#define WARMUP  1000u

/* Whose turn it is: the caller (the VM's side) or the answerer (the monitor's side). */
enum { TURN_CALLER = 0, TURN_ANSWER = 1, TURN_QUIT = 2 };

struct shared_page {
    _Atomic uint32_t turn;
};

/*
 * Not FUTEX_PRIVATE_FLAG: the word is shared by two processes, as a VM process's and the
 * monitor's are, so the kernel must key it by the page rather than by the address space.
 */
static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
    if (syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0) < 0 && errno != EAGAIN &&
        errno != EINTR) {
        perror("futex_pingpong: FUTEX_WAIT");
        exit(1);
    }
}

static void futex_wake(_Atomic uint32_t *word)
{
    if (syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0) < 0) {
        perror("futex_pingpong: FUTEX_WAKE");
        exit(1);
    }
}

/* Hands the turn to `to` and sleeps until it comes back as `mine` (or TURN_QUIT). */
static uint32_t hand_over(struct shared_page *p, uint32_t to, uint32_t mine)
{
    atomic_store(&p->turn, to);
    futex_wake(&p->turn);
    uint32_t t;
    while ((t = atomic_load(&p->turn)) != mine && t != TURN_QUIT)
        futex_wait(&p->turn, t);
    return t;
}

/* The answering side: every turn it gets, it hands straight back. */
static void answer(struct shared_page *p)
{
    uint32_t t;
    while ((t = atomic_load(&p->turn)) != TURN_ANSWER && t != TURN_QUIT)
        futex_wait(&p->turn, t);
    while (t != TURN_QUIT)
        t = hand_over(p, TURN_CALLER, TURN_ANSWER);
    _exit(0);
}

/* The shared page of answering process i (pages are a page apart: one futex word each). */
static struct shared_page *page_of(struct shared_page *pages, unsigned long i)
{
    return (struct shared_page *)((char *)pages + 4096 * i);
}

int main(int argc, char **argv)
{
    unsigned long n = 100000, procs = 1;
    if (argc > 3 || (argc >= 2 && (n = strtoul(argv[1], NULL, 0)) < BATCHES) ||
        (argc == 3 && ((procs = strtoul(argv[2], NULL, 0)) < 1 || procs > 100000))) {
        fprintf(
            stderr,
            "usage: futex_pingpong [N >= %u [PROCS]]   (default 100000 round trips, 1 process)\n"
            "  PROCS > 1: each round trip goes to the next of PROCS processes in turn, as a\n"
            "  monitor wakes one of many idle VM processes (FLOOR futex_roundrobin)\n",
            BATCHES);
        return 2;
    }
    struct shared_page *pages =
        mmap(NULL, 4096 * procs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) {
        perror("futex_pingpong: mmap");
        return 1;
    }
    pid_t *children = calloc(procs, sizeof(*children));
    if (!children) {
        perror("futex_pingpong: calloc");
        return 1;
    }
    for (unsigned long i = 0; i < procs; i++) {
        atomic_store(&page_of(pages, i)->turn, TURN_CALLER);
        children[i] = fork();
        if (children[i] < 0) {
            perror("futex_pingpong: fork");
            return 1;
        }
        if (children[i] == 0)
            answer(page_of(pages, i));
    }
    /* Round robin over the answering processes: with many, each is cold when its turn comes. */
    unsigned long next = 0;
#define ROUND_TRIP()                                                                               \
    do {                                                                                           \
        hand_over(page_of(pages, next), TURN_ANSWER, TURN_CALLER);                                 \
        next = next + 1 == procs ? 0 : next + 1;                                                   \
    } while (0)

    for (unsigned long i = 0; i < WARMUP + procs; i++)
        ROUND_TRIP();

    unsigned long per_batch = n / BATCHES;
    n = per_batch * BATCHES;
    uint64_t batch_ns[BATCHES];
    uint64_t start = bench_now_ns();
    for (unsigned b = 0; b < BATCHES; b++) {
        uint64_t t0 = bench_now_ns();
        for (unsigned long i = 0; i < per_batch; i++)
            ROUND_TRIP();
        batch_ns[b] = bench_now_ns() - t0;
    }
    uint64_t total = bench_now_ns() - start;

    for (unsigned long i = 0; i < procs; i++) {
        atomic_store(&page_of(pages, i)->turn, TURN_QUIT);
        futex_wake(&page_of(pages, i)->turn);
    }
    for (unsigned long i = 0; i < procs; i++) {
        int status;
        if (waitpid(children[i], &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "futex_pingpong: an answering process failed\n");
            return 1;
        }
    }

    for (unsigned b = 0; b < BATCHES; b++)
        batch_ns[b] = batch_ns[b] * 1000 / per_batch; /* picoseconds per round trip */
    qsort(batch_ns, BATCHES, sizeof(batch_ns[0]), bench_compare_u64);
    double mean = (double)total / (double)n;
    double median = (double)(batch_ns[BATCHES / 2 - 1] + batch_ns[BATCHES / 2]) / 2000.0;
    double p10 = (double)batch_ns[BATCHES / 10] / 1000.0;
    double p90 = (double)batch_ns[BATCHES * 9 / 10] / 1000.0;
    printf("futex_pingpong: %lu round trips to %lu process%s in turn (FUTEX_WAKE, then FUTEX_WAIT "
           "until the turn comes back) in %.1f ms\n",
           n, procs, procs == 1 ? "" : "es", (double)total / 1e6);
    printf("futex_pingpong: mean %.1f ns, median of %u batches %.1f ns (p10 %.1f, p90 %.1f)\n",
           mean, BATCHES, median, p10, p90);
    if (procs == 1)
        printf("FLOOR futex_pingpong n=%lu mean_ns=%.1f median_ns=%.1f\n", n, mean, median);
    else
        printf("FLOOR futex_roundrobin procs=%lu n=%lu mean_ns=%.1f median_ns=%.1f\n", procs, n,
               mean, median);
    free(children);
    return 0;
}
