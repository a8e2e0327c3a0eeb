/* The process idle_procs spawns: maps its slice, locks itself down, then idles in futex waits. */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* Shared with idle_procs.c: where things are and what the word says. */
#define RAM_FD      3
#define SLICE_SIZE  (2ull << 20)
#define WORD_OFFSET 0x1000u /* the futex word, in the slice's second page */
#define TOUCH_PAGES 8u
#define PAGE_SIZE   4096u
#define WORD_SETUP  0u
#define WORD_READY  1u
#define WORD_EXIT   UINT32_MAX

#define SIGKILL 9

/*
 * No libc: like the monitor's VM-process program, a static freestanding binary, so that what
 * is measured is the kernel's work for a process, not a C library's start-up.
 */
static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static long sys3(long nr, long a, long b, long c)
{
    return sys6(nr, a, b, c, 0, 0, 0);
}

__attribute__((noreturn)) static void die(int code)
{
    for (;;)
        sys3(SYS_exit_group, code, 0, 0);
}

/* memcpy and memset, for the copies the compiler emits, are vmproc_libc.c's. */

static int parse_hex(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (*s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

#define LOAD(off)      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, jt, jf) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (jt), (jf))
#define JSET(k, jt)    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (k), (jt), 0)
#define RET(v)         BPF_STMT(BPF_RET | BPF_K, (v))
#define ARG_LO(i)      (offsetof(struct seccomp_data, args) + (i)*8u)
#define ARG_HI(i)      (offsetof(struct seccomp_data, args) + (i)*8u + 4u)

/*
 * A small filter of the kind a VM process carries: x86-64 only and no x32 numbers; exit,
 * exit_group, and futex WAIT/WAKE on this process's own word (address pinned); anything else
 * kills the process. Jumps count instructions to skip: 14 kills, 15 allows.
 */
static long load_filter(uint64_t word)
{
    struct sock_filter code[] = {
        /* 0 */ LOAD(offsetof(struct seccomp_data, arch)),
        /* 1 */ JEQ(AUDIT_ARCH_X86_64, 0, 12),
        /* 2 */ LOAD(offsetof(struct seccomp_data, nr)),
        /* 3 */ JSET(0x40000000u, 10),
        /* 4 */ JEQ(SYS_exit_group, 10, 0),
        /* 5 */ JEQ(SYS_exit, 9, 0),
        /* 6 */ JEQ(SYS_futex, 0, 7),
        /* 7 */ LOAD(ARG_HI(0)),
        /* 8 */ JEQ((uint32_t)(word >> 32), 0, 5),
        /* 9 */ LOAD(ARG_LO(0)),
        /* 10 */ JEQ((uint32_t)word, 0, 3),
        /* 11 */ LOAD(ARG_LO(1)),
        /* 12 */ JEQ(FUTEX_WAIT, 2, 0),
        /* 13 */ JEQ(FUTEX_WAKE, 1, 0),
        /* 14 */ RET(SECCOMP_RET_KILL_PROCESS),
        /* 15 */ RET(SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    if (sys3(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0) < 0)
        return -1;
    return sys3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog);
}

/* argv[1]: the slice's offset in the memfd, in hex, as the monitor hands its VM processes. */
__attribute__((noreturn, used)) void child_main(long *initial_stack)
{
    long argc = initial_stack[0];
    char **argv = (char **)(initial_stack + 1);
    uint64_t offset;
    if (argc != 2 || parse_hex(argv[1], &offset) < 0)
        die(2);
    /* The spawning thread lives as long as we should: if it goes, so do we. */
    if (sys3(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0) < 0)
        die(3);
    long slice = sys6(SYS_mmap, 0, (long)SLICE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, RAM_FD,
                      (long)offset);
    if (slice < 0)
        die(4);
    sys3(SYS_close, RAM_FD, 0, 0);
    for (unsigned p = 0; p < TOUCH_PAGES; p++)
        ((volatile uint8_t *)slice)[p * PAGE_SIZE + 8] = 1;
    volatile uint32_t *word = (volatile uint32_t *)(slice + WORD_OFFSET);
    if (load_filter((uint64_t)(uintptr_t)word) < 0)
        die(5);
    __atomic_store_n(word, WORD_READY, __ATOMIC_SEQ_CST);
    sys3(SYS_futex, (long)word, FUTEX_WAKE, 1);
    uint32_t v;
    while ((v = __atomic_load_n(word, __ATOMIC_SEQ_CST)) != WORD_EXIT)
        sys6(SYS_futex, (long)word, FUTEX_WAIT, v, 0, 0, 0);
    die(0);
}

/* The entry point: hands the initial stack (argc, argv...) to child_main, 16-byte aligned. */
__asm__(".globl _start\n"
        "_start:\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call child_main\n"
        "    hlt\n");
