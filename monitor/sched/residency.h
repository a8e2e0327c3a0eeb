/* VMs in memory (each holding a vCPU: a host process on the process platform) against the host's
 * pid budget; hibernated VMs hold none, so a long tail of them fits where their processes would
 * not.
 */
#ifndef DENALI_RESIDENCY_H
#define DENALI_RESIDENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/monitor.h"

/* What bounds how many processes the monitor may add (0: no such bound). */
struct host_limits {
    uint64_t pid_max;     /* kernel.pid_max: every process and thread takes a pid */
    uint64_t threads_max; /* kernel.threads-max */
    uint64_t nproc;       /* RLIMIT_NPROC, counted when not root */
    uint64_t tasks;       /* processes and threads that exist now (all users) */
};

/* Pids left to everything else on the host: an eighth of what it allows, at least this many. */
#define RESIDENCY_PID_RESERVE_MIN 512u

/*
 * How many VMs may be in memory at once (pure): count, no more than asked
 * (0: not asked) and, when each takes pids_per_vm pids, no more than the
 * host's limits allow beside what runs now and a reserve. At least 1.
 * *bound names what decided it: "count", "--max-resident", "kernel.pid_max",
 * "kernel.threads-max" or "RLIMIT_NPROC".
 */
unsigned residency_limit(unsigned count, unsigned asked, unsigned pids_per_vm,
                         const struct host_limits *host, const char **bound);

/* Reads this host's limits from /proc and getrlimit; unknown ones are 0. */
void residency_read_host(struct host_limits *host);

/*
 * Creating a VM: counts it in memory when there is room under
 * m->max_resident; false when there is none (creation then waits until a
 * VM hibernates or ends, and says so once).
 */
bool residency_reserve(struct monitor *m);
/* Waking a hibernated VM: counts it in memory, room or not (a wake never waits). */
void residency_enter(struct monitor *m);
/* A VM left memory: hibernated, ended, or never created after residency_reserve. */
void residency_leave(struct monitor *m);

#endif
