/* ilwaco's system-call table: musl's Linux system calls arrive here as plain function calls. */
#include <errno.h>
#include <sys/syscall.h>

#include "fd_table.h"
#include "internal.h"

/* Called by musl's port (libos/musl-port/arch/x86_64/syscall_arch.h) for every system call. */
long __ilwaco_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);

/* A guest linked without files: a path names nothing, and no descriptor is a file. */
static long no_file_syscall(long n)
{
    switch (n) {
    case SYS_open:
    case SYS_openat:
    case SYS_stat:
    case SYS_lstat:
    case SYS_newfstatat:
    case SYS_access:
    case SYS_faccessat:
    case SYS_truncate:
    case SYS_mkdir:
    case SYS_mkdirat:
    case SYS_unlink:
    case SYS_unlinkat:
    case SYS_rmdir:
    case SYS_rename:
    case SYS_renameat:
    case SYS_renameat2:
        return -ENOENT;
    case SYS_pread64:
    case SYS_pwrite64:
    case SYS_ftruncate:
    case SYS_fsync:
    case SYS_fdatasync:
    case SYS_getdents64:
        return -EBADF;
    case SYS_sync:
        return 0;
    default:
        return -ENOSYS;
    }
}

long __ilwaco_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    switch (n) {
    case SYS_read:
        return ilwaco_sys_read(a1, (void *)a2, (size_t)a3);
    case SYS_readv:
        return ilwaco_sys_readv(a1, (const void *)a2, a3);
    case SYS_write:
        return ilwaco_sys_write(a1, (const void *)a2, (size_t)a3);
    case SYS_writev:
        return ilwaco_sys_writev(a1, (const void *)a2, a3);
    case SYS_ioctl:
        return ilwaco_sys_ioctl(a1, (unsigned long)a2, (void *)a3);
    case SYS_close:
        return ilwaco_sys_close(a1);
    case SYS_lseek:
        return ilwaco_sys_lseek(a1, a2, a3);
    case SYS_fcntl:
        return ilwaco_sys_fcntl(a1, a2, a3);
    case SYS_fstat:
        return ilwaco_sys_fstat(a1, (void *)a2);

    case SYS_socket:
        return ilwaco_sys_socket(a1, a2, a3);
    case SYS_bind:
        return ilwaco_sys_bind(a1, (const void *)a2, a3);
    case SYS_listen:
        return ilwaco_sys_listen(a1, a2);
    case SYS_accept:
        return ilwaco_sys_accept4(a1, (void *)a2, (void *)a3, 0);
    case SYS_accept4:
        return ilwaco_sys_accept4(a1, (void *)a2, (void *)a3, a4);
    case SYS_connect:
        return ilwaco_sys_connect(a1, (const void *)a2, a3);
    case SYS_shutdown:
        return ilwaco_sys_shutdown(a1, a2);
    case SYS_getsockname:
        return ilwaco_sys_getsockname(a1, (void *)a2, (void *)a3);
    case SYS_getpeername:
        return ilwaco_sys_getpeername(a1, (void *)a2, (void *)a3);
    case SYS_sendto:
        return ilwaco_sys_sendto(a1, (const void *)a2, (size_t)a3, a4, (const void *)a5, a6);
    case SYS_recvfrom:
        return ilwaco_sys_recvfrom(a1, (void *)a2, (size_t)a3, a4, (void *)a5, (void *)a6);
    case SYS_sendmsg:
        return ilwaco_sys_sendmsg(a1, (const void *)a2, a3);
    case SYS_recvmsg:
        return ilwaco_sys_recvmsg(a1, (void *)a2, a3);
    case SYS_setsockopt:
        return ilwaco_sys_setsockopt(a1, a2, a3, (const void *)a4, a5);
    case SYS_getsockopt:
        return ilwaco_sys_getsockopt(a1, a2, a3, (void *)a4, (void *)a5);
    case SYS_socketpair:
        return -EOPNOTSUPP;
    case SYS_poll:
        return ilwaco_sys_poll((void *)a1, (unsigned long)a2, a3);
    case SYS_ppoll:
        return ilwaco_sys_ppoll((void *)a1, (unsigned long)a2, (const void *)a3);
    case SYS_select:
        return ilwaco_sys_select(a1, (void *)a2, (void *)a3, (void *)a4, (void *)a5);
    case SYS_pselect6:
        return ilwaco_sys_pselect6(a1, (void *)a2, (void *)a3, (void *)a4, (const void *)a5);

    case SYS_clock_gettime:
        return ilwaco_sys_clock_gettime(a1, (void *)a2);
    case SYS_clock_getres:
        return ilwaco_sys_clock_getres(a1, (void *)a2);
    case SYS_gettimeofday:
        return ilwaco_sys_gettimeofday((void *)a1);
    case SYS_time:
        return ilwaco_sys_time((void *)a1);
    case SYS_nanosleep:
        return ilwaco_sys_nanosleep((const void *)a1);
    case SYS_clock_nanosleep:
        return ilwaco_sys_clock_nanosleep(a1, a2, (const void *)a3);
    case SYS_sched_yield:
        return ilwaco_sys_sched_yield();

    case SYS_mmap:
        return ilwaco_sys_mmap((uintptr_t)a1, (size_t)a2, a3, a4, a5);
    case SYS_munmap:
        return ilwaco_sys_munmap((uintptr_t)a1, (size_t)a2);
    case SYS_mprotect:
        return ilwaco_sys_mprotect((uintptr_t)a1, (size_t)a2, a3);
    case SYS_madvise:
        return ilwaco_sys_madvise((uintptr_t)a1, (size_t)a2, a3);
    case SYS_mremap:
        /* musl's realloc then falls back to allocate, copy and free. */
        return -ENOMEM;
    case SYS_brk:
        /* A break that never moves sends musl's malloc to mmap, the one heap allocator. */
        return 0;

    case SYS_exit:
    case SYS_exit_group:
        ilwaco_sys_exit(a1);
    case SYS_set_tid_address:
    case SYS_getpid:
    case SYS_gettid:
        /* One VM, one process, one thread. */
        return 1;
    case SYS_getppid:
    case SYS_getuid:
    case SYS_geteuid:
    case SYS_getgid:
    case SYS_getegid:
        return 0;
    case SYS_uname:
        return ilwaco_sys_uname((void *)a1);
    case SYS_kill:
    case SYS_tkill:
        return ilwaco_sys_kill(a1, a2);
    case SYS_tgkill:
        return ilwaco_sys_kill(a2, a3);
    case SYS_rt_sigprocmask:
        return ilwaco_sys_sigprocmask((void *)a3, (size_t)a4);
    case SYS_rt_sigaction:
        return ilwaco_sys_sigaction((void *)a3, (size_t)a4);
    case SYS_getrandom:
        return ilwaco_sys_getrandom((void *)a1, (size_t)a2);

    default:
        /*
         * Files exist only in guests linked with them (ILWACO_FILES in
         * libos.mk), which costs some 250 KiB of libext2fs; to the others a
         * path names nothing, as in a VM without a disk.
         */
        if (&ilwaco_file_calls)
            return ilwaco_file_calls.syscall(n, a1, a2, a3, a4, a5, a6);
        return no_file_syscall(n);
    }
}
