/* Shared bare-KVM setup for the raw floors: one CPL-3 long-mode vCPU per VM, no monitor. */
#ifndef BENCH_BARE_KVM_H
#define BENCH_BARE_KVM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

/*
 * Guest layout used by every floor (guest-virtual equals guest-physical, as in
 * include/denali/abi.h):
 *   0x000000  page 0, not mapped
 *   0x002000  PML4, PDPT, PD, PT: supervisor-only
 *   0x006000  GDT and TSS: supervisor-only
 *   0x011000  stack pages below BARE_STACK_TOP: user, read-write, no-execute
 *   0x100000  code page: user, read-execute
 *   rest      user, read-write, no-execute
 */
#define BARE_MEM_SIZE  0x200000u
#define BARE_PML4_ADDR 0x2000u
#define BARE_GDT_ADDR  0x6000u
#define BARE_TSS_ADDR  0x6080u
#define BARE_STACK_TOP 0x100000u
#define BARE_CODE_ADDR 0x100000u
#define BARE_PORT      0x500u /* the port of Denali's NOP hypercall */

/* Selectors: user data 0x23 and 64-bit user code 0x2b (RPL 3), TSS 0x30. */
#define BARE_SEL_UDATA 0x23u
#define BARE_SEL_UCODE 0x2bu
#define BARE_SEL_TSS   0x30u

/* Guest code: `1: outb %al, %dx; jmp 1b` with %dx = BARE_PORT. */
extern const uint8_t bare_out_loop[3];

struct bare_kvm {
    int kvm_fd;
    int run_size;
    struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID, set on every vCPU */
};

struct bare_vm {
    int vm_fd; /* -1 once closed: the vCPU keeps the VM alive */
    int vcpu_fd;
    struct kvm_run *run;
    uint8_t *mem; /* BARE_MEM_SIZE bytes of host memory backing guest-physical 0 */
};

/* Opens /dev/kvm and caches what every VM needs. Returns 0, or -1 with a message. */
int bare_kvm_open(struct bare_kvm *k);
void bare_kvm_close(struct bare_kvm *k);

/* Writes page tables, GDT, TSS and `code` into guest memory `mem`. */
void bare_guest_init(uint8_t *mem, const uint8_t *code, size_t code_len);

/*
 * Creates a VM over `mem` (already initialised with bare_guest_init): memslot,
 * vCPU, run mmap, CPUID, sregs and regs. Returns 0, or -1 with a message and
 * nothing left open.
 */
int bare_vm_create(const struct bare_kvm *k, struct bare_vm *vm, uint8_t *mem);

/* Closes the VM fd; the VM lives on through its vCPU fd. */
void bare_vm_close_vm_fd(struct bare_vm *vm);

/* One KVM_RUN that must end in an `out` to BARE_PORT. Returns 0, or -1 with a message. */
int bare_vm_run_out(const struct bare_kvm *k, struct bare_vm *vm);

/* Unmaps the run area and closes the fds (not the guest memory). */
void bare_vm_destroy(const struct bare_kvm *k, struct bare_vm *vm);

/* Monotonic clock in nanoseconds. */
uint64_t bare_now_ns(void);

/* Sorts `v` and returns its p-quantile (0 <= p <= 1, nearest rank). */
uint64_t bare_quantile(uint64_t *v, size_t n, double p);

/* Raises the soft open-file limit to the hard one. */
void bare_raise_nofile(void);

#endif
