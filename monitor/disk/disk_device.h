/* Sets up a run's virtual disks (--disk) and plugs their block ring into the scheduler. */
#ifndef DENALI_DISK_DEVICE_H
#define DENALI_DISK_DEVICE_H

#include <stddef.h>

#include "sched/monitor.h"

struct disks;

/*
 * Opens every --disk once, makes the overlay directory and adds the disks
 * to m->devices. NULL with err empty when there is no --disk; NULL with a
 * one-line reason in err on failure.
 */
struct disks *disks_start(struct monitor *m, char *err, size_t errlen);
/* After every VM has ended: prints counters with --stats, removes the overlays unless kept. */
void disks_stop(struct disks *d);

#endif
