/* Example guest: sleeps in idle hypercalls for a span of virtual time, waking every step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <ilwaco.h>

#define NS_PER_S 1e9

/* Parses a positive, finite number of seconds; returns 0 on success. */
static int parse_seconds(const char *s, double *out)
{
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(x) || x < 0 || x > 1e9)
        return -1;
    *out = x;
    return 0;
}

int main(int argc, char **argv)
{
    double seconds, step = 1;
    if (argc < 2 || argc > 3 || parse_seconds(argv[1], &seconds) < 0 ||
        (argc == 3 && (parse_seconds(argv[2], &step) < 0 || step <= 0))) {
        fprintf(stderr, "usage: idle SECONDS [STEP_SECONDS] (non-negative; STEP > 0)\n");
        return 2;
    }

    uint64_t step_ns = (uint64_t)llround(step * NS_PER_S);
    if (step_ns == 0)
        step_ns = 1;
    uint64_t start = ilwaco_time_ns();
    uint64_t end = start + (uint64_t)llround(seconds * NS_PER_S);
    uint64_t wakeups = 0;
    uint64_t now = start;

    while (now < end) {
        /* The next step boundary after now, so an early wakeup does not shift the grid. */
        uint64_t deadline = start + ((now - start) / step_ns + 1) * step_ns;
        if (deadline > end)
            deadline = end;
        ilwaco_idle(deadline);
        wakeups++;
        now = ilwaco_time_ns();
    }

    printf("idle: vm %u slept %.3f s in %llu wakeups\n", (unsigned)ilwaco_vregs()->vm_id,
           (double)(now - start) / NS_PER_S, (unsigned long long)wakeups);
    return 0;
}
