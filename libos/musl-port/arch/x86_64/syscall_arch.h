/* ilwaco port of musl's x86_64 system-call layer: each system call is a plain call into ilwaco. */

/*
 * A Denali guest runs at CPL 3 with no kernel beneath it, so the `syscall`
 * instruction has nowhere to go. ilwaco implements the calls musl needs in
 * user space; the only way out of the VM is ilwaco's hypercalls.
 */
long __ilwaco_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);

#define __SYSCALL_LL_E(x) (x)
#define __SYSCALL_LL_O(x) (x)

static __inline long __syscall0(long n)
{
    return __ilwaco_syscall(n, 0, 0, 0, 0, 0, 0);
}

static __inline long __syscall1(long n, long a1)
{
    return __ilwaco_syscall(n, a1, 0, 0, 0, 0, 0);
}

static __inline long __syscall2(long n, long a1, long a2)
{
    return __ilwaco_syscall(n, a1, a2, 0, 0, 0, 0);
}

static __inline long __syscall3(long n, long a1, long a2, long a3)
{
    return __ilwaco_syscall(n, a1, a2, a3, 0, 0, 0);
}

static __inline long __syscall4(long n, long a1, long a2, long a3, long a4)
{
    return __ilwaco_syscall(n, a1, a2, a3, a4, 0, 0);
}

static __inline long __syscall5(long n, long a1, long a2, long a3, long a4, long a5)
{
    return __ilwaco_syscall(n, a1, a2, a3, a4, a5, 0);
}

static __inline long __syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    return __ilwaco_syscall(n, a1, a2, a3, a4, a5, a6);
}

/* No vDSO in a guest: clock_gettime must reach ilwaco, which reads the virtual registers. */

#define IPC_64 0
