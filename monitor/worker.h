/* Scheduling mechanism: worker threads that create, enter, preempt and sleep VMs (M:N over vCPUs).
 */
#ifndef DENALI_WORKER_H
#define DENALI_WORKER_H

#include "monitor.h"

/* Runs every VM of the monitor to completion on m->worker_count threads. */
int workers_run(struct monitor *m, void (*progress)(struct monitor *m));

/*
 * Stops every VM as a time limit would, giving reason; safe from any thread
 * while workers_run runs (a signal-handling thread calls it).
 */
void workers_request_stop(struct monitor *m, const char *reason);

#endif
