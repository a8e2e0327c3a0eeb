/* The platform seam: where a VM's instructions run (a KVM vCPU or a locked-down host process). */
#ifndef DENALI_PLATFORM_H
#define DENALI_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/vm_exit.h"

struct guest_image;
struct ram_pool;
struct platform;
/* One VM's virtual CPU on its platform; opaque above the seam. */
struct platform_vcpu;

enum platform_kind { PLATFORM_AUTO, PLATFORM_KVM, PLATFORM_PROCESS };

/*
 * What each platform implements. Everything above it (scheduling, exit
 * handling, devices, the LAN) is written once and sees only these calls.
 */
struct platform_ops {
    const char *name;
    /* Creates the vCPU of a VM whose RAM (from the platform's pool) the monitor has filled. */
    struct platform_vcpu *(*vcpu_create)(struct platform *p, const struct guest_image *image,
                                         uint8_t *ram, char *err, size_t errlen);
    /* Runs the guest until it exits, is kicked, or faults, and describes why it came back. */
    void (*vcpu_run)(struct platform_vcpu *vcpu, struct vm_exit *exit);
    /* Sets the guest's %rax for its next entry (a hypercall's result). */
    void (*vcpu_set_result)(struct platform_vcpu *vcpu, uint64_t value);
    /* True while a result set above has not yet reached the guest. */
    bool (*vcpu_result_pending)(const struct platform_vcpu *vcpu);
    /* Makes the current or next run return soon; async-signal-safe. */
    void (*vcpu_kick)(struct platform_vcpu *vcpu);
    /* Ends the vCPU; once it returns nothing of the VM can touch its RAM any more. */
    void (*vcpu_destroy)(struct platform *p, struct platform_vcpu *vcpu);
    void (*close)(struct platform *p);
};

struct platform {
    const struct platform_ops *ops;
    enum platform_kind kind;
    /* Guest RAM must be one shared memfd (process) rather than anonymous memory (kvm). */
    bool shared_ram;
    /* Host descriptors each live VM holds (bounds how many can be live). */
    unsigned fds_per_vm;
    char why[192]; /* why this platform was chosen, for --stats and errors */
    struct ram_pool *ram;
};

/* Parses "kvm", "process" or "auto"; -1 otherwise. */
int platform_parse(const char *text, enum platform_kind *out);
const char *platform_kind_name(enum platform_kind kind);

/*
 * Opens the platform asked for (auto: kvm when /dev/kvm can be opened and
 * used, else process). The caller then sets p->ram before creating vCPUs.
 * Returns NULL with a one-line reason when the platform cannot run here.
 */
struct platform *platform_open(enum platform_kind want, char *err, size_t errlen);

/* Whether one platform can run here; on no, a one-line reason. */
bool platform_available(enum platform_kind kind, char *why, size_t whylen);

static inline void platform_close(struct platform *p)
{
    p->ops->close(p);
}

#endif
