/* The monitor's one clock: monotonic nanoseconds, for deadlines, rates and virtual time. */
#include "util/clock.h"

#include <time.h>

uint64_t monitor_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
