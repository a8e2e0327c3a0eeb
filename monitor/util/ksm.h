/* The kernel's same-page merging (KSM) for the monitor and every VM process it starts (--ksm). */
#ifndef DENALI_KSM_H
#define DENALI_KSM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Makes every anonymous page of this process, and of the processes it
 * starts from now on (the flag survives fork and exec), a candidate for
 * merging. 0, or -1 with the reason (a kernel before 6.4 cannot).
 */
int ksm_merge_this_process(char *err, size_t errlen);
/* Whether the kernel's merging thread runs (/sys/kernel/mm/ksm/run is 1). */
bool ksm_running(void);

#endif
