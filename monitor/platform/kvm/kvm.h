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
};

int kvm_host_open(struct kvm_host *host, char *err, size_t errlen);
void kvm_host_close(struct kvm_host *host);

int kvm_vm_create(const struct kvm_host *host);
int kvm_vm_map(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host_addr,
               bool readonly);
int kvm_vcpu_create(const struct kvm_host *host, int vm_fd, struct kvm_vcpu *vcpu);
int kvm_vcpu_set_initial_state(const struct kvm_host *host, struct kvm_vcpu *vcpu,
                               const struct kvm_initial_state *state);
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
