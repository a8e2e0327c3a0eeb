/* Hibernation: an idle VM's memory to the swap file and its process released, and back on demand.
 */
#ifndef DENALI_HIBERNATE_H
#define DENALI_HIBERNATE_H

#include <stddef.h>

#include "sched/vm.h"

/* Opens (creates, truncates) the swap file, private to the monitor's user. -1 with a reason. */
int swap_open(const char *path, char *err, size_t errlen);

/*
 * A VM's region of the swap file: one slot's size at its id (sparse: only
 * data takes room). Hibernation and paging both keep a page at its guest
 * address there.
 */
uint64_t swap_region(const struct vm *vm);

/*
 * Hibernates vm, parked in an idle: captures its registers, copies the
 * pages its slot holds into its region of the swap file, ends its vCPU and
 * frees the slot's memory. 0; or -1 with a reason, with the VM untouched
 * and still runnable (a full disk only means it stays in memory).
 */
int vm_hibernate(struct vm *vm, struct platform *platform, struct ram_pool *pool, int swap_fd,
                 char *err, size_t errlen);

/*
 * Brings a hibernated vm back: its pages from the swap file into its slot
 * (the swap region then freed), and a vCPU resuming in its idle. 0, or -1
 * with a reason: the VM must then be stopped, never run on other bytes.
 */
int vm_wake(struct vm *vm, struct platform *platform, struct ram_pool *pool,
            const struct guest_image *image, int swap_fd, char *err, size_t errlen);

/*
 * The guest ranges hibernation moves: [DENALI_LOW_LIMIT, size) but state's
 * windows (pure; unit-tested). Calls fn on each in order; -1 when fn fails.
 */
int hibernate_each_range(const struct platform_snapshot *state, uint64_t size,
                         int (*fn)(void *ctx, uint64_t gpa, uint64_t len), void *ctx);

#endif
