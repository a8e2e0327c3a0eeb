/* The contract between the monitor and a VM process: addresses, the control page, the launch block.
 */
#ifndef DENALI_VMPROC_ABI_H
#define DENALI_VMPROC_ABI_H

/*
 * Where the VM process keeps its own pieces. The guest owns [0, 4 GiB); the
 * platform's program is linked far above it (at 0x600000000000, monitor.mk)
 * with its control and stage pages 1 MiB above its start: in the same 2 MiB
 * as the program, so one page-table page maps all of it (three fewer pages
 * of page tables a VM than a control page in another 512 GiB). The kernel's
 * stack, vdso and vvar are unmapped before the guest runs. All of it is visible to the guest (a
 * process has no privilege levels), so none of it is trusted by the monitor.
 */
#define VMPROC_CONTROL_ADDR 0x600000100000
/* Where a hypercall's buffer is staged for the monitor (see vmproc_control.staged_len). */
#define VMPROC_STAGE_ADDR 0x600000101000
/* Guest-physical pages below 0x10000 the guest never sees: the slice's private pages. */
#define VMPROC_CONTROL_GPA 0x1000
#define VMPROC_LAUNCH_GPA  0x2000
#define VMPROC_STAGE_GPA   0x3000
/* Descriptors the program is started with; it closes them all before the guest runs. */
#define VMPROC_RAM_FD      3
#define VMPROC_IMAGE_FD    4
#define VMPROC_SNAPSHOT_FD 5 /* a clone's: the snapshot's RAM, mapped private (copy-on-write) */
/* The monitor preempts a running VM process with this signal. */
#define VMPROC_PREEMPT_SIGNAL 10 /* SIGUSR1 */

/* Whose turn it is (the control page's first word, a shared futex). */
#define VMPROC_TURN_SETUP   0u
#define VMPROC_TURN_MONITOR 1u
#define VMPROC_TURN_GUEST   2u

/* Why the VM process handed the turn to the monitor. */
#define VMPROC_EXIT_READY        1u /* set up and locked down; the next turn runs the guest */
#define VMPROC_EXIT_HYPERCALL    2u /* through the gate */
#define VMPROC_EXIT_PORT_IO      3u /* an in/out instruction executed by the guest itself */
#define VMPROC_EXIT_PREEMPTED    4u
#define VMPROC_EXIT_FAULT        5u /* a signal: CPU exception or forbidden system call */
#define VMPROC_EXIT_SETUP_FAILED 6u /* message says why; the process then exits */
#define VMPROC_EXIT_FORKED       7u /* a zygote forked a clone: result is its pid or -errno */
/* Set-up, with VMPROC_LAUNCH_PAGER: args[0] is its userfaultfd for the monitor to take. */
#define VMPROC_EXIT_PAGER 8u

/* Control-page offsets, for the gate's assembly; checked against the struct below. */
#define VMPROC_CTL_TURN 0
#define VMPROC_CTL_KIND 64
#define VMPROC_CTL_PORT 68
#define VMPROC_CTL_ARG0 72
#define VMPROC_CTL_ARG1 80
#define VMPROC_CTL_ARG2 88
#define VMPROC_CTL_RIP  96
#define VMPROC_CTL_RSP  104

#define VMPROC_LAUNCH_MAGIC   0x564d5052u /* "RPMV" */
#define VMPROC_LAUNCH_VERSION 2u
#define VMPROC_MAX_REGIONS    24u
#define VMPROC_MESSAGE_MAX    160u

/*
 * Launch flags. New user, IPC and UTS namespaces where the host allows them: empty or
 * harmless copies, for little (measured: ~1 ms and a few KiB a VM). Not a
 * network namespace (+320 KiB and 2.5 times the boot time a VM, here) nor a
 * mount namespace (a copy of the host's mounts): with no descriptor and no
 * call that takes a path, neither would guard anything more.
 */
#define VMPROC_LAUNCH_UNSHARE 1u
/* A clone: resume the guest where its snapshot was taken instead of at its entry. */
#define VMPROC_LAUNCH_RESUME 2u
/*
 * A zygote: set up as a clone, but instead of running the guest it forks a
 * clone each time the monitor asks (args[0]: the child's slice offset) and
 * answers with its pid (VMPROC_EXIT_FORKED, result). The child maps its own
 * slice's pages over the zygote's, drops the zygote's code and resumes.
 */
#define VMPROC_LAUNCH_ZYGOTE 4u
/*
 * With RESUME, a VM coming back from hibernation: its memory is its own
 * slice's again (no snapshot), and %rax is what the monitor hands it with its
 * first turn (the result of the idle it was hibernated in).
 */
#define VMPROC_LAUNCH_RESUME_RESULT 8u
/*
 * Paging: before it locks down, the process makes a userfaultfd for its
 * memory (user-mode faults only, so no privilege is needed) and hands the
 * turn over once (VMPROC_EXIT_PAGER) so that the monitor can take it, and
 * open its pagemap, while it may still be looked at; then it closes it.
 */
#define VMPROC_LAUNCH_PAGER 16u
/* The zygote's fork: the child's parent is the monitor, and it tells it when it ends. */
#define VMPROC_ZYGOTE_CLONE_FLAGS 0x8011u /* CLONE_PARENT | SIGCHLD */

#define VMPROC_PROT_READ  1u
#define VMPROC_PROT_WRITE 2u
#define VMPROC_PROT_EXEC  4u

#define VMPROC_SOURCE_RAM      0u /* the VM's slice of the RAM memfd, shared with the monitor */
#define VMPROC_SOURCE_FILE     1u /* the image file, private: text and read-only data shared */
#define VMPROC_SOURCE_GATE     2u /* the hypercall gate, built by the VM process */
#define VMPROC_SOURCE_SNAPSHOT 3u /* a clone's: the snapshot memfd, private copy-on-write */

/* The gate's saved registers (%rcx ... %r15, 14 of them) and its return into vmproc_hypercall. */
#define VMPROC_GATE_SAVED 14u

#ifndef __ASSEMBLER__
#include <stdint.h>

/*
 * The control page: written by both sides. The VM process fills the exit
 * fields and hands the turn to the monitor; the monitor writes the result
 * and hands it back. The guest can write it too, so the monitor copies it
 * once and treats every field as untrusted.
 */
struct vmproc_control {
    uint32_t turn;
    uint32_t pad0[15];
    uint32_t kind;
    uint32_t port;
    uint64_t args[3];
    uint64_t rip;
    uint64_t rsp;
    int32_t signo;
    int32_t si_code;
    uint64_t fault_addr;
    int32_t syscall_nr;
    uint32_t syscall_arch;
    uint32_t io_out;
    uint32_t io_size;
    uint64_t result;
    char message[VMPROC_MESSAGE_MAX];
    uint64_t fs_base;     /* the guest's FS base, as last set through the gate */
    uint64_t staged_addr; /* a console write's buffer, copied to the stage page ... */
    uint32_t staged_len;  /* ... when these match the call's arguments */
    /*
     * Set by the monitor: at its next turn the process unmaps its shared
     * guest memory (the pages stay), so that its pagemap shows afresh which
     * pages the guest touches (the pager's reference bits).
     */
    uint32_t forget_references;
};

_Static_assert(__builtin_offsetof(struct vmproc_control, kind) == VMPROC_CTL_KIND, "ctl kind");
_Static_assert(__builtin_offsetof(struct vmproc_control, port) == VMPROC_CTL_PORT, "ctl port");
_Static_assert(__builtin_offsetof(struct vmproc_control, args) == VMPROC_CTL_ARG0, "ctl args");
_Static_assert(__builtin_offsetof(struct vmproc_control, rip) == VMPROC_CTL_RIP, "ctl rip");
_Static_assert(__builtin_offsetof(struct vmproc_control, rsp) == VMPROC_CTL_RSP, "ctl rsp");
_Static_assert(sizeof(struct vmproc_control) <= 4096, "control fits a page");

struct vmproc_region {
    uint64_t start;
    uint64_t end;
    uint32_t prot;   /* VMPROC_PROT_* */
    uint32_t source; /* VMPROC_SOURCE_* */
    uint64_t file_offset;
};

/* Written by the monitor into the slice before the VM process starts; read once by it. */
struct vmproc_launch {
    uint32_t magic;
    uint32_t version;
    uint64_t entry;
    uint64_t slice_offset;
    uint64_t slice_size;
    uint32_t monitor_pid;
    uint32_t flags;
    uint32_t region_count;
    uint32_t pad;
    /* VMPROC_LAUNCH_RESUME: the gate's stack pointer after its call returned, and the guest's. */
    uint64_t resume_rsp;
    uint64_t resume_fs_base;
    uint64_t resume_result;
    struct vmproc_region regions[VMPROC_MAX_REGIONS];
};

_Static_assert(sizeof(struct vmproc_launch) <= 4096, "launch block fits a page");
#endif

#endif
