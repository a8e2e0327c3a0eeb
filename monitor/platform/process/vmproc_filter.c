/* The seccomp filter that locks a VM process down: built as classic BPF, no libc, unit-tested. */
#include "platform/process/vmproc_filter.h"

#include <linux/audit.h>
#include <linux/futex.h>
#include <linux/mman.h>
#include <asm-generic/mman-common.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#define X32_SYSCALL_BIT 0x40000000u
#define RLIMIT_NPROC_ID 6u /* <sys/resource.h>'s RLIMIT_NPROC, without libc */
#define SIGKILL_NUMBER  9u

/* Jump targets, placed as the program is emitted and patched once all are known. */
enum target {
    NEXT,
    TO_ALLOW,
    TO_TRAP,
    TO_FUTEX,
    TO_USUAL,
    TO_Z_MMAP,
    TO_Z_CLOSE,
    TO_Z_PRCTL,
    TO_Z_PRLIMIT,
    TO_Z_FUTEX,
    TO_U_ARCH_PRCTL,
    TO_U_MADVISE,
    TARGET_COUNT
};

struct builder {
    struct sock_filter *prog;
    unsigned n;
    enum target jt[VMPROC_FILTER_MAX];
    enum target jf[VMPROC_FILTER_MAX];
    unsigned where[TARGET_COUNT];
    int overflowed; /* the program outgrew VMPROC_FILTER_MAX: no filter at all */
};

static void emit(struct builder *b, uint16_t code, uint32_t k, enum target jt, enum target jf)
{
    if (b->n == VMPROC_FILTER_MAX) {
        b->overflowed = 1;
        return;
    }
    b->prog[b->n] = (struct sock_filter){.code = code, .k = k};
    b->jt[b->n] = jt;
    b->jf[b->n] = jf;
    b->n++;
}

static void place(struct builder *b, enum target t)
{
    b->where[t] = b->n;
}

static void load_word(struct builder *b, uint32_t offset)
{
    emit(b, BPF_LD | BPF_W | BPF_ABS, offset, NEXT, NEXT);
}

static void load_nr(struct builder *b)
{
    load_word(b, offsetof(struct seccomp_data, nr));
}

/* An unconditional jump; its target goes in jt until patched into k. */
static void jump(struct builder *b, enum target to)
{
    emit(b, BPF_JMP | BPF_JA, 0, to, NEXT);
}

/* Continues when the loaded word equals k, else traps. */
static void require(struct builder *b, uint32_t k)
{
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, k, NEXT, TO_TRAP);
}

/* Little-endian halves of a 64-bit seccomp_data field. */
static void require_u64(struct builder *b, uint32_t offset, uint64_t value)
{
    load_word(b, offset);
    require(b, (uint32_t)value);
    load_word(b, offset + 4);
    require(b, (uint32_t)(value >> 32));
}

static uint32_t arg_offset(unsigned i)
{
    return (uint32_t)(offsetof(struct seccomp_data, args) + 8 * i);
}

static uint8_t jump_to(unsigned from, unsigned to)
{
    return (uint8_t)(to - from - 1);
}

/* The zygote's own site: fork, remap and close, and nothing a guest could ever reach. */
static void zygote_calls(struct builder *b, const struct vmproc_filter_spec *spec)
{
    load_nr(b);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, NEXT, TO_Z_MMAP);
    require_u64(b, arg_offset(0), spec->zygote_clone_flags);
    jump(b, TO_ALLOW);

    place(b, TO_Z_MMAP);
    load_nr(b);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, NEXT, TO_Z_CLOSE);
    require_u64(b, arg_offset(3), MAP_SHARED | MAP_FIXED);
    require_u64(b, arg_offset(4), spec->zygote_ram_fd);
    load_word(b, arg_offset(2) + 4);
    require(b, 0);
    load_word(b, arg_offset(2));
    /* Readable or read-write, never executable: the windows, vregs, control and stage pages. */
    emit(b, BPF_JMP | BPF_JSET | BPF_K, ~(uint32_t)(PROT_READ | PROT_WRITE), TO_TRAP, NEXT);
    jump(b, TO_ALLOW);

    place(b, TO_Z_CLOSE);
    load_nr(b);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, TO_ALLOW, TO_Z_PRCTL);

    place(b, TO_Z_PRCTL);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, NEXT, TO_Z_PRLIMIT);
    require_u64(b, arg_offset(0), PR_SET_PDEATHSIG);
    require_u64(b, arg_offset(1), SIGKILL_NUMBER);
    jump(b, TO_ALLOW);

    place(b, TO_Z_PRLIMIT);
    load_nr(b);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, SYS_prlimit64, NEXT, TO_Z_FUTEX);
    require_u64(b, arg_offset(0), 0);
    require_u64(b, arg_offset(1), RLIMIT_NPROC_ID);
    jump(b, TO_ALLOW);

    place(b, TO_Z_FUTEX);
    load_nr(b);
    jump(b, TO_FUTEX);
}

unsigned vmproc_filter_build(const struct vmproc_filter_spec *spec,
                             struct sock_filter prog[VMPROC_FILTER_MAX])
{
    struct builder b = {.prog = prog};
    load_word(&b, offsetof(struct seccomp_data, arch));
    require(&b, AUDIT_ARCH_X86_64);
    load_nr(&b);
    emit(&b, BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, TO_TRAP, NEXT);
    if (spec->zygote_ip) {
        load_word(&b, offsetof(struct seccomp_data, instruction_pointer));
        emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)spec->zygote_ip, NEXT, TO_USUAL);
        load_word(&b, offsetof(struct seccomp_data, instruction_pointer) + 4);
        emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(spec->zygote_ip >> 32), NEXT, TO_USUAL);
        zygote_calls(&b, spec);
    }
    place(&b, TO_USUAL);
    /* Guest code may not make a system call at all, even one the platform's code may make. */
    require_u64(&b, offsetof(struct seccomp_data, instruction_pointer), spec->syscall_ip);
    load_nr(&b);
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, TO_ALLOW, NEXT);
    /*
     * Ballooning: dropping pages below 4 GiB, the guest's own (the program
     * and its pages live far above): all a guest could do with it is zero
     * its own memory.
     */
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, NEXT, TO_U_MADVISE);
    load_word(&b, arg_offset(0) + 4);
    require(&b, 0);
    load_word(&b, arg_offset(1) + 4);
    require(&b, 0);
    require_u64(&b, arg_offset(2), MADV_DONTNEED);
    jump(&b, TO_ALLOW);
    place(&b, TO_U_MADVISE);
    load_nr(&b);
    if (spec->zygote_ip) {
        /* A clone drops the zygote's code; doing it again, or from the guest, changes nothing. */
        emit(&b, BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, NEXT, TO_U_ARCH_PRCTL);
        require_u64(&b, arg_offset(0), spec->zygote_page);
        require_u64(&b, arg_offset(1), spec->zygote_page_len);
        jump(&b, TO_ALLOW);
        place(&b, TO_U_ARCH_PRCTL);
        load_nr(&b);
    }
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, SYS_arch_prctl, NEXT, TO_FUTEX);
    /* Setting the FS base is harmless to the host whatever the base: it is the guest's own. */
    require_u64(&b, arg_offset(0), spec->arch_prctl_code);
    jump(&b, TO_ALLOW);
    place(&b, TO_FUTEX);
    require(&b, SYS_futex);
    require_u64(&b, arg_offset(0), spec->futex_addr);
    require_u64(&b, arg_offset(3), 0); /* no timeout: the VM process never needs one */
    load_word(&b, arg_offset(1) + 4);
    require(&b, 0);
    load_word(&b, arg_offset(1));
    /* Shared futexes only (no FUTEX_PRIVATE_FLAG): the word is shared with the monitor. */
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, FUTEX_WAIT, TO_ALLOW, NEXT);
    require(&b, FUTEX_WAKE);
    place(&b, TO_ALLOW);
    emit(&b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, NEXT, NEXT);
    place(&b, TO_TRAP);
    emit(&b, BPF_RET | BPF_K, SECCOMP_RET_TRAP, NEXT, NEXT);
    if (b.overflowed)
        return 0;
    for (unsigned i = 0; i < b.n; i++) {
        if (BPF_CLASS(prog[i].code) != BPF_JMP)
            continue;
        if (BPF_OP(prog[i].code) == BPF_JA) {
            prog[i].k = b.where[b.jt[i]] - i - 1;
            continue;
        }
        prog[i].jt = b.jt[i] == NEXT ? 0 : jump_to(i, b.where[b.jt[i]]);
        prog[i].jf = b.jf[i] == NEXT ? 0 : jump_to(i, b.where[b.jf[i]]);
    }
    return b.n;
}
