/* Files in a guest: the system calls and descriptor operations that link libext2fs in (ILWACO_FILES
 * in libos.mk). */
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include "fd_table.h"
#include "fs.h"
#include "internal.h"

static long file_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    (void)a6;
    switch (n) {
    case SYS_open:
        return ilwaco_sys_open((const char *)a1, a2, a3);
    case SYS_openat:
        return ilwaco_sys_openat(a1, (const char *)a2, a3, a4);
    case SYS_pread64:
        return ilwaco_sys_pread(a1, (void *)a2, (size_t)a3, a4);
    case SYS_pwrite64:
        return ilwaco_sys_pwrite(a1, (const void *)a2, (size_t)a3, a4);
    case SYS_stat:
        return ilwaco_sys_fstatat(AT_FDCWD, (const char *)a1, (void *)a2, 0);
    case SYS_lstat:
        return ilwaco_sys_fstatat(AT_FDCWD, (const char *)a1, (void *)a2, AT_SYMLINK_NOFOLLOW);
    case SYS_newfstatat:
        return ilwaco_sys_fstatat(a1, (const char *)a2, (void *)a3, a4);
    case SYS_access:
        return ilwaco_sys_faccessat(AT_FDCWD, (const char *)a1, a2);
    case SYS_faccessat:
        return ilwaco_sys_faccessat(a1, (const char *)a2, a3);
    case SYS_ftruncate:
        return ilwaco_sys_ftruncate(a1, a2);
    case SYS_truncate:
        return ilwaco_sys_truncate((const char *)a1, a2);
    case SYS_fsync:
    case SYS_fdatasync:
        return ilwaco_sys_fsync(a1);
    case SYS_sync:
        return ilwaco_sys_sync();
    case SYS_getdents64:
        return ilwaco_sys_getdents64(a1, (void *)a2, (size_t)a3);
    case SYS_mkdir:
        return ilwaco_sys_mkdir((const char *)a1, a2);
    case SYS_mkdirat:
        return ilwaco_sys_mkdirat(a1, (const char *)a2, a3);
    case SYS_unlink:
        return ilwaco_sys_unlink((const char *)a1);
    case SYS_unlinkat:
        return ilwaco_sys_unlinkat(a1, (const char *)a2, a3);
    case SYS_rmdir:
        return ilwaco_sys_rmdir((const char *)a1);
    case SYS_rename:
        return ilwaco_sys_renameat2(AT_FDCWD, (const char *)a1, AT_FDCWD, (const char *)a2, 0);
    case SYS_renameat:
        return ilwaco_sys_renameat2(a1, (const char *)a2, a3, (const char *)a4, 0);
    case SYS_renameat2:
        return ilwaco_sys_renameat2(a1, (const char *)a2, a3, (const char *)a4, a5);
    case SYS_getcwd:
        /* There is no chdir: the working directory is always the root. */
        if (a2 < 2)
            return -ERANGE;
        ((char *)a1)[0] = '/';
        ((char *)a1)[1] = '\0';
        return 2;
    default:
        return -ENOSYS;
    }
}

/* The one symbol a guest's link asks for (-u) to have files; syscall.c reaches the rest through it.
 */
const struct ilwaco_file_calls ilwaco_file_calls = {
    .syscall = file_syscall,
    .read = ilwaco_file_read,
    .write = ilwaco_file_write,
    .readv = ilwaco_file_readv,
    .lseek = ilwaco_file_lseek,
    .fcntl = ilwaco_file_fcntl,
    .fstat = ilwaco_file_fstat,
    .close = ilwaco_file_close,
    .unmount = ilwaco_fs_unmount,
};
