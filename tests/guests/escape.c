/* Test guest: VM 0 tries one way out of its sandbox, chosen by argv[1]; the monitor must stop it.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "test_guest.h"

#define NAME "escape"

/*
 * Host (Linux x86-64) system call numbers, spelled out rather than taken from musl's
 * <sys/syscall.h>: they name what a guest reaching the host kernel would do, which is the point.
 */
#define HOST_WRITE    1
#define HOST_OPEN     2
#define HOST_MPROTECT 10
#define HOST_GETPID   39
#define HOST_FORK     57
#define HOST_KILL     62
/* The x32 ABI: x86-64 numbers with this bit set, a second system-call table a filter may forget. */
#define X32_BIT 0x40000000L
/* i386 numbers, reached through int 0x80 and sysenter even from 64-bit code. */
#define I386_WRITE  4
#define I386_GETPID 20

/* The legacy vsyscall page's time(); kernels emulate or drop it, a sandbox must not let it work. */
#define VSYSCALL_TIME 0xffffffffff600400UL

static const char message[] = "ESCAPED\n";

/* The argument a mode needs after its name. */
enum arg_kind { ARG_NONE, ARG_PATH, ARG_PID, ARG_ADDR };

struct escape {
    const char *name;
    enum arg_kind arg;
    /* Returns only if the act was let through (or failed without stopping the VM). */
    long (*run)(const char *arg);
};

/*
 * Host system calls made with the instruction itself: musl's syscall() goes to ilwaco, which
 * would answer it inside the guest, and the test is whether the host kernel can be reached.
 */
static long raw_syscall3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static long raw_syscall0(long nr)
{
    return raw_syscall3(nr, 0, 0, 0);
}

/* The i386 entry: a 64-bit process may still use it, with 32-bit numbers and arguments. */
static long raw_int80(long nr, long a, long b, long c)
{
    long ret;
    /* Older kernels zero r8-r11 on this path. */
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

/* Calls the code at CODE with rax = RAX; C has no portable way to call a data pointer. */
static long call_code(const void *code, long rax)
{
    long ret = rax;
    /* No red zone in guests (-mno-red-zone), so the call's push clobbers nothing of ours. */
    __asm__ volatile("call *%[code]" : "+a"(ret) : [code] "r"(code) : "rcx", "r11", "memory", "cc");
    return ret;
}

/* A file created on the host would outlive the VM: the plainest escape. */
static long escape_open(const char *path)
{
    long fd = raw_syscall3(HOST_OPEN, (long)path, O_CREAT | O_WRONLY, 0600);
    if (fd >= 0)
        raw_syscall3(HOST_WRITE, fd, (long)message, sizeof message - 1);
    return fd;
}

/* The monitor's own stdout and stderr: a guest writing there bypasses the console's prefixes. */
static long escape_write(const char *unused)
{
    (void)unused;
    long out = raw_syscall3(HOST_WRITE, 1, (long)message, sizeof message - 1);
    long err = raw_syscall3(HOST_WRITE, 2, (long)message, sizeof message - 1);
    return out < 0 ? out : err;
}

static long escape_fork(const char *unused)
{
    (void)unused;
    long pid = raw_syscall0(HOST_FORK);
    /* A child must not print or exit through the monitor, which the parent still shares. */
    if (pid == 0)
        for (;;)
            __asm__ volatile("pause");
    return pid;
}

/* The test passes the guest's own monitor (main refuses -1, 0 and 1): a failed sandbox harms no
 * one else. */
static long escape_kill(const char *pid)
{
    return raw_syscall3(HOST_KILL, strtol(pid, NULL, 10), SIGKILL, 0);
}

/* Page-aligned so mprotect covers exactly this buffer and none of the guest's other data. */
static _Alignas(4096) unsigned char data_page[4096];

/* Making data executable is how injected code would run; ret (0xc3) shows whether it did. */
static long escape_mprotect(const char *unused)
{
    (void)unused;
    long ret = raw_syscall3(HOST_MPROTECT, (long)data_page, sizeof data_page,
                            PROT_READ | PROT_WRITE | PROT_EXEC);
    if (ret != 0)
        return ret;
    data_page[0] = 0xc3;
    call_code(data_page, 0);
    return 0;
}

static long escape_int80(const char *unused)
{
    (void)unused;
    long pid = raw_int80(I386_GETPID, 0, 0, 0);
    /* The message is in the image, below 4 GiB, so its address fits the i386 argument. */
    long wrote = raw_int80(I386_WRITE, 1, (long)(uintptr_t)message, sizeof message - 1);
    return pid < 0 ? pid : wrote;
}

static long escape_x32(const char *unused)
{
    (void)unused;
    return raw_syscall0(X32_BIT | HOST_GETPID);
}

/* Readable and below 4 GiB, for the word Linux's sysenter entry reads at the caller's ebp. */
static uint32_t sysenter_stack[4];

static long escape_sysenter(const char *unused)
{
    (void)unused;
    long ret;
    /*
     * sysenter saves no return address or stack; Linux expects the caller's stack in ebp and reads
     * there before the system call, so a usable ebp lets the kernel get as far as its filter
     * (Intel). AMD CPUs refuse sysenter in 64-bit mode with #UD.
     */
    __asm__ volatile("push %%rbp\n\t"
                     "mov %[stack], %%ebp\n\t"
                     "sysenter\n\t"
                     "pop %%rbp"
                     : "=a"(ret)
                     : "a"(I386_GETPID), [stack] "r"((uint32_t)(uintptr_t)sysenter_stack)
                     : "rcx", "rdx", "r11", "memory");
    return ret;
}

/* Room for the gadget in the image's data, which is never executable. */
static unsigned char data_gadget[16];

/* Code the guest writes itself must not run: syscall; ret, in static data and then on the heap. */
static long escape_gadget(const char *unused)
{
    (void)unused;
    static const unsigned char syscall_ret[] = {0x0f, 0x05, 0xc3};
    memcpy(data_gadget, syscall_ret, sizeof syscall_ret);
    long ret = call_code(data_gadget, HOST_GETPID);
    unsigned char *heap = malloc(sizeof syscall_ret);
    if (!heap)
        return ret;
    memcpy(heap, syscall_ret, sizeof syscall_ret);
    return call_code(heap, HOST_GETPID);
}

/* A fault with no stack to report it on: the monitor must still catch it, not die with it. */
static long escape_nostack(const char *unused)
{
    (void)unused;
    __asm__ volatile("xor %%esp, %%esp\n\t"
                     "ud2"
                     :
                     :
                     : "memory");
    return 0;
}

static long escape_vsyscall(const char *unused)
{
    (void)unused;
    long ret;
    /* rdi = 0: time(NULL), so a kernel that emulates the call has no pointer to refuse. */
    __asm__ volatile("call *%[addr]"
                     : "=a"(ret)
                     : [addr] "r"(VSYSCALL_TIME), "D"(0L)
                     : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
    return ret;
}

/*
 * A clone jumps to the zygote's own call site (its address in hex), which may
 * fork: every clone has unmapped it before its first instruction, so this
 * must fault. The site takes the call number in %rdi and the flags in %rsi.
 */
static long escape_zygote(const char *addr)
{
    uintptr_t site = (uintptr_t)strtoull(addr, NULL, 16);
    long ret;
    __asm__ volatile("call *%[site]"
                     : "=a"(ret)
                     : [site] "r"(site), "D"(56L), "S"(0x8011L), "d"(0L)
                     : "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
    return ret;
}

static const struct escape escapes[] = {
    {"open", ARG_PATH, escape_open},         {"write", ARG_NONE, escape_write},
    {"fork", ARG_NONE, escape_fork},         {"kill", ARG_PID, escape_kill},
    {"mprotect", ARG_NONE, escape_mprotect}, {"int80", ARG_NONE, escape_int80},
    {"x32", ARG_NONE, escape_x32},           {"sysenter", ARG_NONE, escape_sysenter},
    {"gadget", ARG_NONE, escape_gadget},     {"nostack", ARG_NONE, escape_nostack},
    {"vsyscall", ARG_NONE, escape_vsyscall}, {"zygote", ARG_ADDR, escape_zygote},
};

static const struct escape *find_escape(const char *name)
{
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++)
        if (strcmp(escapes[i].name, name) == 0)
            return &escapes[i];
    return NULL;
}

/* Only a plain number above 1: never -1 (every process), 0 (our group) or init. */
static int valid_pid(const char *text)
{
    char *end;
    long pid = strtol(text, &end, 10);
    return end != text && *end == '\0' && text[0] != '-' && text[0] != '+' && pid > 1 &&
           pid <= INT32_MAX;
}

static int usage(void)
{
    fprintf(stderr, "usage: escape open PATH | kill MONITOR-PID | write | fork | mprotect | "
                    "int80 | x32 | sysenter | gadget | nostack | vsyscall | zygote HEX-ADDRESS\n");
    return 2;
}

int main(int argc, char **argv)
{
    started(NAME);
    const struct escape *e = argc >= 2 ? find_escape(argv[1]) : NULL;
    if (!e || argc != (e->arg == ARG_NONE ? 2 : 3))
        return usage();
    if (e->arg == ARG_PID && !valid_pid(argv[2]))
        return usage();
    return survived(NAME, e->run(argc == 3 ? argv[2] : NULL));
}
