/* Unit tests for the VM process's seccomp filter: the generated BPF run by a strict interpreter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <asm/prctl.h>
#include <linux/audit.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "denali/abi.h"
#include "platform/process/vmproc_abi.h"
#include "platform/process/vmproc_filter.h"

#define X32_BIT 0x40000000u
/* The i386 numbers the kernel's compat entry would see; not in the x86-64 <sys/syscall.h>. */
#define I386_NR_EXIT  1u
#define I386_NR_FUTEX 240u

/* Plausible values like the VM process's own, with both halves of each 64-bit word non-zero. */
#define SYSCALL_IP 0x600000001234ull
#define FUTEX_ADDR (VMPROC_CONTROL_ADDR + VMPROC_CTL_TURN)
/* Where the rest of the program would land if the builder wrote past VMPROC_FILTER_MAX. */
#define SLACK 16u

static const struct vmproc_filter_spec spec = {
    .syscall_ip = SYSCALL_IP,
    .futex_addr = FUTEX_ADDR,
    .arch_prctl_code = ARCH_SET_FS,
};

struct program {
    struct sock_filter insns[VMPROC_FILTER_MAX + SLACK];
    unsigned len;
};

/* Builds into a buffer poisoned with the given byte, so that writes past the length are seen. */
static void build_over(struct program *p, uint8_t poison)
{
    memset(p->insns, poison, sizeof(p->insns));
    p->len = vmproc_filter_build(&spec, p->insns);
    assert_true(p->len > 0);
    assert_true(p->len <= VMPROC_FILTER_MAX);
    for (unsigned i = p->len; i < VMPROC_FILTER_MAX + SLACK; i++) {
        const uint8_t *bytes = (const uint8_t *)&p->insns[i];
        for (size_t j = 0; j < sizeof(p->insns[i]); j++)
            if (bytes[j] != poison)
                fail_msg("instruction %u beyond the program's length %u was written", i, p->len);
    }
}

static void build(struct program *p)
{
    build_over(p, 0xee);
}

/* A 32-bit word of seccomp_data as the kernel's BPF loads it (host byte order). */
static uint32_t load_word(const struct seccomp_data *d, uint32_t k)
{
    if (k % 4 || k + 4 > sizeof(*d))
        fail_msg("load from offset %u, outside struct seccomp_data or unaligned", k);
    uint32_t word;
    memcpy(&word, (const uint8_t *)d + k, sizeof(word));
    return word;
}

/*
 * Runs the program over d. Only what the generator is meant to emit is
 * accepted; anything else, and any jump that leaves the program or falling
 * off its end, fails the test.
 */
static uint32_t run(const struct program *p, const struct seccomp_data *d)
{
    uint32_t a = 0;
    unsigned pc = 0;
    for (unsigned steps = 0; steps <= p->len; steps++) {
        if (pc >= p->len)
            fail_msg("execution ran off the end of the program (pc %u, length %u)", pc, p->len);
        const struct sock_filter *in = &p->insns[pc];
        unsigned next = pc + 1;
        switch (in->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            a = load_word(d, in->k);
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            next += a == in->k ? in->jt : in->jf;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            next += (a & in->k) ? in->jt : in->jf;
            break;
        case BPF_JMP | BPF_JA:
            next += in->k;
            break;
        case BPF_RET | BPF_K:
            return in->k;
        default:
            fail_msg("instruction %u has opcode 0x%x, which the generator should not emit", pc,
                     in->code);
        }
        if (next >= p->len)
            fail_msg("instruction %u jumps to %u, outside the program of %u", pc, next, p->len);
        /* Classic BPF only jumps forwards, so this also bounds the run. */
        pc = next;
    }
    fail_msg("the program did not return within %u steps", p->len);
    return 0;
}

static struct seccomp_data call(int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
    return (struct seccomp_data){
        .nr = nr,
        .arch = AUDIT_ARCH_X86_64,
        .instruction_pointer = SYSCALL_IP,
        .args = {a0, a1, a2, a3, 0, 0},
    };
}

/* The VM process's own calls, exactly as it makes them. */
static struct seccomp_data futex_wait(void)
{
    return call(SYS_futex, FUTEX_ADDR, FUTEX_WAIT, VMPROC_TURN_MONITOR, 0);
}

static struct seccomp_data futex_wake(void)
{
    return call(SYS_futex, FUTEX_ADDR, FUTEX_WAKE, 1, 0);
}

static struct seccomp_data rt_sigreturn_call(void)
{
    return call(SYS_rt_sigreturn, 0, 0, 0, 0);
}

static struct seccomp_data set_fs(uint64_t base)
{
    return call(SYS_arch_prctl, ARCH_SET_FS, base, 0, 0);
}

static void expect_action(const struct program *p, const struct seccomp_data *d, uint32_t want,
                          const char *what)
{
    uint32_t got = run(p, d);
    if (got != want)
        fail_msg("%s (nr 0x%x, arch 0x%x, ip 0x%llx, args 0x%llx 0x%llx 0x%llx 0x%llx): "
                 "returned 0x%x, expected 0x%x",
                 what, (unsigned)d->nr, d->arch, (unsigned long long)d->instruction_pointer,
                 (unsigned long long)d->args[0], (unsigned long long)d->args[1],
                 (unsigned long long)d->args[2], (unsigned long long)d->args[3], got, want);
}

static void expect_allow(const struct program *p, struct seccomp_data d, const char *what)
{
    expect_action(p, &d, SECCOMP_RET_ALLOW, what);
}

static void expect_trap(const struct program *p, struct seccomp_data d, const char *what)
{
    expect_action(p, &d, SECCOMP_RET_TRAP, what);
}

static void test_shape(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    assert_true(p.len >= 2);
    /* The verdicts end the program, so no path can fall off it. */
    assert_int_equal(p.insns[p.len - 2].code, BPF_RET | BPF_K);
    assert_int_equal(p.insns[p.len - 1].code, BPF_RET | BPF_K);
    unsigned rets = 0;
    for (unsigned i = 0; i < p.len; i++) {
        const struct sock_filter *in = &p.insns[i];
        switch (in->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            assert_int_equal(in->k % 4, 0);
            assert_true(in->k + 4 <= sizeof(struct seccomp_data));
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
        case BPF_JMP | BPF_JSET | BPF_K:
            if (i + 1 + in->jt >= p.len || i + 1 + in->jf >= p.len)
                fail_msg("jump at %u (jt %u, jf %u) leaves the program of %u", i, in->jt, in->jf,
                         p.len);
            break;
        case BPF_JMP | BPF_JA:
            if (in->k >= p.len - i - 1)
                fail_msg("jump at %u (k %u) leaves the program of %u", i, in->k, p.len);
            break;
        case BPF_RET | BPF_K:
            rets++;
            assert_true(in->k == SECCOMP_RET_ALLOW || in->k == SECCOMP_RET_TRAP);
            break;
        default:
            fail_msg("instruction %u has unexpected opcode 0x%x", i, in->code);
        }
    }
    assert_int_equal(rets, 2);
}

/* Nothing the builder emits may depend on what the buffer held before. */
static void test_build_ignores_old_contents(void **state)
{
    (void)state;
    struct program a, b;
    build_over(&a, 0x00);
    build_over(&b, 0xff);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.insns, b.insns, a.len * sizeof(a.insns[0]));
}

static void test_allows_the_vm_process_calls(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    expect_allow(&p, futex_wait(), "futex wait");
    expect_allow(&p, futex_wake(), "futex wake");
    /* The value compared and the count woken are the process's own business. */
    struct seccomp_data d = futex_wait();
    d.args[2] = 0xffffffff;
    expect_allow(&p, d, "futex wait, another value");
    d = futex_wake();
    d.args[2] = INT32_MAX;
    expect_allow(&p, d, "futex wake all");
    expect_allow(&p, rt_sigreturn_call(), "rt_sigreturn");
    const uint64_t bases[] = {0, 0x1000, 0x150000, 0x7fffffffffffull, UINT64_MAX};
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
        expect_allow(&p, set_fs(bases[i]), "arch_prctl(ARCH_SET_FS)");
}

static void test_traps_calls_from_another_ip(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    const uint64_t ips[] = {
        SYSCALL_IP - 2,                 /* low word differs: the guest's own `syscall` */
        SYSCALL_IP + 0x1000,            /* low word differs */
        SYSCALL_IP ^ (1ull << 32),      /* high word only */
        SYSCALL_IP + (0x1000ull << 32), /* high word only */
        (uint32_t)SYSCALL_IP,           /* the low word alone, high word zero */
        0x100040,                       /* guest text */
        DENALI_GATE_ADDR + 8,           /* the gate */
        SYSCALL_IP | (0xffffull << 48), /* non-canonical alias */
    };
    const struct seccomp_data allowed[] = {futex_wait(), futex_wake(), rt_sigreturn_call(),
                                           set_fs(0x150000)};
    for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        for (size_t j = 0; j < sizeof(allowed) / sizeof(allowed[0]); j++) {
            struct seccomp_data d = allowed[j];
            d.instruction_pointer = ips[i];
            expect_trap(&p, d, "an allowed call from another ip");
        }
    }
}

static void test_traps_futex_misuse(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    struct seccomp_data d;
    const uint64_t addrs[] = {
        FUTEX_ADDR + 4,            /* low word differs */
        FUTEX_ADDR - 0x1000,       /* low word differs */
        FUTEX_ADDR ^ (1ull << 32), /* high word only */
        (uint32_t)FUTEX_ADDR,      /* high word zero */
        0,
        0x150000, /* guest memory */
    };
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        d = futex_wait();
        d.args[0] = addrs[i];
        expect_trap(&p, d, "futex wait on another address");
        d = futex_wake();
        d.args[0] = addrs[i];
        expect_trap(&p, d, "futex wake on another address");
    }
    d = call(SYS_futex, FUTEX_ADDR, FUTEX_WAIT_PRIVATE, VMPROC_TURN_MONITOR, 0);
    expect_trap(&p, d, "FUTEX_WAIT_PRIVATE");
    d = call(SYS_futex, FUTEX_ADDR, FUTEX_WAKE_PRIVATE, 1, 0);
    expect_trap(&p, d, "FUTEX_WAKE_PRIVATE");
    d = call(SYS_futex, FUTEX_ADDR, FUTEX_WAIT | FUTEX_CLOCK_REALTIME, 1, 0);
    expect_trap(&p, d, "FUTEX_WAIT with FUTEX_CLOCK_REALTIME");
    /* A timeout pointer, in either half of the word. */
    const uint64_t timeouts[] = {0x150000, 1, 1ull << 32, 0x7ffffffff000ull};
    for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
        d = futex_wait();
        d.args[3] = timeouts[i];
        expect_trap(&p, d, "futex wait with a timeout");
        d = futex_wake();
        d.args[3] = timeouts[i];
        expect_trap(&p, d, "futex wake with a fourth argument");
    }
    /* The kernel reads the op as an int; the filter must not ignore bits it would not see. */
    const uint64_t high[] = {1ull << 32, 1ull << 63, 0xffffffffull << 32};
    for (size_t i = 0; i < sizeof(high) / sizeof(high[0]); i++) {
        d = futex_wait();
        d.args[1] |= high[i];
        expect_trap(&p, d, "futex wait with upper op bits");
        d = futex_wake();
        d.args[1] |= high[i];
        expect_trap(&p, d, "futex wake with upper op bits");
    }
    const uint64_t ops[] = {FUTEX_REQUEUE,         FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP,
                            FUTEX_WAIT_BITSET,     FUTEX_WAKE_BITSET, FUTEX_LOCK_PI,
                            FUTEX_WAIT_REQUEUE_PI, 0xffffffff,        FUTEX_FD};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        d = call(SYS_futex, FUTEX_ADDR, ops[i], 1, 0);
        expect_trap(&p, d, "another futex op");
    }
}

static void test_traps_other_arch_prctl(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    const uint64_t codes[] = {ARCH_GET_FS,
                              ARCH_SET_GS,
                              ARCH_GET_GS,
                              ARCH_SET_CPUID,
                              ARCH_SET_FS | (1ull << 32), /* high word only */
                              0};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct seccomp_data d = set_fs(0x150000);
        d.args[0] = codes[i];
        expect_trap(&p, d, "another arch_prctl");
    }
}

static void test_traps_every_other_call(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    const int calls[] = {
        SYS_open,       SYS_openat,         SYS_write,  SYS_read,   SYS_mmap,     SYS_mprotect,
        SYS_munmap,     SYS_clone,          SYS_clone3, SYS_fork,   SYS_vfork,    SYS_execve,
        SYS_kill,       SYS_tgkill,         SYS_ptrace, SYS_socket, SYS_prctl,    SYS_seccomp,
        SYS_exit_group, SYS_io_uring_setup, SYS_exit,   SYS_getpid, SYS_execveat, SYS_tkill,
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        /* With the futex's own arguments, so no argument check can let it through. */
        struct seccomp_data d = futex_wait();
        d.nr = calls[i];
        expect_trap(&p, d, "a forbidden call");
        d = set_fs(0);
        d.nr = calls[i];
        expect_trap(&p, d, "a forbidden call with arch_prctl's arguments");
    }
    /* Numbers beyond any table, and the smallest and largest. */
    const int odd[] = {0, 333, 1000, -1, INT32_MAX};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        struct seccomp_data d = futex_wake();
        d.nr = odd[i];
        expect_trap(&p, d, "an unusual number");
    }
}

static void test_traps_other_architectures(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    /* The i386 entry (`int 0x80`), even with a call the x86-64 filter would allow. */
    struct seccomp_data d = futex_wait();
    d.arch = AUDIT_ARCH_I386;
    d.nr = I386_NR_FUTEX;
    expect_trap(&p, d, "i386 futex");
    d.nr = I386_NR_EXIT;
    expect_trap(&p, d, "i386 exit");
    /* i386's number for nothing, which is x86-64's futex. */
    d.nr = SYS_futex;
    expect_trap(&p, d, "i386 arch with the x86-64 futex number");
    d = rt_sigreturn_call();
    d.arch = AUDIT_ARCH_I386;
    expect_trap(&p, d, "i386 arch with the x86-64 rt_sigreturn number");
    /* x32 numbers, whose low bits name calls the filter allows. */
    d = futex_wait();
    d.nr = (int)(X32_BIT | SYS_futex);
    expect_trap(&p, d, "x32 futex");
    d = rt_sigreturn_call();
    d.nr = (int)(X32_BIT | SYS_rt_sigreturn);
    expect_trap(&p, d, "x32 rt_sigreturn");
    d = set_fs(0);
    d.nr = (int)(X32_BIT | SYS_arch_prctl);
    expect_trap(&p, d, "x32 arch_prctl");
    /* An architecture the host does not even have. */
    d = futex_wait();
    d.arch = AUDIT_ARCH_AARCH64;
    expect_trap(&p, d, "another architecture");
    d.arch = 0;
    expect_trap(&p, d, "architecture 0");
}

/* The filter is built for its spec, not for fixed addresses. */
static void test_another_spec(void **state)
{
    (void)state;
    const struct vmproc_filter_spec other = {
        .syscall_ip = 0x600000abcdefull, .futex_addr = 0x5fffffffe040ull, .arch_prctl_code = 7};
    struct program p;
    memset(&p, 0, sizeof(p));
    p.len = vmproc_filter_build(&other, p.insns);
    assert_true(p.len <= VMPROC_FILTER_MAX);
    struct seccomp_data d = call(SYS_futex, other.futex_addr, FUTEX_WAKE, 1, 0);
    d.instruction_pointer = other.syscall_ip;
    expect_allow(&p, d, "futex wake under another spec");
    d.args[0] = FUTEX_ADDR;
    expect_trap(&p, d, "the default futex address under another spec");
    d = call(SYS_arch_prctl, 7, 0x1000, 0, 0);
    d.instruction_pointer = other.syscall_ip;
    expect_allow(&p, d, "the spec's arch_prctl code");
    d.args[0] = ARCH_SET_FS;
    expect_trap(&p, d, "ARCH_SET_FS when the spec names another code");
    d = rt_sigreturn_call();
    expect_trap(&p, d, "rt_sigreturn from the default ip under another spec");
}

/* Ballooning: MADV_DONTNEED of the guest's own memory (below 4 GiB), nothing else. */
static void test_madvise_dontneed_below_4g_only(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    expect_allow(&p, call(SYS_madvise, 0x200000, 0x10000, MADV_DONTNEED, 0), "a balloon's drop");
    expect_allow(&p, call(SYS_madvise, 0xfffff000ull, 0x1000, MADV_DONTNEED, 0), "below 4 GiB");
    expect_trap(&p, call(SYS_madvise, 0x600000000000ull, 0x1000, MADV_DONTNEED, 0),
                "the VM process's own pages");
    expect_trap(&p, call(SYS_madvise, 0x200000, 0x100000000ull, MADV_DONTNEED, 0), "a huge length");
    const int advice[] = {MADV_NORMAL, MADV_WILLNEED, MADV_FREE,      MADV_REMOVE, MADV_DONTFORK,
                          MADV_DOFORK, MADV_HWPOISON, MADV_MERGEABLE, MADV_COLD};
    for (size_t i = 0; i < sizeof(advice) / sizeof(advice[0]); i++)
        expect_trap(&p, call(SYS_madvise, 0x200000, 0x1000, (uint64_t)advice[i], 0),
                    "other advice");
    expect_trap(&p, call(SYS_madvise, 0x200000, 0x1000, MADV_DONTNEED | (1ull << 32), 0),
                "advice, high bits");
    struct seccomp_data d = call(SYS_madvise, 0x200000, 0x1000, MADV_DONTNEED, 0);
    d.instruction_pointer = SYSCALL_IP + 2;
    expect_trap(&p, d, "from the guest's own code");
}

/* A zygote's filter: its own site may fork and remap; nothing else changes for the guest. */
#define ZYGOTE_IP    0x600000003456ull
#define ZYGOTE_PAGE  0x600000003000ull
#define ZYGOTE_LEN   0x1000ull
#define ZYGOTE_CLONE 0x8011ull /* CLONE_PARENT | SIGCHLD */

static const struct vmproc_filter_spec zygote_spec = {
    .syscall_ip = SYSCALL_IP,
    .futex_addr = FUTEX_ADDR,
    .arch_prctl_code = ARCH_SET_FS,
    .zygote_ip = ZYGOTE_IP,
    .zygote_page = ZYGOTE_PAGE,
    .zygote_page_len = ZYGOTE_LEN,
    .zygote_clone_flags = ZYGOTE_CLONE,
    .zygote_ram_fd = VMPROC_RAM_FD,
};

static struct seccomp_data from_zygote(int nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                                       uint64_t a4)
{
    struct seccomp_data d = call(nr, a0, a1, a2, a3);
    d.args[4] = a4;
    d.instruction_pointer = ZYGOTE_IP;
    return d;
}

static void build_zygote(struct program *p)
{
    memset(p, 0, sizeof(*p));
    p->len = vmproc_filter_build(&zygote_spec, p->insns);
    assert_true(p->len > 0 && p->len <= VMPROC_FILTER_MAX);
}

static void test_zygote_allows_its_calls(void **state)
{
    (void)state;
    struct program p;
    build_zygote(&p);
    const uint64_t rw = PROT_READ | PROT_WRITE, fixed = MAP_SHARED | MAP_FIXED;
    expect_allow(&p, from_zygote(SYS_clone, ZYGOTE_CLONE, 0, 0, 0, 0), "the zygote's fork");
    expect_allow(&p, from_zygote(SYS_mmap, 0x10000, 0x1000, PROT_READ, fixed, VMPROC_RAM_FD),
                 "a read-only window");
    expect_allow(&p, from_zygote(SYS_mmap, 0x200000, 0x40000, rw, fixed, VMPROC_RAM_FD),
                 "a read-write window");
    expect_allow(&p, from_zygote(SYS_close_range, 0, ~0u, 0, 0, 0), "close_range");
    expect_allow(&p, from_zygote(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "PDEATHSIG");
    expect_allow(&p, from_zygote(SYS_prlimit64, 0, RLIMIT_NPROC, 0x1234, 0, 0), "NPROC limit");
    expect_allow(&p, from_zygote(SYS_futex, FUTEX_ADDR, FUTEX_WAIT, 1, 0, 0), "futex");
    /* The usual site keeps its calls, and gains only the munmap of the zygote's page. */
    expect_allow(&p, futex_wake(), "futex wake");
    expect_allow(&p, set_fs(0x1000), "arch_prctl");
    expect_allow(&p, rt_sigreturn_call(), "rt_sigreturn");
    expect_allow(&p, call(SYS_munmap, ZYGOTE_PAGE, ZYGOTE_LEN, 0, 0), "dropping the zygote's page");
}

static void test_zygote_traps_the_rest(void **state)
{
    (void)state;
    struct program p;
    build_zygote(&p);
    const uint64_t rw = PROT_READ | PROT_WRITE, fixed = MAP_SHARED | MAP_FIXED;
    expect_trap(&p, from_zygote(SYS_clone, ZYGOTE_CLONE | CLONE_VM, 0, 0, 0, 0),
                "clone sharing memory");
    expect_trap(&p, from_zygote(SYS_clone, ZYGOTE_CLONE | (1ull << 32), 0, 0, 0, 0),
                "clone, high bits");
    expect_trap(&p, from_zygote(SYS_mmap, 0x10000, 0x1000, rw | PROT_EXEC, fixed, VMPROC_RAM_FD),
                "an executable mapping");
    expect_trap(&p, from_zygote(SYS_mmap, 0x10000, 0x1000, rw | (1ull << 32), fixed, VMPROC_RAM_FD),
                "prot, high bits");
    expect_trap(&p,
                from_zygote(SYS_mmap, 0x10000, 0x1000, rw, MAP_PRIVATE | MAP_FIXED, VMPROC_RAM_FD),
                "a private mapping");
    expect_trap(&p, from_zygote(SYS_mmap, 0x10000, 0x1000, rw, fixed | MAP_ANONYMOUS, -1),
                "an anonymous mapping");
    expect_trap(&p, from_zygote(SYS_mmap, 0x10000, 0x1000, rw, fixed, VMPROC_IMAGE_FD),
                "another descriptor");
    expect_trap(&p, from_zygote(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0), "another prctl");
    expect_trap(&p, from_zygote(SYS_prctl, PR_SET_PDEATHSIG, 0, 0, 0, 0), "PDEATHSIG cleared");
    expect_trap(&p, from_zygote(SYS_prlimit64, 0, RLIMIT_NOFILE, 0x1234, 0, 0), "another limit");
    expect_trap(&p, from_zygote(SYS_prlimit64, 1, RLIMIT_NPROC, 0x1234, 0, 0), "another process");
    const int calls[] = {SYS_open, SYS_execve, SYS_mprotect, SYS_fork,   SYS_vfork, SYS_clone3,
                         SYS_kill, SYS_munmap, SYS_seccomp,  SYS_ptrace, SYS_write};
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
        expect_trap(&p, from_zygote(calls[i], ZYGOTE_CLONE, 0, 0, 0, 0),
                    "another call from the zygote");
    /* The zygote's calls from the usual site (where a guest could reach) stay forbidden. */
    struct seccomp_data d = from_zygote(SYS_clone, ZYGOTE_CLONE, 0, 0, 0, 0);
    d.instruction_pointer = SYSCALL_IP;
    expect_trap(&p, d, "fork from the usual site");
    d = from_zygote(SYS_mmap, 0x10000, 0x1000, PROT_READ, fixed, VMPROC_RAM_FD);
    d.instruction_pointer = SYSCALL_IP;
    expect_trap(&p, d, "mmap from the usual site");
    d.instruction_pointer = ZYGOTE_IP + 0x100000000ull;
    expect_trap(&p, d, "mmap from an address equal in its low half only");
    expect_trap(&p, call(SYS_munmap, ZYGOTE_PAGE, ZYGOTE_LEN * 2, 0, 0), "munmap of more");
    expect_trap(&p, call(SYS_munmap, 0x100000, ZYGOTE_LEN, 0, 0), "munmap of guest memory");
}

/*
 * The kernel's own checker must accept the program too: the interpreter
 * here would not notice, say, an instruction the kernel forbids in seccomp
 * filters. A child installs it; its next call (exit_group) must then trap.
 */
static void kernel_accepts(struct program p)
{
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0)
        skip(); /* a kernel without seccomp */
    struct sock_fprog fprog = {.len = (unsigned short)p.len, .filter = p.insns};
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The SIGSYS that ends it is expected; a core file would only litter. */
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            _exit(100);
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
            _exit(errno == EINVAL ? 101 : 102);
        syscall(SYS_exit_group, 0);
        _exit(103); /* not reached: exit_group itself traps */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 100 || WEXITSTATUS(status) == 102))
        skip(); /* this environment does not let a process install a filter */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 101)
        fail_msg("the kernel rejected the filter (EINVAL)");
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void test_kernel_accepts_the_program(void **state)
{
    (void)state;
    struct program p;
    build(&p);
    kernel_accepts(p);
    build_zygote(&p);
    kernel_accepts(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_build_ignores_old_contents),
        cmocka_unit_test(test_allows_the_vm_process_calls),
        cmocka_unit_test(test_traps_calls_from_another_ip),
        cmocka_unit_test(test_traps_futex_misuse),
        cmocka_unit_test(test_traps_other_arch_prctl),
        cmocka_unit_test(test_traps_every_other_call),
        cmocka_unit_test(test_traps_other_architectures),
        cmocka_unit_test(test_another_spec),
        cmocka_unit_test(test_madvise_dontneed_below_4g_only),
        cmocka_unit_test(test_zygote_allows_its_calls),
        cmocka_unit_test(test_zygote_traps_the_rest),
        cmocka_unit_test(test_kernel_accepts_the_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
