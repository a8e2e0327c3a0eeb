/* The seccomp filter that locks a VM process down: built as classic BPF, no libc, unit-tested. */
#ifndef DENALI_VMPROC_FILTER_H
#define DENALI_VMPROC_FILTER_H

#include <linux/filter.h>
#include <stdint.h>

#define VMPROC_FILTER_MAX 128u

/* The only call site and futex word the VM process's own code uses. */
struct vmproc_filter_spec {
    uint64_t syscall_ip;      /* the address just after the one allowed `syscall` instruction */
    uint64_t futex_addr;      /* the control page's turn word */
    uint32_t arch_prctl_code; /* the one arch_prctl allowed: ARCH_SET_FS, the guest's TLS */
    /*
     * A zygote (0: none): a VM process that forks clones. Its own call site,
     * in a page of code every child unmaps before the guest runs, may also
     * fork (clone with zygote_clone_flags only), map descriptor
     * zygote_ram_fd shared and fixed, readable or read-write, close
     * descriptors, ask to die with its parent and drop its process limit;
     * from the usual site, munmap of exactly that page is allowed too.
     */
    uint64_t zygote_ip;
    uint64_t zygote_page;
    uint64_t zygote_page_len;
    uint64_t zygote_clone_flags;
    uint32_t zygote_ram_fd;
};

/*
 * Fills prog with the filter; returns its length. It allows exactly four
 * system calls, and only from spec->syscall_ip: futex(FUTEX_WAIT or
 * FUTEX_WAKE, shared, no timeout) on spec->futex_addr, rt_sigreturn,
 * arch_prctl(spec->arch_prctl_code, any base), and madvise(MADV_DONTNEED)
 * of a range below 4 GiB (the guest's own memory, for ballooning).
 * With a zygote, the calls described above too.
 * Everything else (another architecture such as the i386 `int 0x80` entry,
 * an x32 number, any other call, or any call from another address) traps:
 * SIGSYS, which the VM process reports as the reason its VM stops.
 */
/* Returns 0 (no program) if it would not fit VMPROC_FILTER_MAX; the VM process then fails. */
unsigned vmproc_filter_build(const struct vmproc_filter_spec *spec,
                             struct sock_filter prog[VMPROC_FILTER_MAX]);

#endif
