/* One VM's context: its vCPU, memory, virtual registers, scheduling state and console line. */
#ifndef DENALI_VM_H
#define DENALI_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/console.h"
#include "denali/abi.h"
#include "image/guest_image.h"
#include "platform/platform.h"
#include "sched/sched_queue.h"
#include "sched/vm_device.h"

/* A run of guest memory a hibernated VM has in the swap file. */
struct swap_run {
    uint64_t gpa, len;
};

struct vm {
    uint32_t id;
    struct sched_entity sched;
    struct platform_vcpu *vcpu;
    struct guest_memory mem;
    struct denali_vregs *vregs; /* host view of the guest's read-only page */
    /* Other threads raise DENALI_EVENT_NET_RX here (under the scheduler lock). */
    _Atomic uint64_t pending_events;
    bool in_idle;    /* next entry returns from the idle hypercall with the events */
    bool has_result; /* result goes to %rax at the next entry that really runs the guest */
    uint64_t result;
    bool booted;  /* has exited to the monitor at least once */
    bool running; /* a worker is inside run_slice for it (changed under the scheduler lock) */
    uint64_t created_ns;
    /* A clone not yet past its ready call: when it was asked for (its first exit is after it). */
    uint64_t clone_requested_ns;
    /* When memory was asked back, until the VM next idles (0: no request pending). */
    _Atomic uint64_t balloon_requested_ns;
    /* The snapshot a clone's memory is, copy-on-write; NULL once its memory is its own slot's. */
    const struct platform_snapshot *clone_of;
    /* Hibernated (its registers; its memory is in the swap file): NULL while it is in memory. */
    struct platform_snapshot *hibernated;
    bool hibernate_asked;   /* the watcher wants it hibernated when a worker next takes it */
    uint64_t swapped_bytes; /* what went to the swap file, and a hash of it, checked on return */
    struct swap_run *swap_runs; /* where it went (guest addresses), so that exactly that returns */
    unsigned swap_run_count;
    uint64_t swapped_hash;
    /* Created, last woken by something from outside (not a timer), or busy a whole quantum. */
    uint64_t last_used_ns;
    uint64_t last_run_ns; /* when a worker last ran it: the pager takes from the oldest first */
    /* Paging: the monitor's pager (NULL without), this VM's state in it, and what it asked for. */
    struct pager *paged_by;
    struct vm_pager *pager;
    uint64_t page_out_asked; /* pages the watcher wants out when a worker next takes it */
    bool page_out_even_used; /* ... even pages the guest touched since the last scan */
    uint64_t last_scan_ns;   /* when it was last asked (its reference bits read and cleared) */
    uint64_t resident_guess; /* its pages in memory at the last scan (0: not scanned yet) */
    uint64_t sleep_deadline;
    /* The daemon's control channel: paused (set aside, neither queued nor asleep), or to be killed.
     */
    bool paused;
    bool kill_asked;
    const char *kill_reason;
    uint64_t exits; /* exits to the monitor, for the daemon's stats */
    size_t live_index;
    struct console *console;
    struct console_line *console_line;
    const struct vm_devices *devices; /* the run's (NULL: none) */
};

/* Fills ram for image and creates the VM's vCPU on the platform; ready for its first entry. */
int vm_boot(struct vm *vm, struct platform *platform, const struct guest_image *image, uint32_t id,
            uint32_t count, uint8_t *ram, char *err, size_t errlen);
/*
 * Makes VM id a clone of snap in ram (a fresh slot): its own identity in the
 * virtual registers, the snapshot's windows copied in, and a vCPU resuming
 * from the ready call. 0, or -1 with a reason.
 */
int vm_clone(struct vm *vm, struct platform *platform, const struct guest_image *image,
             const struct platform_snapshot *snap, uint32_t id, uint32_t count, uint8_t *ram,
             char *err, size_t errlen);
/* Copies the data the snapshot holds in guest range [at, end) into ram (holes stay untouched). */
int vm_copy_snapshot_data(const struct platform_snapshot *snap, uint8_t *ram, uint64_t at,
                          uint64_t end, char *err, size_t errlen);
/* The same into fd at base + the guest address: a slot's memfd pages, whatever maps them now. */
int vm_copy_snapshot_to_fd(const struct platform_snapshot *snap, int fd, uint64_t base, uint64_t at,
                           uint64_t end, char *err, size_t errlen);
/* The snapshotted VM itself goes on as a clone, in its own slot; vm->vcpu is NULL on failure. */
void vm_become_clone(struct vm *vm, struct platform *platform, const struct guest_image *image,
                     const struct platform_snapshot *snap, uint32_t count, char *err,
                     size_t errlen);
/* At vm's ready call: its RAM into a new memfd, its platform state and its device's windows. */
int vm_snapshot_take(struct vm *vm, struct platform *platform, struct platform_snapshot *snap,
                     char *err, size_t errlen);
void vm_destroy(struct vm *vm, struct platform *platform);
/* Host memory the VM's guest RAM holds now, as the monitor's view of its slot shows it. */
uint64_t vm_resident_bytes(const struct vm *vm);

#endif
