/* ilwaco's public hypercall wrappers: the guest's only ways out of the VM. */
#include "internal.h"

long ilwaco_hypercall(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    return ilwaco__hc(nr, a0, a1, a2);
}

const volatile struct denali_vregs *ilwaco_vregs(void)
{
    return ilwaco__vregs();
}

uint64_t ilwaco_time_ns(void)
{
    return ilwaco__vregs()->time_ns;
}

uint64_t ilwaco_idle(uint64_t deadline_ns)
{
    return ilwaco_idle_with(deadline_ns, 0);
}

uint64_t ilwaco_idle_with(uint64_t deadline_ns, unsigned flags)
{
    long events = ilwaco__hc(DENALI_HC_IDLE, deadline_ns, flags, 0);
    /* A refused idle delivers nothing; callers loop on the clock anyway. */
    if (events < 0)
        return 0;
    /* Answered here, so that every guest that idles gives memory back when asked. */
    if (events & DENALI_EVENT_BALLOON)
        ilwaco_pages_balloon(ilwaco__vregs()->balloon_pages);
    /* As a process's default action for SIGTERM: end, with the status a shell shows for it. */
    if (events & DENALI_EVENT_SHUTDOWN)
        ilwaco_exit(ILWACO_SHUTDOWN_STATUS);
    return (uint64_t)events;
}

_Noreturn void ilwaco_exit(int status)
{
    /* The status travels as its 32-bit pattern; the monitor decides how to show it. */
    ilwaco__hc(DENALI_HC_EXIT, (uint32_t)status, 0, 0);
    /* A monitor that returns from exit is broken: fault rather than run on. */
    for (;;)
        __builtin_trap();
}

long ilwaco_console_write(const void *buf, size_t len)
{
    const char *p = buf;
    size_t done = 0;

    while (done < len) {
        size_t chunk = len - done;
        if (chunk > DENALI_CONSOLE_MAX)
            chunk = DENALI_CONSOLE_MAX;
        long r = ilwaco__hc(DENALI_HC_CONSOLE_WRITE, (uintptr_t)(p + done), chunk, 0);
        if (r < 0)
            return done ? (long)done : r;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (long)done;
}

uint64_t ilwaco_balloon(uint64_t want_pages)
{
    return ilwaco_pages_balloon(want_pages);
}
