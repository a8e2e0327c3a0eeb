/* The seccomp filter that locks a VM process down: built as classic BPF, no libc, unit-tested. */
#include "platform/process/vmproc_filter.h"

#include <linux/audit.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#define X32_SYSCALL_BIT 0x40000000u

/* Jump targets are patched once the program's length is known. */
enum target { NEXT, TO_ALLOW, TO_TRAP, TO_FUTEX };

struct builder {
    struct sock_filter *prog;
    unsigned n;
    enum target jt[VMPROC_FILTER_MAX];
    enum target jf[VMPROC_FILTER_MAX];
    unsigned ja_to_allow; /* the one unconditional jump */
    unsigned futex_start;
};

static void emit(struct builder *b, uint16_t code, uint32_t k, enum target jt, enum target jf)
{
    b->prog[b->n] = (struct sock_filter){.code = code, .k = k};
    b->jt[b->n] = jt;
    b->jf[b->n] = jf;
    b->n++;
}

static void load_word(struct builder *b, uint32_t offset)
{
    emit(b, BPF_LD | BPF_W | BPF_ABS, offset, NEXT, NEXT);
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

unsigned vmproc_filter_build(const struct vmproc_filter_spec *spec,
                             struct sock_filter prog[VMPROC_FILTER_MAX])
{
    struct builder b = {.prog = prog};
    load_word(&b, offsetof(struct seccomp_data, arch));
    require(&b, AUDIT_ARCH_X86_64);
    load_word(&b, offsetof(struct seccomp_data, nr));
    emit(&b, BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, TO_TRAP, NEXT);
    /* Guest code may not make a system call at all, even one the platform's code may make. */
    require_u64(&b, offsetof(struct seccomp_data, instruction_pointer), spec->syscall_ip);
    load_word(&b, offsetof(struct seccomp_data, nr));
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, TO_ALLOW, NEXT);
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, SYS_arch_prctl, NEXT, TO_FUTEX);
    /* Setting the FS base is harmless to the host whatever the base: it is the guest's own. */
    require_u64(&b, arg_offset(0), spec->arch_prctl_code);
    emit(&b, BPF_JMP | BPF_JA, 0, NEXT, NEXT);
    b.ja_to_allow = b.n - 1;
    b.futex_start = b.n;
    require(&b, SYS_futex);
    require_u64(&b, arg_offset(0), spec->futex_addr);
    require_u64(&b, arg_offset(3), 0); /* no timeout: the VM process never needs one */
    load_word(&b, arg_offset(1) + 4);
    require(&b, 0);
    load_word(&b, arg_offset(1));
    /* Shared futexes only (no FUTEX_PRIVATE_FLAG): the word is shared with the monitor. */
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, FUTEX_WAIT, TO_ALLOW, NEXT);
    require(&b, FUTEX_WAKE);
    unsigned allow = b.n;
    emit(&b, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, NEXT, NEXT);
    unsigned trap = b.n;
    emit(&b, BPF_RET | BPF_K, SECCOMP_RET_TRAP, NEXT, NEXT);
    const unsigned where[] = {[TO_ALLOW] = allow, [TO_TRAP] = trap, [TO_FUTEX] = b.futex_start};
    for (unsigned i = 0; i < b.n; i++) {
        if (BPF_CLASS(prog[i].code) != BPF_JMP)
            continue;
        prog[i].jt = b.jt[i] == NEXT ? 0 : jump_to(i, where[b.jt[i]]);
        prog[i].jf = b.jf[i] == NEXT ? 0 : jump_to(i, where[b.jf[i]]);
    }
    prog[b.ja_to_allow].k = allow - b.ja_to_allow - 1;
    return b.n;
}
