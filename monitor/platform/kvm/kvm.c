/* The only interface to /dev/kvm: VM and vCPU set-up, running, and exits turned into small events.
 */
#include "platform/kvm/kvm.h"
#include "platform/kvm/x86_bits.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "denali/abi.h"
#include "image/guest_layout.h"

#define RFLAGS_RESERVED (1ull << 1)
#define RFLAGS_IOPL3    (3ull << 12)
/* The arithmetic flags and DF: what a guest at IOPL 3 may change itself. */
#define RFLAGS_GUEST_MASK 0xcd5ull
#define MXCSR_VALID_MASK  0xffffu

static const int required_caps[] = {KVM_CAP_USER_MEMORY, KVM_CAP_READONLY_MEM, KVM_CAP_SYNC_REGS,
                                    KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_EXT_CPUID};
static const char *const required_cap_names[] = {"USER_MEMORY", "READONLY_MEM", "SYNC_REGS",
                                                 "IMMEDIATE_EXIT", "EXT_CPUID"};

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
    for (unsigned n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
        if (!cpuid)
            return NULL;
        cpuid->nent = n;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
            return cpuid;
        free(cpuid);
        if (errno != E2BIG)
            return NULL;
    }
    return NULL;
}

int kvm_host_open(struct kvm_host *host, char *err, size_t errlen)
{
    memset(host, 0, sizeof(*host));
    host->fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (host->fd < 0) {
        snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(errno));
        return -1;
    }
    int version = ioctl(host->fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        snprintf(err, errlen, "/dev/kvm speaks API version %d, need %d", version, KVM_API_VERSION);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(host->fd, KVM_CHECK_EXTENSION, required_caps[i]) <= 0) {
            snprintf(err, errlen, "/dev/kvm lacks KVM_CAP_%s", required_cap_names[i]);
            goto fail;
        }
    }
    int sync = ioctl(host->fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS);
    if (!(sync & KVM_SYNC_X86_REGS)) {
        snprintf(err, errlen, "/dev/kvm cannot sync x86 registers");
        goto fail;
    }
    int size = ioctl(host->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < (int)sizeof(struct kvm_run)) {
        snprintf(err, errlen, "/dev/kvm gives a bad vCPU mmap size %d", size);
        goto fail;
    }
    host->run_mmap_size = (size_t)size;
    host->cpuid = supported_cpuid(host->fd);
    if (!host->cpuid) {
        snprintf(err, errlen, "cannot read KVM's supported CPUID: %s", strerror(errno));
        goto fail;
    }
    return 0;
fail:
    close(host->fd);
    host->fd = -1;
    return -1;
}

void kvm_host_close(struct kvm_host *host)
{
    free(host->cpuid);
    host->cpuid = NULL;
    if (host->fd >= 0)
        close(host->fd);
    host->fd = -1;
}

int kvm_vm_create(const struct kvm_host *host)
{
    int fd;
    do {
        fd = ioctl(host->fd, KVM_CREATE_VM, 0);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

int kvm_vm_map(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host_addr,
               bool readonly)
{
    struct kvm_userspace_memory_region region = {
        .slot = slot,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host_addr,
    };
    return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

int kvm_vcpu_create(const struct kvm_host *host, int vm_fd, struct kvm_vcpu *vcpu)
{
    vcpu->fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
    if (vcpu->fd < 0)
        return -1;
    void *run = mmap(NULL, host->run_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
    if (run == MAP_FAILED) {
        int saved = errno;
        close(vcpu->fd);
        vcpu->fd = -1;
        errno = saved;
        return -1;
    }
    vcpu->run = run;
    /* General registers come back with every exit, so a hypercall costs no extra ioctl. */
    vcpu->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
    return 0;
}

static void set_segment(struct kvm_segment *seg, uint16_t selector, uint8_t type, bool code)
{
    memset(seg, 0, sizeof(*seg));
    seg->base = 0;
    seg->limit = 0xffffffff;
    seg->selector = selector;
    seg->type = type;
    seg->present = 1;
    seg->dpl = 3;
    seg->s = 1;
    seg->l = code;
    seg->db = !code;
    seg->g = 1;
}

int kvm_vcpu_set_initial_state(const struct kvm_host *host, struct kvm_vcpu *vcpu,
                               const struct kvm_initial_state *state)
{
    /* KVM checks CR4 and EFER bits against the guest's CPUID, so it must be set first. */
    if (ioctl(vcpu->fd, KVM_SET_CPUID2, host->cpuid) < 0)
        return -1;

    struct kvm_sregs sregs;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    set_segment(&sregs.cs, state->code_selector, 11, true);
    set_segment(&sregs.ss, state->data_selector, 3, false);
    set_segment(&sregs.ds, state->data_selector, 3, false);
    set_segment(&sregs.es, state->data_selector, 3, false);
    set_segment(&sregs.fs, state->data_selector, 3, false);
    set_segment(&sregs.gs, state->data_selector, 3, false);
    memset(&sregs.tr, 0, sizeof(sregs.tr));
    sregs.tr.selector = state->tss_selector;
    sregs.tr.base = state->tss_base;
    sregs.tr.limit = state->tss_limit;
    sregs.tr.type = 11; /* busy 64-bit TSS, which VM entry insists on */
    sregs.tr.present = 1;
    memset(&sregs.ldt, 0, sizeof(sregs.ldt));
    sregs.ldt.type = 2;
    sregs.ldt.unusable = 1;
    /* The monitor's handlers report an exception; one they cannot becomes a triple fault. */
    sregs.idt.base = state->idt_base;
    sregs.idt.limit = state->idt_limit;
    sregs.gdt.base = state->gdt_base;
    sregs.gdt.limit = state->gdt_limit;
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = state->cr3;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_FSGSBASE;
    sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
        return -1;

    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rip = state->rip;
    regs.rsp = state->rsp;
    regs.rflags = RFLAGS_RESERVED | RFLAGS_IOPL3;
    return ioctl(vcpu->fd, KVM_SET_REGS, &regs);
}

_Static_assert(sizeof(struct kvm_regs) == sizeof(((struct kvm_cpu_state *)0)->gprs),
               "kvm_cpu_state holds struct kvm_regs");
_Static_assert(offsetof(struct kvm_regs, rip) == KVM_CPU_STATE_RIP * 8, "rip's place");
_Static_assert(offsetof(struct kvm_regs, rax) == KVM_CPU_STATE_RAX * 8, "rax's place");

/* The gate is `out %al, (%dx); ret`: the OUT is one byte. */
#define GATE_OUT_LENGTH 1u

int kvm_vcpu_save(struct kvm_vcpu *vcpu, uint64_t gate_addr, struct kvm_cpu_state *out)
{
    memset(out, 0, sizeof(*out));
    /* Synced into the run page at every exit (KVM_SYNC_X86_REGS). */
    const struct kvm_regs *regs = &vcpu->run->s.regs.regs;
    if (vcpu->run->exit_reason != KVM_EXIT_IO || regs->rip != gate_addr) {
        errno = EINVAL;
        return -1;
    }
    memcpy(out->gprs, regs, sizeof(out->gprs));
    /* KVM completes the OUT (moves %rip on) only on the next KVM_RUN of this vCPU. */
    out->gprs[KVM_CPU_STATE_RIP] += GATE_OUT_LENGTH;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_GET_FPU, &fpu) < 0)
        return -1;
    out->fs_base = sregs.fs.base;
    out->gs_base = sregs.gs.base;
    memcpy(out->xmm, fpu.xmm, sizeof(out->xmm));
    out->mxcsr = fpu.mxcsr;
    out->fcw = fpu.fcw;
    return 0;
}

int kvm_vcpu_restore(struct kvm_vcpu *vcpu, const struct kvm_cpu_state *state, uint64_t rax)
{
    struct kvm_regs regs;
    memcpy(&regs, state->gprs, sizeof(regs));
    regs.rax = rax;
    /* Whatever the saved flags say, the guest stays at IOPL 3 with interrupts as it booted. */
    regs.rflags = (regs.rflags & RFLAGS_GUEST_MASK) | RFLAGS_RESERVED | RFLAGS_IOPL3;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_GET_FPU, &fpu) < 0)
        return -1;
    /* Canonical or the entry fails; a bad base only faults this guest, never the host. */
    sregs.fs.base = state->fs_base;
    sregs.gs.base = state->gs_base;
    memcpy(fpu.xmm, state->xmm, sizeof(fpu.xmm));
    /* Reserved MXCSR bits make KVM_SET_FPU fail: the guest's file cannot carry them. */
    fpu.mxcsr = state->mxcsr & MXCSR_VALID_MASK;
    fpu.fcw = state->fcw;
    if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu->fd, KVM_SET_FPU, &fpu) < 0 ||
        ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
        return -1;
    /* A hypercall's result is later written through the run page: it must hold these too. */
    vcpu->run->s.regs.regs = regs;
    return 0;
}

void kvm_vcpu_destroy(const struct kvm_host *host, struct kvm_vcpu *vcpu)
{
    if (vcpu->run)
        munmap(vcpu->run, host->run_mmap_size);
    if (vcpu->fd >= 0)
        close(vcpu->fd);
    vcpu->run = NULL;
    vcpu->fd = -1;
}

static void fetch_fault_address(struct kvm_vcpu *vcpu, struct vm_exit *exit)
{
    struct kvm_sregs sregs;
    if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) == 0)
        exit->cr2 = sregs.cr2;
}

/*
 * The handlers' report: an `out` to the fault port from their page, which
 * is supervisor-only, so no guest instruction at CPL 3 can be there (the
 * guest may `out` to any port, IOPL being 3 on some hosts).
 */
static bool is_exception_report(const struct kvm_run *run, const struct kvm_regs *regs)
{
    return run->io.port == GUEST_FAULT_PORT && run->io.direction == KVM_EXIT_IO_OUT &&
           regs->rip >= GUEST_HANDLER_ADDR && regs->rip < GUEST_HANDLER_ADDR + DENALI_PAGE_SIZE;
}

void kvm_vcpu_run(struct kvm_vcpu *vcpu, struct vm_exit *exit)
{
    struct kvm_run *run = vcpu->run;
    memset(exit, 0, sizeof(*exit));
    int rc = ioctl(vcpu->fd, KVM_RUN, 0);
    if (rc < 0) {
        run->immediate_exit = 0;
        if (errno == EINTR || errno == EAGAIN) {
            exit->kind = VM_EXIT_INTERRUPTED;
            return;
        }
        exit->kind = VM_EXIT_FAILED;
        exit->reason = (uint32_t)errno;
        return;
    }
    const struct kvm_regs *regs = &run->s.regs.regs;
    exit->rip = regs->rip;
    exit->rsp = regs->rsp;
    exit->reason = run->exit_reason;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        if (is_exception_report(run, regs)) {
            exit->kind = VM_EXIT_EXCEPTION;
            exit->vector = (uint32_t)regs->rdi;
            exit->error_code = (uint32_t)regs->r10;
            exit->rip = regs->rsi;
            exit->cr2 = regs->rbx;
            break;
        }
        exit->kind = VM_EXIT_IO;
        exit->port = run->io.port;
        exit->io_out = run->io.direction == KVM_EXIT_IO_OUT;
        exit->io_size = run->io.size;
        exit->io_count = run->io.count;
        exit->args[0] = regs->rdi;
        exit->args[1] = regs->rsi;
        exit->args[2] = regs->r10;
        break;
    case KVM_EXIT_MMIO:
        exit->kind = VM_EXIT_MMIO;
        exit->mmio_addr = run->mmio.phys_addr;
        exit->mmio_write = run->mmio.is_write;
        break;
    case KVM_EXIT_SHUTDOWN:
        exit->kind = VM_EXIT_SHUTDOWN;
        fetch_fault_address(vcpu, exit);
        break;
    case KVM_EXIT_HLT:
        exit->kind = VM_EXIT_HALT;
        break;
    case KVM_EXIT_INTR:
        exit->kind = VM_EXIT_INTERRUPTED;
        break;
    case KVM_EXIT_FAIL_ENTRY:
        exit->kind = VM_EXIT_FAILED;
        exit->reason = (uint32_t)run->fail_entry.hardware_entry_failure_reason;
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        exit->kind = VM_EXIT_FAILED;
        exit->reason = run->internal.suberror;
        break;
    default:
        exit->kind = VM_EXIT_UNEXPECTED;
        break;
    }
}

void kvm_vcpu_set_result(struct kvm_vcpu *vcpu, uint64_t value)
{
    /* The registers in the run page were stored at the last exit, so only %rax changes. */
    vcpu->run->s.regs.regs.rax = value;
    vcpu->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}

bool kvm_vcpu_result_pending(const struct kvm_vcpu *vcpu)
{
    return vcpu->run->kvm_dirty_regs & KVM_SYNC_X86_REGS;
}

void kvm_vcpu_kick(struct kvm_run *run)
{
    run->immediate_exit = 1;
}
