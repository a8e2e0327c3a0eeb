/* Shared bare-KVM setup for the raw floors: one CPL-3 long-mode vCPU per VM, no monitor. */
#include "bare_kvm.h"
#include "bench_util.h"
#include "platform/kvm/x86_bits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const uint8_t bare_out_loop[3] = {0xee, 0xeb, 0xfd};

#define PTE_P  (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_NX (1ull << 63)

#define GDT_ENTRIES 8u

/* The TSS's I/O bitmap follows its 0x68-byte body and covers ports 0 to 0x5ff. */
#define BARE_TSS_IOMAP 0x68u
#define BARE_TSS_LIMIT (BARE_TSS_IOMAP + 0x600u / 8)

static void put64(uint8_t *mem, uint64_t addr, uint64_t val)
{
    memcpy(mem + addr, &val, sizeof(val));
}

/* A flat code or data descriptor; `access` is the byte holding P, DPL, S and type. */
static uint64_t gdt_flat(uint8_t access, int long_mode)
{
    uint64_t d = 0xffffull;                   /* limit 15:0 */
    d |= (uint64_t)access << 40;              /* P, DPL, S, type */
    d |= 0xfull << 48;                        /* limit 19:16 */
    d |= (long_mode ? 0x2ull : 0x4ull) << 52; /* L, or D/B for data */
    d |= 0x8ull << 52;                        /* G */
    return d;
}

void bare_guest_init(uint8_t *mem, const uint8_t *code, size_t code_len)
{
    const uint64_t pdpt = BARE_PML4_ADDR + 0x1000, pd = pdpt + 0x1000, pt = pd + 0x1000;
    const uint64_t upper = PTE_P | PTE_RW | PTE_US;

    put64(mem, BARE_PML4_ADDR, pdpt | upper);
    put64(mem, pdpt, pd | upper);
    put64(mem, pd, pt | upper);
    for (uint64_t page = 1; page < BARE_MEM_SIZE / 0x1000; page++) {
        uint64_t addr = page * 0x1000, e = addr | PTE_P;
        if (addr >= BARE_PML4_ADDR && addr <= BARE_GDT_ADDR)
            e |= PTE_RW | PTE_NX; /* page tables, GDT and TSS: supervisor only */
        else if (addr == BARE_CODE_ADDR)
            e |= PTE_US; /* code: user, read-execute */
        else
            e |= PTE_US | PTE_RW | PTE_NX;
        put64(mem, pt + page * 8, e);
    }

    /* GDT: null, kernel code, kernel data, user code32, user data, user code64, TSS (2). */
    put64(mem, BARE_GDT_ADDR + 0x08, gdt_flat(0x9b, 1));
    put64(mem, BARE_GDT_ADDR + 0x10, gdt_flat(0x93, 0));
    put64(mem, BARE_GDT_ADDR + 0x18, gdt_flat(0xfb, 0));
    put64(mem, BARE_GDT_ADDR + 0x20, gdt_flat(0xf3, 0));
    put64(mem, BARE_GDT_ADDR + 0x28, gdt_flat(0xfb, 1));
    const uint64_t tss = BARE_TSS_ADDR, tss_limit = BARE_TSS_LIMIT;
    uint64_t lo = tss_limit & 0xffff;
    lo |= (tss & 0xffffff) << 16;
    lo |= 0x8bull << 40; /* present, DPL 0, busy 64-bit TSS */
    lo |= ((tss >> 24) & 0xff) << 56;
    put64(mem, BARE_GDT_ADDR + BARE_SEL_TSS, lo);
    put64(mem, BARE_GDT_ADDR + BARE_SEL_TSS + 8, tss >> 32);

    /*
     * TSS: rsp0 at the top of the supervisor page, and an I/O permission
     * bitmap that allows the hypercall ports only.
     */
    memset(mem + BARE_TSS_ADDR, 0, BARE_TSS_LIMIT + 1);
    put64(mem, BARE_TSS_ADDR + 4, BARE_GDT_ADDR + 0x1000);
    uint16_t iomap = BARE_TSS_IOMAP;
    memcpy(mem + BARE_TSS_ADDR + 0x66, &iomap, sizeof(iomap));
    memset(mem + BARE_TSS_ADDR + BARE_TSS_IOMAP, 0xff, BARE_PORT / 8);
    mem[BARE_TSS_ADDR + BARE_TSS_LIMIT] = 0xff;

    memcpy(mem + BARE_CODE_ADDR, code, code_len);
}

int bare_kvm_open(struct bare_kvm *k)
{
    k->cpuid = NULL;
    k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (k->kvm_fd < 0) {
        fprintf(stderr, "bare_kvm: open /dev/kvm: %s\n", strerror(errno));
        return -1;
    }
    if (ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        fprintf(stderr, "bare_kvm: unexpected KVM API version\n");
        goto fail;
    }
    k->run_size = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (k->run_size < (int)sizeof(struct kvm_run)) {
        fprintf(stderr, "bare_kvm: KVM_GET_VCPU_MMAP_SIZE: %s\n", strerror(errno));
        goto fail;
    }
    for (unsigned nent = 64; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
        if (!c) {
            fprintf(stderr, "bare_kvm: out of memory\n");
            goto fail;
        }
        c->nent = nent;
        if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            k->cpuid = c;
            return 0;
        }
        int err = errno;
        free(c);
        if (err != E2BIG) {
            fprintf(stderr, "bare_kvm: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(err));
            goto fail;
        }
    }
    fprintf(stderr, "bare_kvm: KVM_GET_SUPPORTED_CPUID: too many entries\n");
fail:
    close(k->kvm_fd);
    k->kvm_fd = -1;
    return -1;
}

void bare_kvm_close(struct bare_kvm *k)
{
    free(k->cpuid);
    k->cpuid = NULL;
    if (k->kvm_fd >= 0)
        close(k->kvm_fd);
    k->kvm_fd = -1;
}

static struct kvm_segment user_seg(uint16_t sel, uint8_t type, int code)
{
    struct kvm_segment s = {
        .base = 0,
        .limit = 0xffffffffu,
        .selector = sel,
        .type = type,
        .present = 1,
        .dpl = 3,
        .db = code ? 0 : 1,
        .s = 1,
        .l = code ? 1 : 0,
        .g = 1,
    };
    return s;
}

static int setup_vcpu(const struct bare_kvm *k, struct bare_vm *vm)
{
    if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, k->cpuid) < 0) {
        fprintf(stderr, "bare_kvm: KVM_SET_CPUID2: %s\n", strerror(errno));
        return -1;
    }
    struct kvm_sregs sr;
    if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sr) < 0) {
        fprintf(stderr, "bare_kvm: KVM_GET_SREGS: %s\n", strerror(errno));
        return -1;
    }
    sr.cs = user_seg(BARE_SEL_UCODE, 0xb, 1);
    sr.ss = user_seg(BARE_SEL_UDATA, 0x3, 0);
    sr.ds = sr.ss;
    sr.es = sr.ss;
    sr.fs = sr.ss;
    sr.gs = sr.ss;
    sr.tr = (struct kvm_segment){
        .base = BARE_TSS_ADDR,
        .limit = BARE_TSS_LIMIT,
        .selector = BARE_SEL_TSS,
        .type = 0xb, /* busy 64-bit TSS */
        .present = 1,
    };
    sr.ldt = (struct kvm_segment){.type = 0x2, .unusable = 1};
    sr.gdt = (struct kvm_dtable){.base = BARE_GDT_ADDR, .limit = GDT_ENTRIES * 8 - 1};
    sr.idt = (struct kvm_dtable){.base = 0, .limit = 0};
    sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sr.cr3 = BARE_PML4_ADDR;
    sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_FSGSBASE;
    sr.efer = EFER_LME | EFER_LMA | EFER_NXE;
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sr) < 0) {
        fprintf(stderr, "bare_kvm: KVM_SET_SREGS: %s\n", strerror(errno));
        return -1;
    }
    struct kvm_regs r = {
        .rip = BARE_CODE_ADDR,
        .rsp = BARE_STACK_TOP,
        .rdx = BARE_PORT,
        .rflags = 0x3002, /* IOPL 3, reserved bit 1 */
    };
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &r) < 0) {
        fprintf(stderr, "bare_kvm: KVM_SET_REGS: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int bare_vm_create(const struct bare_kvm *k, struct bare_vm *vm, uint8_t *mem)
{
    vm->mem = mem;
    vm->run = NULL;
    vm->vcpu_fd = -1;
    vm->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        fprintf(stderr, "bare_kvm: KVM_CREATE_VM: %s\n", strerror(errno));
        return -1;
    }
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = BARE_MEM_SIZE,
        .userspace_addr = (uintptr_t)mem,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        fprintf(stderr, "bare_kvm: KVM_SET_USER_MEMORY_REGION: %s\n", strerror(errno));
        goto fail;
    }
    vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
    if (vm->vcpu_fd < 0) {
        fprintf(stderr, "bare_kvm: KVM_CREATE_VCPU: %s\n", strerror(errno));
        goto fail;
    }
    void *run = mmap(NULL, (size_t)k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
    if (run == MAP_FAILED) {
        fprintf(stderr, "bare_kvm: mmap vcpu: %s\n", strerror(errno));
        goto fail;
    }
    vm->run = run;
    if (setup_vcpu(k, vm) < 0)
        goto fail;
    return 0;
fail:
    bare_vm_destroy(k, vm);
    return -1;
}

void bare_vm_close_vm_fd(struct bare_vm *vm)
{
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    vm->vm_fd = -1;
}

int bare_vm_run_out(const struct bare_kvm *k, struct bare_vm *vm)
{
    (void)k;
    for (;;) {
        if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            fprintf(stderr, "bare_kvm: KVM_RUN: %s\n", strerror(errno));
            return -1;
        }
        struct kvm_run *r = vm->run;
        if (r->exit_reason == KVM_EXIT_IO && r->io.direction == KVM_EXIT_IO_OUT &&
            r->io.port == BARE_PORT)
            return 0;
        if (r->exit_reason == KVM_EXIT_INTR)
            continue;
        fprintf(stderr, "bare_kvm: unexpected exit reason %u", r->exit_reason);
        if (r->exit_reason == KVM_EXIT_IO)
            fprintf(stderr, " (io dir %u port %#x)", r->io.direction, r->io.port);
        if (r->exit_reason == KVM_EXIT_FAIL_ENTRY)
            fprintf(stderr, " (hw reason %#llx)",
                    (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
        struct kvm_regs regs;
        if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) == 0)
            fprintf(stderr, " rip %#llx", (unsigned long long)regs.rip);
        fprintf(stderr, "\n");
        return -1;
    }
}

void bare_vm_destroy(const struct bare_kvm *k, struct bare_vm *vm)
{
    if (vm->run)
        munmap(vm->run, (size_t)k->run_size);
    vm->run = NULL;
    if (vm->vcpu_fd >= 0)
        close(vm->vcpu_fd);
    vm->vcpu_fd = -1;
    bare_vm_close_vm_fd(vm);
}

uint64_t bare_now_ns(void)
{
    return bench_now_ns();
}

uint64_t bare_quantile(uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), bench_compare_u64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

void bare_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}
