/* The seccomp filter that locks a VM process down: built as classic BPF, no libc, unit-tested. */
#ifndef DENALI_VMPROC_FILTER_H
#define DENALI_VMPROC_FILTER_H

#include <linux/filter.h>
#include <stdint.h>

#define VMPROC_FILTER_MAX 40u

/* The only call site and futex word the VM process's own code uses. */
struct vmproc_filter_spec {
    uint64_t syscall_ip;      /* the address just after the one allowed `syscall` instruction */
    uint64_t futex_addr;      /* the control page's turn word */
    uint32_t arch_prctl_code; /* the one arch_prctl allowed: ARCH_SET_FS, the guest's TLS */
};

/*
 * Fills prog with the filter; returns its length. It allows exactly three
 * system calls, and only from spec->syscall_ip: futex(FUTEX_WAIT or
 * FUTEX_WAKE, shared, no timeout) on spec->futex_addr, rt_sigreturn, and
 * arch_prctl(spec->arch_prctl_code, any base).
 * Everything else (another architecture such as the i386 `int 0x80` entry,
 * an x32 number, any other call, or any call from another address) traps:
 * SIGSYS, which the VM process reports as the reason its VM stops.
 */
unsigned vmproc_filter_build(const struct vmproc_filter_spec *spec,
                             struct sock_filter prog[VMPROC_FILTER_MAX]);

#endif
