/* The kernel's same-page merging (KSM) for the monitor and every VM process it starts (--ksm). */
#include "util/ksm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

/* Linux 6.4; Debian 12's headers predate it. */
#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

int ksm_merge_this_process(char *err, size_t errlen)
{
    if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0)
        return 0;
    if (errno == EINVAL)
        snprintf(err, errlen,
                 "this kernel cannot merge a whole process's memory (Linux 6.4 or later)");
    else
        snprintf(err, errlen, "PR_SET_MEMORY_MERGE: %s", strerror(errno));
    return -1;
}

bool ksm_running(void)
{
    FILE *f = fopen("/sys/kernel/mm/ksm/run", "re");
    int run = 0;
    if (f) {
        if (fscanf(f, "%d", &run) != 1)
            run = 0;
        fclose(f);
    }
    return run == 1;
}
