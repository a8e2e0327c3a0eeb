/* A VM exit normalised into a small platform-independent event, so exit handling is testable
 * without any platform. */
#ifndef DENALI_VM_EXIT_H
#define DENALI_VM_EXIT_H

#include <stdbool.h>
#include <stdint.h>

enum vm_exit_kind {
    VM_EXIT_IO,          /* port I/O: hypercalls, or a bad port */
    VM_EXIT_MMIO,        /* access to guest-physical memory with no writable backing */
    VM_EXIT_SHUTDOWN,    /* triple fault: an exception its handler could not report */
    VM_EXIT_INTERRUPTED, /* a signal (quantum expiry) interrupted the run */
    VM_EXIT_HALT,
    VM_EXIT_FAILED,     /* the platform could not enter or run the guest */
    VM_EXIT_UNEXPECTED, /* any other exit reason: fail closed */
    VM_EXIT_FAULT,      /* process platform: a signal (CPU exception or forbidden system call) */
    VM_EXIT_EXCEPTION,  /* kvm: a CPU exception, reported by the monitor's handler in the VM */
};

struct vm_exit {
    enum vm_exit_kind kind;
    uint32_t reason; /* raw KVM exit reason or errno, for messages */
    uint16_t port;
    uint8_t io_out;
    uint8_t io_size;
    uint32_t io_count;
    bool mmio_write;
    uint64_t mmio_addr;
    uint64_t args[3]; /* %rdi, %rsi, %r10 at the exit */
    uint64_t rip;
    uint64_t rsp;
    uint64_t cr2; /* faulting address, for a shutdown, a fault or an exception */
    /* VM_EXIT_EXCEPTION: the CPU's vector and error code (0 where it pushes none). */
    uint32_t vector;
    uint32_t error_code;
    /* VM_EXIT_FAULT: the signal, its si_code, and for SIGSYS the call and its architecture. */
    int32_t signo;
    int32_t si_code;
    int32_t syscall_nr;
    uint32_t syscall_arch;
    char detail[96]; /* VM_EXIT_FAILED: why, in words, when the platform knows */
    /*
     * A console write's buffer, already copied out of the guest by the
     * platform (the process platform's clones keep their memory where the
     * monitor cannot see it); NULL when the monitor reads guest memory.
     */
    const uint8_t *staged;
};

#endif
