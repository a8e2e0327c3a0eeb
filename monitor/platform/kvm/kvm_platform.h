/* The kvm platform: each VM a KVM VM with one vCPU, run by the monitor's worker threads. */
#ifndef DENALI_KVM_PLATFORM_H
#define DENALI_KVM_PLATFORM_H

#include <stddef.h>

#include "platform/platform.h"

/* NULL with a one-line reason when /dev/kvm cannot be opened or lacks what Denali needs. */
struct platform *kvm_platform_open(char *err, size_t errlen);

/* The gate's code under kvm: `outb %al, %dx; ret`, so a hypercall is one port exit. */
#define KVM_GATE_CODE                                                                              \
    {                                                                                              \
        0xee, 0xc3                                                                                 \
    }

#endif
