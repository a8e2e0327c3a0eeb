/* The only interface to /dev/kvm: VM and vCPU set-up, running, and exits turned into small events.
 */
#ifndef DENALI_KVM_H
#define DENALI_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/vm_exit.h"

struct kvm_run;
struct kvm_cpuid2;

/* Process-wide KVM state, set up once. */
struct kvm_host {
    int fd;
    size_t run_mmap_size;
    struct kvm_cpuid2 *cpuid;
};

struct kvm_vcpu {
    int fd;
    struct kvm_run *run;
};

struct kvm_initial_state {
    uint64_t rip;
    uint64_t rsp;
    uint64_t cr3;
    uint64_t gdt_base;
    uint16_t gdt_limit;
    uint16_t code_selector;
    uint16_t data_selector;
    uint16_t tss_selector;
    uint64_t tss_base;
    uint32_t tss_limit;
    uint64_t idt_base;
    uint16_t idt_limit;
};

/*
 * What a vCPU stopped at a hypercall needs to go on in a new vCPU (a clone,
 * or a VM back from hibernation): its general registers, as KVM stores
 * them, with %rip past the gate's OUT (a new vCPU has no port I/O left to
 * complete); the FS and GS bases; the SSE registers and controls, which a
 * hypercall does not clobber. Segments, control registers and the rest are
 * the boot's, set again by kvm_vcpu_set_initial_state.
 */
struct kvm_cpu_state {
    uint64_t gprs[18]; /* struct kvm_regs: rax ... r15, rip, rflags */
    uint64_t fs_base, gs_base;
    uint8_t xmm[16][16];
    uint32_t mxcsr;
    uint16_t fcw;
    uint16_t reserved;
};
#define KVM_CPU_STATE_RIP 16u
#define KVM_CPU_STATE_RAX 0u

int kvm_host_open(struct kvm_host *host, char *err, size_t errlen);
void kvm_host_close(struct kvm_host *host);

int kvm_vm_create(const struct kvm_host *host);
int kvm_vm_map(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host_addr,
               bool readonly);
int kvm_vcpu_create(const struct kvm_host *host, int vm_fd, struct kvm_vcpu *vcpu);
int kvm_vcpu_set_initial_state(const struct kvm_host *host, struct kvm_vcpu *vcpu,
                               const struct kvm_initial_state *state);
/*
 * Reads the state of a vCPU that has just exited on the OUT at gate_addr (a
 * hypercall through the gate). -1 with errno: EINVAL when it stopped elsewhere.
 */
int kvm_vcpu_save(struct kvm_vcpu *vcpu, uint64_t gate_addr, struct kvm_cpu_state *out);
/* Sets a vCPU fresh from kvm_vcpu_set_initial_state to state, with %rax = rax. */
int kvm_vcpu_restore(struct kvm_vcpu *vcpu, const struct kvm_cpu_state *state, uint64_t rax);
void kvm_vcpu_destroy(const struct kvm_host *host, struct kvm_vcpu *vcpu);

/* Enters the guest once and describes why it came back. */
void kvm_vcpu_run(struct kvm_vcpu *vcpu, struct vm_exit *exit);
/* Sets the guest's %rax for the next entry (a hypercall's result). */
void kvm_vcpu_set_result(struct kvm_vcpu *vcpu, uint64_t value);
/* True while a result set above has not yet reached the guest (KVM clears the mark on use). */
bool kvm_vcpu_result_pending(const struct kvm_vcpu *vcpu);
/* Marks the vCPU so that the next (or current) KVM_RUN returns at once; async-signal-safe. */
void kvm_vcpu_kick(struct kvm_run *run);

#endif
