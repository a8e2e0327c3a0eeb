/* State shared by all worker threads of one `denali run`: the image, platform, RAM, results and
 * counters. */
#ifndef DENALI_MONITOR_H
#define DENALI_MONITOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/clock.h"
#include "util/console.h"
#include "image/guest_image.h"
#include "options.h"
#include "platform/platform.h"
#include "sched/vm_device.h"
#include "image/ram_pool.h"

struct pager;
struct control;

enum vm_outcome { OUTCOME_NONE, OUTCOME_EXITED, OUTCOME_STOPPED };

struct vm_result {
    uint8_t outcome;
    int32_t status;
    uint32_t boot_us; /* from the start of creating the VM to its first exit */
    /* To its first instruction after the ready call: a booted VM's ready exit, a clone's first
     * exit. */
    uint32_t ready_us;
    /* From a balloon request to the last page the guest gave back before it idled again. */
    uint32_t balloon_us;
    char *reason; /* for OUTCOME_STOPPED */
};

struct monitor {
    const struct run_options *options;
    struct platform *platform;
    struct guest_image image;
    struct console console;
    struct ram_pool ram;
    struct vm_result *results;
    unsigned worker_count;
    unsigned max_live;
    /*
     * VMs in memory, each with its vCPU (a process on the process platform);
     * a hibernated VM is live but not in memory. Creating one waits for room
     * under max_resident (sched/residency.h); waking one never does.
     */
    unsigned max_resident;
    const char *resident_bound; /* what set max_resident, for messages and --stats */
    _Atomic unsigned resident;
    _Atomic unsigned resident_peak;
    _Atomic bool resident_waited; /* creation has waited for room (said once) */
    uint64_t epoch_ns;            /* virtual time zero */
    uint64_t quantum_ns;
    /* Virtual time at which running VMs are stopped; 0: none. A signal moves it to now. */
    _Atomic uint64_t time_limit_ns;
    _Atomic(const char *) stop_reason; /* why VMs were stopped at the limit */
    void *scheduler;                   /* the workers' scheduler while they run */
    _Atomic unsigned live;
    _Atomic unsigned booted;
    _Atomic unsigned finished;
    _Atomic uint64_t all_booted_ns;
    _Atomic uint64_t exits;
    struct vm_devices devices; /* every VM's: the NIC (not with --net none), the disks (--disk) */
    /*
     * --clone: VM 0 boots as the template and no other VM is created until
     * it has been snapshotted at its ready call (snapshot set) or has ended
     * without one (template_ended). Both change under the scheduler's lock.
     */
    struct platform_snapshot *snapshot;
    bool template_ended;
    bool snapshot_written; /* `denali snapshot`: the file is complete */
    /* Ballooning (--mem-limit): requests made, and bytes the guests gave back. */
    _Atomic uint64_t balloon_requests;
    _Atomic uint64_t balloon_released;
    bool over_limit_warned;
    uint64_t held_peak; /* --mem-limit: the most guest memory its checks saw held */
    /* --hibernate-after: the swap file, and VMs sent to it and brought back. */
    int swap_fd;
    _Atomic uint64_t hibernations;
    _Atomic uint64_t wakes;
    _Atomic uint64_t hibernate_failures;
    /* --mem-limit with --swap: the pager (NULL without paging), and page-outs that failed. */
    struct pager *pager;
    _Atomic uint64_t page_out_failures;
    _Atomic bool creation_held; /* paging is behind the limit: new VMs wait */
    struct control *control;    /* --control-fd: the daemon's channel (NULL without) */
};

#endif
