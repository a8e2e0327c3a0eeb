/* Shared by the misbehaving test guests: announce the start, report a surprising survival. */
#ifndef TEST_GUEST_H
#define TEST_GUEST_H

#include <stdio.h>
#include <stdlib.h>

#include <ilwaco.h>

/* stdout is fully buffered (the console is not a tty): flush so the line leaves before the bad act.
 */
static inline void started(const char *name)
{
    printf("%s: started\n", name);
    fflush(stdout);
}

/* Reached only when the monitor let the bad act through instead of stopping the VM. */
static inline int survived(const char *name, long result)
{
    printf("%s: survived, result %ld\n", name, result);
    return 1;
}

#endif
