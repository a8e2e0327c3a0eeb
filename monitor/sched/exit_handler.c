/* Turns one normalised VM exit into a decision: resume, idle, exit or stop (no KVM, testable). */
#include "sched/exit_handler.h"

#include <linux/audit.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PORT_RANGE 256u

static void vstop(struct vm_decision *d, const char *fmt, va_list ap)
{
    d->action = ACTION_STOP;
    vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
}

__attribute__((format(printf, 2, 3))) static void stop(struct vm_decision *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vstop(d, fmt, ap);
    va_end(ap);
}

static void resume(struct vm_decision *d, uint64_t result)
{
    d->action = ACTION_RESUME;
    d->result = result;
}

void exit_decision_resume(struct vm_decision *decision, uint64_t result)
{
    resume(decision, result);
}

void exit_decision_stop(struct vm_decision *decision, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vstop(decision, fmt, ap);
    va_end(ap);
}

static void console_write_call(struct vm *vm, const struct vm_exit *e, struct vm_decision *d)
{
    uint64_t addr = e->args[0];
    uint64_t len = e->args[1];
    /* The pointer is judged first: a bad one stops the VM whatever its length. */
    if (!guest_range_ok(&vm->mem, addr, len, false)) {
        stop(d, "console write: bad buffer 0x%lx+%lu at rip 0x%lx", (unsigned long)addr,
             (unsigned long)len, (unsigned long)e->rip);
        return;
    }
    if (len > DENALI_CONSOLE_MAX) {
        resume(d, (uint64_t)-DENALI_EINVAL);
        return;
    }
    char buf[DENALI_CONSOLE_MAX];
    if (e->staged)
        memcpy(buf, e->staged, len);
    else
        guest_copy_in(&vm->mem, buf, addr, len);
    console_write(vm->console, vm->id, &vm->console_line, buf, len);
    resume(d, len);
}

/*
 * A hypercall made through the gate stops inside it; the reason should
 * name the guest's own code, so take the return address the call pushed.
 */
static uint64_t caller_rip(const struct vm *vm, const struct vm_exit *e)
{
    uint64_t ret;
    if (e->rip >= DENALI_GATE_ADDR && e->rip < DENALI_GATE_ADDR + DENALI_PAGE_SIZE &&
        guest_copy_in(&vm->mem, &ret, e->rsp, sizeof(ret)) == 0)
        return ret;
    return e->rip;
}

static void hypercall(struct vm *vm, const struct vm_exit *e, struct vm_decision *d)
{
    uint32_t nr = e->port - DENALI_PORT_BASE;
    switch (nr) {
    case DENALI_HC_NOP:
        resume(d, 0);
        break;
    case DENALI_HC_EXIT:
        d->action = ACTION_EXIT;
        d->status = (int)(int32_t)e->args[0];
        break;
    case DENALI_HC_CONSOLE_WRITE:
        console_write_call(vm, e, d);
        break;
    case DENALI_HC_IDLE:
        if (e->args[1] & ~(uint64_t)DENALI_IDLE_FLAGS) {
            resume(d, (uint64_t)-DENALI_EINVAL);
            break;
        }
        d->action = ACTION_IDLE;
        d->deadline = e->args[0];
        d->idle_flags = (uint32_t)e->args[1];
        break;
    case DENALI_HC_READY:
        d->action = ACTION_READY;
        break;
    case DENALI_HC_BALLOON: {
        uint64_t addr = e->args[0], len = e->args[1];
        /* Only memory the guest could write itself: never its image's file pages. */
        if (len == 0 || addr % DENALI_PAGE_SIZE || len % DENALI_PAGE_SIZE ||
            !guest_range_ok(&vm->mem, addr, len, true)) {
            stop(d, "balloon: bad range 0x%lx+%lu at rip 0x%lx", (unsigned long)addr,
                 (unsigned long)len, (unsigned long)e->rip);
            break;
        }
        d->action = ACTION_RELEASE;
        d->release_gpa = addr;
        d->release_len = len;
        break;
    }
    case DENALI_HC_SET_FS_BASE:
        /* The guest's own wrfsbase works under kvm (CR4.FSGSBASE is set for it). */
        resume(d, 0);
        break;
    default:
        if (vm_devices_hypercall(vm->devices, vm, nr, e, d))
            break;
        /* A VM with no NIC (--net none) or no disk may still ask: there is none to attach or kick.
         */
        if (nr == DENALI_HC_NET_ATTACH || nr == DENALI_HC_BLK_ATTACH)
            resume(d, (uint64_t)-DENALI_ENODEV);
        else if (nr == DENALI_HC_NET_KICK || nr == DENALI_HC_BLK_KICK)
            resume(d, 0);
        else
            stop(d, "unknown hypercall %u at rip 0x%lx", nr, (unsigned long)e->rip);
        break;
    }
}

static void port_io(struct vm *vm, const struct vm_exit *exit, struct vm_decision *d)
{
    struct vm_exit caller = *exit;
    caller.rip = caller_rip(vm, exit);
    const struct vm_exit *e = &caller;
    if (e->port < DENALI_PORT_BASE || e->port >= DENALI_PORT_BASE + PORT_RANGE) {
        stop(d, "%s of unknown port 0x%x at rip 0x%lx", e->io_out ? "write" : "read", e->port,
             (unsigned long)e->rip);
        return;
    }
    /* A hypercall is exactly one single-byte out; anything else is malformed. */
    if (!e->io_out || e->io_size != 1 || e->io_count != 1) {
        stop(d, "malformed hypercall I/O on port 0x%x at rip 0x%lx", e->port,
             (unsigned long)e->rip);
        return;
    }
    hypercall(vm, e, d);
}

static void mmio(struct vm *vm, const struct vm_exit *e, struct vm_decision *d)
{
    const struct guest_layout *layout = vm->mem.layout;
    for (unsigned i = 0; i < layout->slot_count; i++) {
        const struct guest_slot *s = &layout->slots[i];
        if (s->from_file && e->mmio_addr >= s->gpa && e->mmio_addr - s->gpa < s->size) {
            stop(d, "write to read-only memory at 0x%lx", (unsigned long)e->mmio_addr);
            return;
        }
    }
    stop(d, "%s of unbacked guest-physical address 0x%lx", e->mmio_write ? "write" : "read",
         (unsigned long)e->mmio_addr);
}

static const char *const syscall_names[] = {
    [0] = "read",          [1] = "write",
    [2] = "open",          [3] = "close",
    [9] = "mmap",          [10] = "mprotect",
    [11] = "munmap",       [12] = "brk",
    [13] = "rt_sigaction", [14] = "rt_sigprocmask",
    [15] = "rt_sigreturn", [39] = "getpid",
    [41] = "socket",       [42] = "connect",
    [56] = "clone",        [57] = "fork",
    [58] = "vfork",        [59] = "execve",
    [60] = "exit",         [61] = "wait4",
    [62] = "kill",         [101] = "ptrace",
    [110] = "getppid",     [157] = "prctl",
    [158] = "arch_prctl",  [200] = "tkill",
    [201] = "time",        [202] = "futex",
    [231] = "exit_group",  [234] = "tgkill",
    [257] = "openat",      [317] = "seccomp",
    [322] = "execveat",    [425] = "io_uring_setup",
    [435] = "clone3",
};

#define X32_SYSCALL_BIT 0x40000000u

static void forbidden_syscall(const struct vm_exit *e, struct vm_decision *d)
{
    unsigned long rip = (unsigned long)e->rip;
    uint32_t nr = (uint32_t)e->syscall_nr;
    if (e->syscall_arch == AUDIT_ARCH_I386) {
        stop(d, "i386 system call %u at rip 0x%lx", nr, rip);
    } else if (e->syscall_arch != AUDIT_ARCH_X86_64) {
        stop(d, "system call %u of architecture 0x%x at rip 0x%lx", nr, e->syscall_arch, rip);
    } else if (nr & X32_SYSCALL_BIT) {
        stop(d, "x32 system call 0x%x at rip 0x%lx", nr, rip);
    } else if (nr < sizeof(syscall_names) / sizeof(syscall_names[0]) && syscall_names[nr]) {
        stop(d, "system call %u (%s) at rip 0x%lx", nr, syscall_names[nr], rip);
    } else {
        stop(d, "system call %u at rip 0x%lx", nr, rip);
    }
}

/* The process platform's faults, worded like kvm's: what the CPU said, where, and about what. */
static void fault(const struct vm_exit *e, struct vm_decision *d)
{
    const char *what;
    switch (e->signo) {
    case SIGSYS:
        forbidden_syscall(e, d);
        return;
    case SIGSEGV:
        what = e->si_code == SI_KERNEL ? "general protection, SIGSEGV" : "page fault, SIGSEGV";
        break;
    case SIGBUS:
        what = "bus error, SIGBUS";
        break;
    case SIGFPE:
        what = "divide error, SIGFPE";
        break;
    case SIGILL:
        what = "invalid opcode, SIGILL";
        break;
    case SIGTRAP:
        what = "breakpoint, SIGTRAP";
        break;
    default:
        stop(d, "stopped by signal %d at rip 0x%lx", e->signo, (unsigned long)e->rip);
        return;
    }
    stop(d, "CPU exception (%s) at rip 0x%lx, cr2 0x%lx", what, (unsigned long)e->rip,
         (unsigned long)e->cr2);
}

/* kvm's exceptions, named as the process platform names the signals they become. */
static void exception(const struct vm_exit *e, struct vm_decision *d)
{
    static const char *const names[] = {
        [0] = "divide error, #DE",
        [1] = "debug, #DB",
        [2] = "NMI",
        [3] = "breakpoint, #BP",
        [4] = "overflow, #OF",
        [5] = "bound range, #BR",
        [6] = "invalid opcode, #UD",
        [7] = "device not available, #NM",
        [8] = "double fault, #DF",
        [10] = "invalid TSS, #TS",
        [11] = "segment not present, #NP",
        [12] = "stack fault, #SS",
        [13] = "general protection, #GP",
        [14] = "page fault, #PF",
        [16] = "x87 error, #MF",
        [17] = "alignment check, #AC",
        [18] = "machine check, #MC",
        [19] = "SIMD error, #XM",
        [20] = "virtualization, #VE",
        [21] = "control protection, #CP",
    };
    const char *name = e->vector < sizeof(names) / sizeof(names[0]) ? names[e->vector] : NULL;
    if (name)
        stop(d, "CPU exception (%s) at rip 0x%lx, cr2 0x%lx", name, (unsigned long)e->rip,
             (unsigned long)e->cr2);
    else
        stop(d, "CPU exception (vector %u) at rip 0x%lx, cr2 0x%lx", e->vector,
             (unsigned long)e->rip, (unsigned long)e->cr2);
}

void exit_handler_decide(struct vm *vm, const struct vm_exit *exit, struct vm_decision *decision)
{
    memset(decision, 0, sizeof(*decision));
    switch (exit->kind) {
    case VM_EXIT_IO:
        port_io(vm, exit, decision);
        break;
    case VM_EXIT_MMIO:
        mmio(vm, exit, decision);
        break;
    case VM_EXIT_INTERRUPTED:
        decision->action = ACTION_YIELD;
        break;
    case VM_EXIT_EXCEPTION:
        exception(exit, decision);
        break;
    case VM_EXIT_SHUTDOWN:
        stop(decision, "CPU exception (triple fault) at rip 0x%lx, cr2 0x%lx",
             (unsigned long)exit->rip, (unsigned long)exit->cr2);
        break;
    case VM_EXIT_HALT:
        stop(decision, "halted at rip 0x%lx", (unsigned long)exit->rip);
        break;
    case VM_EXIT_FAILED:
        if (exit->detail[0])
            stop(decision, "%.*s", (int)sizeof(exit->detail), exit->detail);
        else
            stop(decision, "KVM could not run the vCPU (code %u)", exit->reason);
        break;
    case VM_EXIT_FAULT:
        fault(exit, decision);
        break;
    case VM_EXIT_UNEXPECTED:
    default:
        stop(decision, "unexpected exit %u at rip 0x%lx", exit->reason, (unsigned long)exit->rip);
        break;
    }
}
