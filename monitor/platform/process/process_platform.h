/* The process platform: each VM a seccomp-locked host process, handed the CPU by a worker. */
#ifndef DENALI_PROCESS_PLATFORM_H
#define DENALI_PROCESS_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"
#include "platform/process/vmproc_abi.h"

struct guest_layout;

/* NULL with a one-line reason when the VM-process program cannot be found or run. */
struct platform *process_platform_open(char *err, size_t errlen);

/* Describes layout's regions for the VM process (pure; unit-tested). Returns the count. */
unsigned process_platform_regions(const struct guest_layout *layout,
                                  struct vmproc_region regions[VMPROC_MAX_REGIONS]);

/* A clone's regions: RAM from the snapshot but for the vregs and its windows (pure; unit-tested).
 */
unsigned process_platform_clone_regions(struct vmproc_region regions[VMPROC_MAX_REGIONS],
                                        unsigned count, const struct platform_snapshot *snap);

/* The process platform's CPU state in a snapshot (platform_snapshot.cpu_state). */
struct process_cpu_state {
    uint64_t gate_rsp; /* the gate's stack pointer once its call into the VM process returned */
    uint64_t fs_base;
};

/* Turns a copy of the control page into an exit (pure; unit-tested). */
struct vm_exit;
void process_platform_decode(const struct vmproc_control *control, struct vm_exit *exit);

#endif
