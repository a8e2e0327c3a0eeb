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
 * What a clone is made from: a VM frozen at its ready call (DENALI_HC_READY).
 * The monitor fills the memory side, the platform's vcpu_capture the rest.
 */
#define PLATFORM_CPU_STATE_MAX 512u
#define PLATFORM_WINDOWS_MAX   4u
struct platform_snapshot {
    uint32_t platform; /* enum platform_kind of the platform that captured it */
    int memfd;         /* the guest's RAM, indexed by guest-physical address; never written again */
    uint64_t mem_size;
    uint32_t cpu_state_len;
    uint8_t cpu_state[PLATFORM_CPU_STATE_MAX]; /* the platform's own, opaque above the seam */
    /* Guest ranges the monitor itself reads and writes (a NIC's rings), page-aligned. */
    unsigned window_count;
    struct {
        uint64_t start, end;
    } windows[PLATFORM_WINDOWS_MAX];
};

/*
 * What each platform implements. Everything above it (scheduling, exit
 * handling, devices, the LAN) is written once and sees only these calls.
 */
struct platform_ops {
    const char *name;
    /* Creates the vCPU of VM id, whose RAM (from the platform's pool) the monitor has filled. */
    struct platform_vcpu *(*vcpu_create)(struct platform *p, const struct guest_image *image,
                                         uint8_t *ram, uint32_t id, char *err, size_t errlen);
    /*
     * Creates VM id as a clone of snap: it resumes from the ready call with
     * the result 1. The monitor has written its virtual registers and its
     * windows' contents into ram; the rest of its memory is snap's,
     * copy-on-write. NULL with a reason when this platform cannot.
     */
    struct platform_vcpu *(*vcpu_clone)(struct platform *p, const struct guest_image *image,
                                        uint8_t *ram, uint32_t id,
                                        const struct platform_snapshot *snap, char *err,
                                        size_t errlen);
    /*
     * Creates VM id again after hibernation: its memory is back in ram (its
     * own slot), its registers are state's (from vcpu_capture at the idle it
     * slept in; state->memfd is -1), and the result of its next run goes to
     * the guest as that idle's result. NULL with a reason when it cannot.
     */
    struct platform_vcpu *(*vcpu_resume)(struct platform *p, const struct guest_image *image,
                                         uint8_t *ram, uint32_t id,
                                         const struct platform_snapshot *state, char *err,
                                         size_t errlen);
    /* At a hypercall exit through the gate (a ready call, an idle): fills snap's platform,
     * cpu_state and cpu_state_len, or -1 and why. */
    int (*vcpu_capture)(struct platform_vcpu *vcpu, struct platform_snapshot *snap, char *err,
                        size_t errlen);
    /*
     * Host memory the VMs hold outside the RAM pool (a process platform
     * clone's own copy-on-write pages); 0 where there is none. Costs a
     * look at every VM, so it is for occasional checks.
     */
    uint64_t (*private_bytes)(struct platform *p);
    /*
     * A clone being hibernated: copies the pages of [gpa, gpa + len) it wrote
     * since it was cloned (its own copy-on-write copies, which the pool's
     * memfd does not hold) into its slot's memfd pages, where the caller has
     * put the snapshot's bytes. ram is the slot's address in the monitor: the
     * pool's shared mapping on the process platform, the clone's own view on
     * kvm (which writes through the memfd). NULL where the platform cannot
     * (then clones are not hibernated). 0, or -1 with a reason.
     */
    int (*vcpu_copy_private)(struct platform_vcpu *vcpu, uint8_t *ram, uint64_t gpa, uint64_t len,
                             char *err, size_t errlen);
    /*
     * Paging (all three NULL where the platform cannot page): pager_start
     * registers the VM's guest RAM with a userfaultfd and hands it over
     * (the caller closes it); a fault's address is *addr_base + gpa. Its
     * vCPU must have been created with p->paging set. -1 with a reason.
     */
    int (*pager_start)(struct platform_vcpu *vcpu, uint64_t *addr_base, char *err, size_t errlen);
    /*
     * Reference bits of pages [gpa, gpa + pages * 4 KiB): bits[i] is 1 when
     * the guest touched page i since the last forget_references (or since it
     * started). 0, or -1 when they cannot be read (then all count as used).
     */
    int (*referenced)(struct platform_vcpu *vcpu, uint64_t gpa, uint64_t pages, uint8_t *bits);
    /* Clears the reference bits, before the guest next runs. */
    void (*forget_references)(struct platform_vcpu *vcpu);
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
    /* Set by the monitor before any vCPU exists: VMs will be paged (see pager_start). */
    bool paging;
    /* Host pids each VM in memory holds (bounds how many can be in memory at once). */
    unsigned pids_per_vm;
    /*
     * A guest's page fault that the pager holds blocks the worker thread
     * running it, inside the kernel, where no signal ends the wait (KVM's
     * own access to guest memory, before Linux 6.4): the pager must then
     * make room itself, from the faulting VM, whose vCPU is stopped on it.
     */
    bool faults_hold_worker;
    char why[192]; /* why this platform was chosen, for --stats and errors */
    struct ram_pool *ram;
    /*
     * Set by the scheduler while it runs: makes VM id run soon, so that a
     * vCPU the platform found dead or misbehaving while it slept is stopped
     * by its worker (its next run reports why). Called from any thread.
     */
    void (*wake)(void *ctx, uint32_t id);
    void *wake_ctx;
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
