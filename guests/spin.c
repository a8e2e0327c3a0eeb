/* Example guest: computes without ever exiting voluntarily, so only preemption can share its CPU.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ilwaco.h>

/* Iterations between clock reads; reading is cheap, but keep the loop mostly loop. */
#define CHECK_EVERY 4096

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    char *end = 0;
    double seconds = argc == 2 ? strtod(argv[1], &end) : -1;
    if (argc != 2 || end == argv[1] || *end != '\0' || !isfinite(seconds) || seconds < 0 ||
        seconds > 1e9) {
        fprintf(stderr, "usage: spin SECONDS (non-negative)\n");
        return 2;
    }

    uint64_t start = now_ns();
    uint64_t stop = start + (uint64_t)llround(seconds * 1e9);
    unsigned long long iterations = 0;

    /* Virtual time only moves when the monitor preempts us; that is what this guest measures. */
    while (now_ns() < stop) {
        for (int i = 0; i < CHECK_EVERY; i++) {
            iterations++;
            /* The barrier keeps the compiler from collapsing the loop into one addition. */
            __asm__ volatile("" : "+r"(iterations));
        }
    }

    printf("spin: vm %u iterations %llu\n", (unsigned)ilwaco_vregs()->vm_id, iterations);
    return 0;
}
