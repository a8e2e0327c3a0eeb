/* Shared by the misbehaving test guests: announce the start, keep VMs other than 0 healthy, report
 * a survival. */
#ifndef TEST_GUEST_H
#define TEST_GUEST_H

#include <stdio.h>
#include <stdlib.h>

#include <ilwaco.h>

/* A healthy VM idles in small steps this long, so it is alive while VM 0 misbehaves. */
#define HEALTHY_RUN_NS  300000000ull
#define HEALTHY_STEP_NS 20000000ull

/*
 * Only VM 0 misbehaves. Every other VM does honest work beside it — idling in
 * steps and printing — and exits 0, so a test can check that one bad VM leaves
 * the others untouched.
 */
static inline void run_healthy(const char *name)
{
    uint64_t start = ilwaco_time_ns();
    unsigned steps = 0;
    while (ilwaco_time_ns() - start < HEALTHY_RUN_NS) {
        ilwaco_idle(ilwaco_time_ns() + HEALTHY_STEP_NS);
        steps++;
    }
    printf("%s: healthy vm %u done after %u steps\n", name, ilwaco_vregs()->vm_id, steps);
    exit(0);
}

/* stdout is fully buffered (the console is not a tty): flush so the line leaves before the bad act.
 */
static inline void started(const char *name)
{
    /* Under --clone every VM is a clone from here on; otherwise this returns at once. */
    ilwaco_ready();
    printf("%s: started\n", name);
    fflush(stdout);
    if (ilwaco_vregs()->vm_id != 0)
        run_healthy(name);
}

/* Reached only when the monitor let the bad act through instead of stopping the VM. */
static inline int survived(const char *name, long result)
{
    printf("%s: survived, result %ld\n", name, result);
    return 1;
}

#endif
