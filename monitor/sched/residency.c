/* VMs in memory against the host's pid budget: the limit (pure), the host's limits, and the count.
 */
#include "sched/residency.h"

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

/* Lowers *limit to what cap (0: none) leaves beside tasks and a reserve, naming it when it binds.
 */
static void bound_by(unsigned *limit, const char **bound, uint64_t cap, uint64_t tasks,
                     unsigned pids_per_vm, const char *name)
{
    if (!cap)
        return;
    uint64_t reserve = cap / 8 > RESIDENCY_PID_RESERVE_MIN ? cap / 8 : RESIDENCY_PID_RESERVE_MIN;
    uint64_t room = cap > tasks + reserve ? (cap - tasks - reserve) / pids_per_vm : 0;
    if (room < *limit) {
        *limit = (unsigned)room;
        *bound = name;
    }
}

unsigned residency_limit(unsigned count, unsigned asked, unsigned pids_per_vm,
                         const struct host_limits *host, const char **bound)
{
    unsigned limit = count;
    *bound = "count";
    if (asked && asked < limit) {
        limit = asked;
        *bound = "--max-resident";
    }
    if (pids_per_vm) {
        bound_by(&limit, bound, host->pid_max, host->tasks, pids_per_vm, "kernel.pid_max");
        bound_by(&limit, bound, host->threads_max, host->tasks, pids_per_vm, "kernel.threads-max");
        bound_by(&limit, bound, host->nproc, host->tasks, pids_per_vm, "RLIMIT_NPROC");
    }
    return limit ? limit : 1;
}

/* The first number in a /proc file, or 0. */
static uint64_t read_number(const char *path)
{
    unsigned long long value = 0;
    FILE *f = fopen(path, "re");
    if (f) {
        if (fscanf(f, "%llu", &value) != 1)
            value = 0;
        fclose(f);
    }
    return value;
}

void residency_read_host(struct host_limits *host)
{
    *host = (struct host_limits){0};
    host->pid_max = read_number("/proc/sys/kernel/pid_max");
    host->threads_max = read_number("/proc/sys/kernel/threads-max");
    /* /proc/loadavg's fourth field: runnable/existing scheduling entities. */
    FILE *f = fopen("/proc/loadavg", "re");
    if (f) {
        unsigned long long tasks;
        if (fscanf(f, "%*s %*s %*s %*u/%llu", &tasks) == 1)
            host->tasks = tasks;
        fclose(f);
    }
    struct rlimit rl;
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        host->nproc = rl.rlim_cur;
}

static void note_peak(struct monitor *m, unsigned resident)
{
    unsigned peak = atomic_load(&m->resident_peak);
    while (resident > peak && !atomic_compare_exchange_weak(&m->resident_peak, &peak, resident))
        ;
}

bool residency_reserve(struct monitor *m)
{
    unsigned resident = atomic_load(&m->resident);
    while (resident < m->max_resident) {
        if (atomic_compare_exchange_weak(&m->resident, &resident, resident + 1)) {
            note_peak(m, resident + 1);
            return true;
        }
    }
    if (!atomic_exchange(&m->resident_waited, true))
        fprintf(stderr,
                "denali: %u VMs in memory at most (bound: %s); the others are created as VMs "
                "hibernate or end\n",
                m->max_resident, m->resident_bound ? m->resident_bound : "?");
    return false;
}

void residency_enter(struct monitor *m)
{
    note_peak(m, atomic_fetch_add(&m->resident, 1) + 1);
}

void residency_leave(struct monitor *m)
{
    atomic_fetch_sub(&m->resident, 1);
}
