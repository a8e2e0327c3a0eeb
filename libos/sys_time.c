/* ilwaco's clock calls: every clock reads virtual time from the virtual registers page. */
#include <errno.h>
#include <sys/time.h>
#include <time.h>

#include "internal.h"

#define NS_PER_S 1000000000ull

static void to_timespec(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / NS_PER_S);
    ts->tv_nsec = (long)(ns % NS_PER_S);
}

/*
 * Realtime, monotonic, boot time and the CPU-time clocks all read the one
 * virtual clock: a VM has nothing else to measure against, and a CPU-time
 * clock that includes idle time still never runs backwards.
 */
static int known_clock(long clk)
{
    return clk >= CLOCK_REALTIME && clk <= CLOCK_BOOTTIME;
}

/* Converts a relative or absolute timespec to an absolute deadline; -1 if invalid. */
static int to_deadline(const struct timespec *ts, int absolute, uint64_t *deadline)
{
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || (unsigned long)ts->tv_nsec >= NS_PER_S)
        return -1;
    uint64_t ns;
    if ((uint64_t)ts->tv_sec > (UINT64_MAX - (uint64_t)ts->tv_nsec) / NS_PER_S)
        ns = UINT64_MAX;
    else
        ns = (uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec;
    if (!absolute) {
        uint64_t now = ilwaco_time_ns();
        ns = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
    }
    *deadline = ns;
    return 0;
}

/* Idles until virtual time reaches deadline; wakeups for events are simply slept through. */
static void sleep_until(uint64_t deadline)
{
    if (ilwaco_net_started()) {
        ilwaco_net_sleep_until(deadline);
        return;
    }
    while (ilwaco_time_ns() < deadline)
        ilwaco_idle(deadline);
}

long ilwaco_sys_clock_gettime(long clk, void *ts)
{
    if (!known_clock(clk))
        return -EINVAL;
    to_timespec(ilwaco_time_ns(), ts);
    return 0;
}

long ilwaco_sys_clock_getres(long clk, void *ts)
{
    if (!known_clock(clk))
        return -EINVAL;
    if (ts)
        to_timespec(1, ts);
    return 0;
}

long ilwaco_sys_gettimeofday(void *tv_arg)
{
    struct timeval *tv = tv_arg;
    if (tv) {
        uint64_t ns = ilwaco_time_ns();
        tv->tv_sec = (time_t)(ns / NS_PER_S);
        tv->tv_usec = (suseconds_t)(ns % NS_PER_S / 1000);
    }
    return 0;
}

long ilwaco_sys_time(void *t_arg)
{
    time_t *t = t_arg;
    time_t now = (time_t)(ilwaco_time_ns() / NS_PER_S);
    if (t)
        *t = now;
    return (long)now;
}

long ilwaco_sys_nanosleep(const void *req)
{
    uint64_t deadline;
    if (to_deadline(req, 0, &deadline) < 0)
        return -EINVAL;
    sleep_until(deadline);
    return 0;
}

long ilwaco_sys_clock_nanosleep(long clk, long flags, const void *req)
{
    uint64_t deadline;
    if (!known_clock(clk))
        return -EINVAL;
    if (to_deadline(req, flags & TIMER_ABSTIME, &deadline) < 0)
        return -EINVAL;
    sleep_until(deadline);
    return 0;
}

long ilwaco_sys_sched_yield(void)
{
    /* An already-expired deadline: the monitor may run someone else, then returns at once. */
    ilwaco_idle(ilwaco_time_ns());
    return 0;
}
