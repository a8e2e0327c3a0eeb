/* The VM process: maps one guest, locks itself down, runs it, and turns its exits into handoffs. */
#include <asm/prctl.h>
#include <elf.h>
#include <linux/audit.h>
#include <linux/futex.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include "denali/abi.h"
#include "platform/process/vmproc_abi.h"
#include "platform/process/vmproc_filter.h"

/*
 * Freestanding: no libc, no TLS, no SSE (built -mgeneral-regs-only). Its
 * signal handlers and its gate run with the guest's FS base and interrupt
 * the guest's SSE state, so it may touch neither.
 */
long vmproc_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
void vmproc_restorer(void);
_Noreturn void vmproc_enter_guest(uint64_t entry, uint64_t stack_top);
_Noreturn void vmproc_resume_guest(uint64_t gate_rsp, uint64_t result, uint64_t address);
uint64_t vmproc_park(void);
uint64_t vmproc_hypercall(void);
_Noreturn void vmproc_main(uint64_t *initial_stack);
extern const char vmproc_gate_start[], vmproc_gate_end[], vmproc_gate_resume[];
extern const char vmproc_syscall_return[];
long vmproc_zygote_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
extern const char vmproc_zygote_syscall_return[], vmproc_zygote_start[], vmproc_zygote_end[];

/* Not in glibc's headers: the kernel's flag for a handler that brings its own return path. */
#define SA_RESTORER    0x04000000
#define STACK_SIZE     (16 * 1024)
#define ALT_STACK_SIZE (16 * 1024)
__attribute__((aligned(16), used)) static uint8_t stack[STACK_SIZE];
__attribute__((aligned(16))) static uint8_t alt_stack[ALT_STACK_SIZE];
__asm__(".globl vmproc_stack_top\n.set vmproc_stack_top, stack + 16384\n");
_Static_assert(STACK_SIZE == 16384, "vmproc_stack_top above");

/* Executable guest ranges, for decoding an in/out instruction the guest executed itself. */
static struct vmproc_region exec_regions[VMPROC_MAX_REGIONS];
static unsigned exec_region_count;
/* Every guest range mapped, all readable: where a console write's buffer may be staged from. */
static struct vmproc_region mapped_regions[VMPROC_MAX_REGIONS];
static unsigned mapped_region_count;
static int control_mapped;

#define CONTROL ((volatile struct vmproc_control *)VMPROC_CONTROL_ADDR)

/* From vmproc_libc.c: the compiler emits calls to them for copies, and the stage uses memcpy. */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

static long sys(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
    return vmproc_syscall(nr, a1, a2, a3, a4, a5, a6);
}

_Noreturn static void die(int code)
{
    for (;;)
        sys(SYS_exit_group, code, 0, 0, 0, 0, 0);
}

/* Gives the turn to the monitor, whose worker sleeps on the same word. */
static void hand_to_monitor(volatile struct vmproc_control *c)
{
    __atomic_store_n(&c->turn, VMPROC_TURN_MONITOR, __ATOMIC_SEQ_CST);
    sys(SYS_futex, (long)&c->turn, FUTEX_WAKE, 1, 0, 0, 0);
}

static void forget_references(void);

uint64_t vmproc_park(void)
{
    volatile struct vmproc_control *c = CONTROL;
    hand_to_monitor(c);
    while (__atomic_load_n(&c->turn, __ATOMIC_ACQUIRE) != VMPROC_TURN_GUEST)
        sys(SYS_futex, (long)&c->turn, FUTEX_WAIT, VMPROC_TURN_MONITOR, 0, 0, 0);
    if (c->forget_references) {
        c->forget_references = 0;
        forget_references();
    }
    return c->result;
}

static int page_mapped(uint64_t page)
{
    for (unsigned i = 0; i < mapped_region_count; i++)
        if (page >= mapped_regions[i].start && page < mapped_regions[i].end)
            return 1;
    return 0;
}

/*
 * Copies a console write's buffer where the monitor can read it: a clone's
 * memory is its own copy-on-write of the snapshot, which the monitor does
 * not map. Only a buffer wholly inside the guest's mappings is staged, so
 * the copy cannot fault; any other is left for the monitor to refuse.
 */
static void stage_console_write(volatile struct vmproc_control *c)
{
    uint64_t addr = c->args[0], len = c->args[1];
    c->staged_len = 0;
    if (len == 0 || len > DENALI_CONSOLE_MAX || addr + len < addr)
        return;
    for (uint64_t page = addr & ~(uint64_t)(DENALI_PAGE_SIZE - 1); page < addr + len;
         page += DENALI_PAGE_SIZE)
        if (!page_mapped(page))
            return;
    memcpy((void *)(uintptr_t)VMPROC_STAGE_ADDR, (const void *)(uintptr_t)addr, len);
    c->staged_addr = addr;
    c->staged_len = (uint32_t)len;
}

/*
 * Ballooning: a clone's memory is its own copy-on-write of the snapshot,
 * which only this process can drop (the monitor frees the shared slice's
 * pages itself). Only whole pages inside one writable guest mapping; the
 * monitor judges the call afterwards and stops the VM for a bad range.
 */
static void drop_private_pages(uint64_t addr, uint64_t len)
{
    if (len == 0 || addr % DENALI_PAGE_SIZE || len % DENALI_PAGE_SIZE || addr + len < addr)
        return;
    for (unsigned i = 0; i < mapped_region_count; i++) {
        const struct vmproc_region *r = &mapped_regions[i];
        if (r->source == VMPROC_SOURCE_SNAPSHOT && (r->prot & VMPROC_PROT_WRITE) &&
            addr >= r->start && addr + len <= r->end) {
            sys(SYS_madvise, (long)addr, (long)len, MADV_DONTNEED, 0, 0, 0);
            return;
        }
    }
}

/*
 * The pager's reference bits: drops this process's page-table entries for
 * the shared guest memory (the pages stay in the memfd), so the next look
 * at its pagemap shows only what the guest touched since.
 */
static void forget_references(void)
{
    for (unsigned i = 0; i < mapped_region_count; i++) {
        const struct vmproc_region *r = &mapped_regions[i];
        if (r->source == VMPROC_SOURCE_RAM)
            sys(SYS_madvise, (long)r->start, (long)(r->end - r->start), MADV_DONTNEED, 0, 0, 0);
    }
}

/* Called by the gate with the call recorded in the control page; answers it or hands it over. */
uint64_t vmproc_hypercall(void)
{
    volatile struct vmproc_control *c = CONTROL;
    if (c->port == DENALI_PORT_BASE + DENALI_HC_SET_FS_BASE) {
        if (sys(SYS_arch_prctl, ARCH_SET_FS, (long)c->args[0], 0, 0, 0, 0) != 0)
            return 0;
        c->fs_base = c->args[0];
        return 1;
    }
    if (c->port == DENALI_PORT_BASE + DENALI_HC_CONSOLE_WRITE)
        stage_console_write(c);
    if (c->port == DENALI_PORT_BASE + DENALI_HC_BALLOON)
        drop_private_pages(c->args[0], c->args[1]);
    return vmproc_park();
}

/* Set-up failed: tell the monitor why (when the control page is there) and exit. */
_Noreturn static void fail(const char *what, long err)
{
    volatile struct vmproc_control *c = CONTROL;
    if (control_mapped) {
        unsigned i = 0;
        for (; what[i] && i < VMPROC_MESSAGE_MAX - 24; i++)
            c->message[i] = what[i];
        const char *suffix = ": errno ";
        for (unsigned j = 0; suffix[j]; j++)
            c->message[i++] = suffix[j];
        long e = -err;
        char digits[12];
        unsigned n = 0;
        do {
            digits[n++] = (char)('0' + e % 10);
            e /= 10;
        } while (e && n < sizeof(digits));
        while (n)
            c->message[i++] = digits[--n];
        c->message[i] = 0;
        c->kind = VMPROC_EXIT_SETUP_FAILED;
        hand_to_monitor(c);
    }
    die(127);
}

static void check(long rc, const char *what)
{
    if (rc < 0)
        fail(what, rc);
}

static uint64_t parse_hex(const char *text)
{
    uint64_t v = 0;
    for (; *text; text++) {
        char ch = *text;
        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                              : 16;
        if (d == 16)
            die(126);
        v = v * 16 + d;
    }
    return v;
}

static long prot_of(uint32_t prot)
{
    return ((prot & VMPROC_PROT_READ) ? PROT_READ : 0) |
           ((prot & VMPROC_PROT_WRITE) ? PROT_WRITE : 0) |
           ((prot & VMPROC_PROT_EXEC) ? PROT_EXEC : 0);
}

static void map_gate(void)
{
    long rc = sys(SYS_mmap, DENALI_GATE_ADDR, DENALI_PAGE_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    check(rc, "mapping the gate");
    uint8_t *gate = (uint8_t *)(uintptr_t)DENALI_GATE_ADDR;
    for (const char *p = vmproc_gate_start; p < vmproc_gate_end; p++)
        *gate++ = (uint8_t)*p;
    check(sys(SYS_mprotect, DENALI_GATE_ADDR, DENALI_PAGE_SIZE, PROT_READ | PROT_EXEC, 0, 0, 0),
          "sealing the gate");
}

static void map_guest(const struct vmproc_launch *l)
{
    for (unsigned i = 0; i < l->region_count && i < VMPROC_MAX_REGIONS; i++) {
        const struct vmproc_region *r = &l->regions[i];
        if (r->end <= r->start || r->start < DENALI_LOW_LIMIT || r->end > l->slice_size)
            fail("a region outside the guest", -22);
        long rc;
        if (r->source == VMPROC_SOURCE_GATE) {
            map_gate();
            rc = 0;
        } else if (r->source == VMPROC_SOURCE_FILE) {
            /*
             * Populated now: the pages are the page cache every VM shares, so
             * this costs page-table entries only, one call instead of a fault
             * a page as the guest starts (a fault costs ~30 us on a nested host).
             */
            rc = sys(SYS_mmap, (long)r->start, (long)(r->end - r->start), prot_of(r->prot),
                     MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, VMPROC_IMAGE_FD, (long)r->file_offset);
        } else if (r->source == VMPROC_SOURCE_SNAPSHOT) {
            /* Shared with every clone until this one writes: the snapshot's memfd is gpa-indexed.
             */
            rc = sys(SYS_mmap, (long)r->start, (long)(r->end - r->start), prot_of(r->prot),
                     MAP_PRIVATE | MAP_FIXED, VMPROC_SNAPSHOT_FD, (long)r->start);
        } else {
            rc = sys(SYS_mmap, (long)r->start, (long)(r->end - r->start), prot_of(r->prot),
                     MAP_SHARED | MAP_FIXED, VMPROC_RAM_FD, (long)(l->slice_offset + r->start));
        }
        check(rc, "mapping guest memory");
        if (mapped_region_count < VMPROC_MAX_REGIONS)
            mapped_regions[mapped_region_count++] = *r;
        if ((r->prot & VMPROC_PROT_EXEC) && exec_region_count < VMPROC_MAX_REGIONS)
            exec_regions[exec_region_count++] = *r;
    }
}

struct kernel_sigaction {
    void (*handler)(int, siginfo_t *, void *);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

/* The exit fields a preemption must not clobber when it lands inside the gate. */
struct exit_record {
    uint32_t kind, port;
    uint64_t args[3], rip, rsp;
};

static void save_record(struct exit_record *r)
{
    volatile struct vmproc_control *c = CONTROL;
    r->kind = c->kind;
    r->port = c->port;
    for (int i = 0; i < 3; i++)
        r->args[i] = c->args[i];
    r->rip = c->rip;
    r->rsp = c->rsp;
}

static void restore_record(const struct exit_record *r)
{
    volatile struct vmproc_control *c = CONTROL;
    c->kind = r->kind;
    c->port = r->port;
    for (int i = 0; i < 3; i++)
        c->args[i] = r->args[i];
    c->rip = r->rip;
    c->rsp = r->rsp;
}

static int in_exec_region(uint64_t addr, uint64_t len)
{
    for (unsigned i = 0; i < exec_region_count; i++)
        if (addr >= exec_regions[i].start && addr + len <= exec_regions[i].end && addr + len > addr)
            return 1;
    return 0;
}

/*
 * A guest that executes in/out itself gets a general-protection SIGSEGV;
 * decode the instruction so it exits like a port access under kvm. Returns
 * its length, or 0 when it is not one.
 */
static unsigned decode_port_io(const greg_t *g, volatile struct vmproc_control *c)
{
    uint64_t rip = (uint64_t)g[REG_RIP];
    if (!in_exec_region(rip, 3))
        return 0;
    const uint8_t *insn = (const uint8_t *)(uintptr_t)rip;
    unsigned len = 0, size = 1;
    if (insn[0] == 0x66) {
        size = 2;
        len = 1;
    }
    uint8_t op = insn[len];
    int imm = op == 0xe4 || op == 0xe5 || op == 0xe6 || op == 0xe7;
    int reg = op == 0xec || op == 0xed || op == 0xee || op == 0xef;
    if (!imm && !reg)
        return 0;
    if (op & 1)
        size = size == 2 ? 2 : 4;
    else
        size = 1;
    c->port = imm ? insn[len + 1] : (uint32_t)(g[REG_RDX] & 0xffff);
    c->io_out = (op & 2) != 0;
    c->io_size = size;
    c->args[0] = (uint64_t)g[REG_RDI];
    c->args[1] = (uint64_t)g[REG_RSI];
    c->args[2] = (uint64_t)g[REG_R10];
    c->rip = rip;
    c->rsp = (uint64_t)g[REG_RSP];
    c->kind = VMPROC_EXIT_PORT_IO;
    return len + 1 + (unsigned)imm;
}

static void on_preempt(volatile struct vmproc_control *c, greg_t *g)
{
    /* Parked already (the monitor has the turn): the exit it is handling is the answer. */
    if (__atomic_load_n(&c->turn, __ATOMIC_ACQUIRE) != VMPROC_TURN_GUEST)
        return;
    struct exit_record saved;
    save_record(&saved);
    c->kind = VMPROC_EXIT_PREEMPTED;
    c->rip = (uint64_t)g[REG_RIP];
    c->rsp = (uint64_t)g[REG_RSP];
    vmproc_park();
    restore_record(&saved);
}

static void on_signal(int sig, siginfo_t *si, void *context)
{
    volatile struct vmproc_control *c = CONTROL;
    greg_t *g = ((ucontext_t *)context)->uc_mcontext.gregs;
    if (sig == VMPROC_PREEMPT_SIGNAL) {
        on_preempt(c, g);
        return;
    }
    if (sig == SIGSEGV && si->si_code == SI_KERNEL) {
        unsigned len = decode_port_io(g, c);
        if (len) {
            uint64_t result = vmproc_park();
            g[REG_RAX] = (greg_t)result;
            g[REG_RIP] += len;
            return;
        }
    }
    c->kind = VMPROC_EXIT_FAULT;
    c->signo = sig;
    c->si_code = si->si_code;
    c->rip = (uint64_t)g[REG_RIP];
    c->rsp = (uint64_t)g[REG_RSP];
    c->fault_addr = (uint64_t)(uintptr_t)si->si_addr;
    if (sig == SIGSYS) {
        c->syscall_nr = si->si_syscall;
        c->syscall_arch = si->si_arch;
        c->fault_addr = 0;
    }
    /* A fault ends the VM: the monitor never hands the turn back, it ends the process. */
    for (;;)
        vmproc_park();
}

static void install_handlers(void)
{
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof(alt_stack), .ss_flags = 0};
    check(sys(SYS_sigaltstack, (long)&ss, 0, 0, 0, 0, 0), "sigaltstack");
    static const int signals[] = {
        SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, VMPROC_PREEMPT_SIGNAL};
    for (unsigned i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
        struct kernel_sigaction sa = {
            .handler = on_signal,
            .flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER,
            .restorer = vmproc_restorer,
            .mask = ~0ull, /* nothing nests: a handler is never interrupted by another */
        };
        check(sys(SYS_rt_sigaction, signals[i], (long)&sa, 0, 8, 0, 0), "rt_sigaction");
    }
    uint64_t none = 0;
    check(sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8, 0, 0), "rt_sigprocmask");
}

/* A zygote keeps its process limit until each child drops it: it must be able to fork. */
static void set_limits(int zygote)
{
    static const int zero_limits[] = {RLIMIT_NOFILE,  RLIMIT_NPROC,    RLIMIT_CORE, RLIMIT_FSIZE,
                                      RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE, RLIMIT_LOCKS};
    for (unsigned i = 0; i < sizeof(zero_limits) / sizeof(zero_limits[0]); i++) {
        struct rlimit none = {0, 0};
        if (zygote && zero_limits[i] == RLIMIT_NPROC)
            continue;
        check(sys(SYS_prlimit64, 0, zero_limits[i], (long)&none, 0, 0, 0), "prlimit");
    }
}

/*
 * What the kernel mapped for us besides our own image: the initial stack
 * (from its lowest page we might have touched up to its strings' end) and
 * the vdso with its vvar pages just below. Found from the initial stack,
 * because one munmap over the whole top of the address space costs more
 * (0.4 ms here) than the rest of the set-up.
 */
struct kernel_mappings {
    uint64_t stack_low, stack_high;
    uint64_t vdso;
};

static struct kernel_mappings find_kernel_mappings(uint64_t *initial_stack)
{
    struct kernel_mappings k = {0};
    uint64_t *p = initial_stack + 1 + initial_stack[0] + 1; /* past argc, argv, NULL */
    uint64_t high = (uint64_t)(uintptr_t)initial_stack;
    for (; *p; p++) /* envp */
        if (*p > high)
            high = *p;
    for (p++; p[0] != AT_NULL; p += 2)
        if (p[0] == AT_SYSINFO_EHDR)
            k.vdso = p[1];
    for (uint64_t i = 1; i <= (uint64_t)initial_stack[0]; i++)
        if (initial_stack[i] > high)
            high = initial_stack[i];
    /* The strings end within a page or two of the highest pointer; the stack VMA ends above. */
    k.stack_high = (high + 4 * 4096) & ~4095ull;
    k.stack_low = ((uint64_t)(uintptr_t)initial_stack & ~4095ull) - 256 * 4096;
    return k;
}

static void unmap_kernel_mappings(const struct kernel_mappings *k)
{
    sys(SYS_munmap, (long)k->stack_low, (long)(k->stack_high - k->stack_low), 0, 0, 0, 0);
    /* vvar's pages (up to 16 on the kernels we know) lie just below the vdso's few. */
    if (k->vdso)
        sys(SYS_munmap, (long)(k->vdso - 16 * 4096), 24 * 4096, 0, 0, 0, 0);
}

static void lock_down(const struct vmproc_launch *l, const struct kernel_mappings *kernel)
{
    /*
     * Descriptors first: the guest's memory is mapped, and it needs no file
     * at all. A zygote keeps the RAM memfd, which its children map their own
     * pages from and close before their guests run.
     */
    int zygote = (l->flags & VMPROC_LAUNCH_ZYGOTE) != 0;
    if (zygote) {
        check(sys(SYS_close_range, 0, VMPROC_RAM_FD - 1, 0, 0, 0, 0), "close_range");
        check(sys(SYS_close_range, VMPROC_RAM_FD + 1, ~0u, 0, 0, 0, 0), "close_range");
    } else if (sys(SYS_close_range, 0, ~0u, 0, 0, 0, 0) < 0) {
        for (int fd = 0; fd < 1024; fd++)
            sys(SYS_close, fd, 0, 0, 0, 0, 0);
    }
    if (l->flags & VMPROC_LAUNCH_UNSHARE)
        sys(SYS_unshare, CLONE_NEWUSER | CLONE_NEWIPC | CLONE_NEWUTS, 0, 0, 0, 0, 0);
    set_limits(zygote);
    check(sys(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0, 0), "PR_SET_DUMPABLE");
    check(sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0), "PR_SET_NO_NEW_PRIVS");
    install_handlers();
    /* The kernel's stack, vdso and vvar: the guest needs none of them, so it gets none. */
    unmap_kernel_mappings(kernel);
    struct sock_filter prog[VMPROC_FILTER_MAX];
    struct vmproc_filter_spec spec = {.syscall_ip = (uint64_t)(uintptr_t)vmproc_syscall_return,
                                      .futex_addr = VMPROC_CONTROL_ADDR + VMPROC_CTL_TURN,
                                      .arch_prctl_code = ARCH_SET_FS};
    if (zygote) {
        spec.zygote_ip = (uint64_t)(uintptr_t)vmproc_zygote_syscall_return;
        spec.zygote_page = (uint64_t)(uintptr_t)vmproc_zygote_start;
        spec.zygote_page_len = (uint64_t)(vmproc_zygote_end - vmproc_zygote_start);
        spec.zygote_clone_flags = VMPROC_ZYGOTE_CLONE_FLAGS;
        spec.zygote_ram_fd = VMPROC_RAM_FD;
    }
    struct sock_fprog fprog = {.len = (unsigned short)vmproc_filter_build(&spec, prog),
                               .filter = prog};
    check(sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&fprog, 0, 0, 0), "seccomp");
}

/*
 * In the zygote's own pages, calling only its own call site: forks, and in
 * the child maps the child's slice over the zygote's (control and stage
 * pages, vregs, windows), drops the process limit, asks to die with the
 * monitor and closes every descriptor. Returns the pid in the zygote, 0 in
 * the child, or -errno; a child that cannot set up exits at once (the
 * monitor then finds it dead).
 */
__attribute__((section("zygote"), noinline)) static long zygote_fork(uint64_t slice,
                                                                     const struct vmproc_launch *l)
{
    long pid = vmproc_zygote_syscall(SYS_clone, VMPROC_ZYGOTE_CLONE_FLAGS, 0, 0, 0, 0, 0);
    if (pid != 0)
        return pid;
    long rw = PROT_READ | PROT_WRITE, fixed = MAP_SHARED | MAP_FIXED;
    long bad = vmproc_zygote_syscall(SYS_mmap, VMPROC_CONTROL_ADDR, 4096, rw, fixed, VMPROC_RAM_FD,
                                     (long)(slice + VMPROC_CONTROL_GPA)) < 0;
    bad |= vmproc_zygote_syscall(SYS_mmap, VMPROC_STAGE_ADDR, 4096, rw, fixed, VMPROC_RAM_FD,
                                 (long)(slice + VMPROC_STAGE_GPA)) < 0;
    for (unsigned i = 0; i < l->region_count && i < VMPROC_MAX_REGIONS; i++) {
        const struct vmproc_region *r = &l->regions[i];
        if (r->source != VMPROC_SOURCE_RAM)
            continue;
        long prot = (r->prot & VMPROC_PROT_WRITE) ? rw : PROT_READ;
        bad |= vmproc_zygote_syscall(SYS_mmap, (long)r->start, (long)(r->end - r->start), prot,
                                     fixed, VMPROC_RAM_FD, (long)(slice + r->start)) < 0;
    }
    struct rlimit none = {0, 0};
    bad |= vmproc_zygote_syscall(SYS_prlimit64, 0, RLIMIT_NPROC, (long)&none, 0, 0, 0) < 0;
    bad |= vmproc_zygote_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0) < 0;
    bad |= vmproc_zygote_syscall(SYS_close_range, 0, ~0u, 0, 0, 0, 0) < 0;
    /* Nothing may run on with a half-mapped slice: ending is all a broken child can do here. */
    if (bad)
        for (;;)
            __builtin_trap();
    return 0;
}

/* The zygote: forks a clone each time the monitor asks; the child goes on as that clone. */
static void serve_as_zygote(struct vmproc_launch *l)
{
    for (;;) {
        vmproc_park();
        volatile struct vmproc_control *c = CONTROL;
        uint64_t slice = c->args[0];
        long pid = slice % DENALI_PAGE_SIZE ? -22 : zygote_fork(slice, l);
        if (pid == 0) {
            /* The child: the zygote's code goes before any guest instruction runs. */
            check(sys(SYS_munmap, (long)vmproc_zygote_start,
                      (long)(vmproc_zygote_end - vmproc_zygote_start), 0, 0, 0, 0),
                  "dropping the zygote's code");
            l->slice_offset = slice;
            return;
        }
        c->result = (uint64_t)pid;
        c->kind = VMPROC_EXIT_FORKED;
    }
}

/*
 * Paging: a userfaultfd for this process's memory, taken by the monitor
 * while the process is still open to it (before lock-down), then closed
 * here. User-mode faults only: no privilege needed, and nothing of the
 * monitor's is ever blocked by it.
 */
static void hand_over_pager(void)
{
    long fd = sys(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0, 0, 0, 0, 0);
    check(fd, "userfaultfd");
    struct uffdio_api api = {.api = UFFD_API};
    check(sys(SYS_ioctl, fd, (long)UFFDIO_API, (long)&api, 0, 0, 0), "userfaultfd API");
    volatile struct vmproc_control *c = CONTROL;
    c->kind = VMPROC_EXIT_PAGER;
    c->args[0] = (uint64_t)fd;
    vmproc_park();
    sys(SYS_close, fd, 0, 0, 0, 0, 0);
}

_Noreturn void vmproc_main(uint64_t *initial_stack)
{
    long argc = (long)initial_stack[0];
    char **argv = (char **)(initial_stack + 1);
    struct kernel_mappings kernel = find_kernel_mappings(initial_stack);
    if (argc != 2)
        die(125);
    uint64_t slice = parse_hex(argv[1]);
    /* The control page first, so that every later failure can be explained. */
    long rc = sys(SYS_mmap, VMPROC_CONTROL_ADDR, 4096, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_FIXED, VMPROC_RAM_FD, (long)(slice + VMPROC_CONTROL_GPA));
    if (rc < 0)
        die(124);
    control_mapped = 1;
    check(sys(SYS_mmap, VMPROC_STAGE_ADDR, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
              VMPROC_RAM_FD, (long)(slice + VMPROC_STAGE_GPA)),
          "mapping the stage page");
    check(sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0), "PR_SET_PDEATHSIG");
    static struct vmproc_launch launch;
    rc = sys(SYS_pread64, VMPROC_RAM_FD, (long)&launch, sizeof(launch),
             (long)(slice + VMPROC_LAUNCH_GPA), 0, 0);
    if (rc != (long)sizeof(launch) || launch.magic != VMPROC_LAUNCH_MAGIC ||
        launch.version != VMPROC_LAUNCH_VERSION || launch.slice_offset != slice)
        fail("bad launch block", rc < 0 ? rc : -22);
    /* The monitor died before we could ask to die with it. */
    if (sys(SYS_getppid, 0, 0, 0, 0, 0, 0) != (long)launch.monitor_pid)
        die(123);
    map_guest(&launch);
    if (launch.flags & VMPROC_LAUNCH_PAGER)
        hand_over_pager();
    lock_down(&launch, &kernel);
    CONTROL->kind = VMPROC_EXIT_READY;
    if (launch.flags & VMPROC_LAUNCH_ZYGOTE) {
        /* Returns in each child, whose monitor-side vCPU then waits for this READY. */
        serve_as_zygote(&launch);
        CONTROL->kind = VMPROC_EXIT_READY;
    }
    uint64_t first_result = vmproc_park();
    if (launch.flags & VMPROC_LAUNCH_RESUME) {
        if (launch.resume_fs_base)
            check(sys(SYS_arch_prctl, ARCH_SET_FS, (long)launch.resume_fs_base, 0, 0, 0, 0),
                  "restoring the FS base");
        CONTROL->fs_base = launch.resume_fs_base;
        uint64_t result =
            (launch.flags & VMPROC_LAUNCH_RESUME_RESULT) ? first_result : launch.resume_result;
        vmproc_resume_guest(launch.resume_rsp, result,
                            DENALI_GATE_ADDR + (uint64_t)(vmproc_gate_resume - vmproc_gate_start));
    }
    vmproc_enter_guest(launch.entry, DENALI_STACK_TOP);
}
