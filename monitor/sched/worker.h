/* Scheduling mechanism: worker threads that create, enter, preempt and sleep VMs (M:N over vCPUs).
 */
#ifndef DENALI_WORKER_H
#define DENALI_WORKER_H

#include "sched/monitor.h"

/* Runs every VM of the monitor to completion on m->worker_count threads. */
int workers_run(struct monitor *m, void (*progress)(struct monitor *m));

/*
 * Stops every VM as a time limit would, giving reason; safe from any thread
 * while workers_run runs (a signal-handling thread calls it).
 */
void workers_request_stop(struct monitor *m, const char *reason);
/*
 * Asks every live VM to give up to pages free pages back (DENALI_EVENT_BALLOON
 * with vregs.balloon_pages; UINT64_MAX: all it can), from any thread.
 */
void workers_request_balloon(struct monitor *m, uint64_t pages);

/*
 * Raises events (e.g. DENALI_EVENT_NET_RX) for VM vm_id, from any thread.
 * Batched: the VM is made runnable and takes everything when it runs.
 * Immediate: it goes first in the run queue and forces a switch to it, as
 * an interrupt would. No-op outside workers_run or for a VM not live.
 */
void workers_deliver_events(struct monitor *m, uint32_t vm_id, uint64_t events, bool immediate);

#endif
