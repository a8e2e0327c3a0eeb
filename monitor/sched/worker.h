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

/* What the daemon's control channel asks of one VM (docs/API.md). */
enum vm_control_op {
    VM_CONTROL_SHUTDOWN, /* raise DENALI_EVENT_SHUTDOWN */
    VM_CONTROL_KILL,     /* stop it now */
    VM_CONTROL_PAUSE,    /* no more CPU until resumed */
    VM_CONTROL_RESUME,
};

/* A VM stopped by request (kill, or a stop that outlived its timeout) ends with this status. */
#define VM_STATUS_KILLED 137

/*
 * Does op to VM id from any thread while workers_run runs; reason is what a
 * kill records (a string that outlives the VM). 0, or -1 with why in err
 * (not created yet, ended, or not in a state for it).
 */
int workers_control_vm(struct monitor *m, uint32_t id, enum vm_control_op op, const char *reason,
                       char *err, size_t errlen);

struct vm_stats {
    uint32_t id;
    const char *state; /* running, paused or hibernated */
    uint64_t exits, memory_bytes;
    struct vm_device_counters io; /* its devices: the NIC's frames, the disks' requests */
};

/*
 * Calls report for VM id, or for every live VM when all is true, under the
 * scheduler's lock (report must not block). 0, or -1 with why in err.
 */
int workers_vm_stats(struct monitor *m, uint32_t id, bool all,
                     void (*report)(void *ctx, const struct vm_stats *stats), void *ctx, char *err,
                     size_t errlen);

#endif
