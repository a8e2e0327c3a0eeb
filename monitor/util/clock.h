/* The monitor's one clock: monotonic nanoseconds, for deadlines, rates and virtual time. */
#ifndef DENALI_CLOCK_H
#define DENALI_CLOCK_H

#include <stdint.h>

uint64_t monitor_now_ns(void);

#endif
