/* The VM process's assembly: its entry, its one system-call site, the gate template, guest entry. */
#include "platform/process/vmproc_abi.h"

    .text

/* The kernel starts us on its stack; switch to our own at once, since that one is unmapped later. */
    .globl _start
    .type _start, @function
_start:
    mov %rsp, %rdi
    lea vmproc_stack_top(%rip), %rsp
    call vmproc_main
    ud2
    .size _start, . - _start

/*
 * long vmproc_syscall(long nr, long a1, ..., long a6): the only `syscall`
 * instruction in the VM process. The seccomp filter allows system calls
 * from vmproc_syscall_return alone, so guest code cannot make any.
 */
    .globl vmproc_syscall
    .globl vmproc_syscall_return
    .type vmproc_syscall, @function
vmproc_syscall:
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
vmproc_syscall_insn:
    syscall
vmproc_syscall_return:
    ret
    .size vmproc_syscall, . - vmproc_syscall

/*
 * long vmproc_zygote_syscall(nr, a1, ..., a6): the zygote's own call site,
 * in the page every clone unmaps before its guest runs, where the filter
 * also allows forking and remapping (vmproc_filter.h).
 */
    .pushsection zygote, "ax", @progbits
    .globl vmproc_zygote_syscall
    .globl vmproc_zygote_syscall_return
    .type vmproc_zygote_syscall, @function
vmproc_zygote_syscall:
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
    syscall
vmproc_zygote_syscall_return:
    ret
    .size vmproc_zygote_syscall, . - vmproc_zygote_syscall
    .popsection

/* Signal handlers return here: rt_sigreturn through the one allowed site (a jump keeps %rsp). */
    .globl vmproc_restorer
    .type vmproc_restorer, @function
vmproc_restorer:
    mov $15, %eax
    jmp vmproc_syscall_insn
    .size vmproc_restorer, . - vmproc_restorer

/*
 * The hypercall gate, copied to DENALI_GATE_ADDR: position-independent
 * (absolute addresses only). It records the call in the control page and
 * parks until the monitor has answered; every register but %rax survives.
 */
    .globl vmproc_gate_start
    .globl vmproc_gate_end
    .globl vmproc_gate_resume
vmproc_gate_start:
    cld
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    /* The callee-saved ones too: a clone resumes here with only the stack to restore from. */
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movabs $VMPROC_CONTROL_ADDR, %r11
    movzwl %dx, %ecx
    movl %ecx, VMPROC_CTL_PORT(%r11)
    mov %rdi, VMPROC_CTL_ARG0(%r11)
    mov %rsi, VMPROC_CTL_ARG1(%r11)
    mov %r10, VMPROC_CTL_ARG2(%r11)
    mov 112(%rsp), %rcx
    mov %rcx, VMPROC_CTL_RIP(%r11)
    lea 120(%rsp), %rcx
    mov %rcx, VMPROC_CTL_RSP(%r11)
    movl $VMPROC_EXIT_HYPERCALL, VMPROC_CTL_KIND(%r11)
    movabs $vmproc_hypercall, %rax
    call *%rax
vmproc_gate_resume:
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    ret
vmproc_gate_end:

/*
 * void vmproc_resume_guest(gate_rsp, result, resume_address): a clone goes on
 * where its snapshot was taken, inside the gate's copy at DENALI_GATE_ADDR,
 * with the registers the gate saved on the guest's stack and result in %rax.
 */
    .globl vmproc_resume_guest
    .type vmproc_resume_guest, @function
vmproc_resume_guest:
    mov %rdi, %rsp
    mov %rsi, %rax
    cld
    jmp *%rdx
    .size vmproc_resume_guest, . - vmproc_resume_guest

/* void vmproc_enter_guest(entry, stack_top): the guest starts as under kvm, every register zero. */
    .globl vmproc_enter_guest
    .type vmproc_enter_guest, @function
vmproc_enter_guest:
    mov %rsi, %rsp
    push %rdi
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    cld
    ret
    .size vmproc_enter_guest, . - vmproc_enter_guest

    .section .note.GNU-stack, "", @progbits
