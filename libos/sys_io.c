/* ilwaco's file-descriptor calls: fds 0-2 are the VM console, the rest are sockets (socket.h) or
 * files (fs.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "fd_table.h"
#include "internal.h"
#include "socket.h"

static int is_console(long fd)
{
    return fd >= 0 && fd <= 2;
}

/* Maps a refused console write to what a Linux write would say. */
static long console_result(long r)
{
    if (r >= 0)
        return r;
    return r == -DENALI_EINVAL ? -EFAULT : -EIO;
}

long ilwaco_sys_read(long fd, void *buf, size_t len)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (s) {
        struct iovec iov = {buf, len};
        return ilwaco_sock_recv_iov(s, &iov, 1, 0, NULL, NULL, NULL);
    }
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.read(f, buf, len);
    /* The console has no input yet: stdin is always at end of file. */
    if (fd == 0)
        return 0;
    return -EBADF;
}

long ilwaco_sys_readv(long fd, const void *iov, long iovcnt)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (s)
        return ilwaco_sock_recv_iov(s, iov, iovcnt, 0, NULL, NULL, NULL);
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.readv(f, iov, iovcnt, 0);
    return fd == 0 ? 0 : -EBADF;
}

long ilwaco_sys_write(long fd, const void *buf, size_t len)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (s) {
        struct iovec iov = {(void *)buf, len};
        return ilwaco_sock_send_iov(s, &iov, 1, 0, NULL, 0);
    }
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.write(f, buf, len);
    if (fd != 1 && fd != 2)
        return -EBADF;
    if (len == 0)
        return 0;
    return console_result(ilwaco_console_write(buf, len));
}

/*
 * stdio hands over its buffer and the new data as two pieces; gathering
 * them costs a copy but saves an exit, and exits are what is expensive.
 */
static char gather[DENALI_CONSOLE_MAX];

long ilwaco_sys_writev(long fd, const void *iov_arg, long iovcnt)
{
    const struct iovec *iov = iov_arg;
    size_t used = 0;
    long total = 0;

    struct sock *s = ilwaco_fd_sock(fd);
    if (s)
        return ilwaco_sock_send_iov(s, iov, iovcnt, 0, NULL, 0);
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.readv(f, iov, iovcnt, 1);
    if (fd != 1 && fd != 2)
        return -EBADF;
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return -EINVAL;

    for (long i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        while (len > 0) {
            if (used == 0 && len >= sizeof(gather)) {
                /* Big pieces go straight out, without the copy. */
                long r = ilwaco_console_write(p, len);
                if (r < 0)
                    return total ? total : console_result(r);
                total += r;
                if ((size_t)r < len)
                    return total;
                len = 0;
                continue;
            }
            size_t n = sizeof(gather) - used;
            if (n > len)
                n = len;
            memcpy(gather + used, p, n);
            used += n;
            p += n;
            len -= n;
            if (used == sizeof(gather)) {
                long r = ilwaco_console_write(gather, used);
                if (r < 0)
                    return total ? total : console_result(r);
                total += r;
                used = 0;
            }
        }
    }
    if (used > 0) {
        long r = ilwaco_console_write(gather, used);
        if (r < 0)
            return total ? total : console_result(r);
        total += r;
    }
    return total;
}

long ilwaco_sys_ioctl(long fd, unsigned long req, void *arg)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (s)
        return ilwaco_sock_ioctl(s, req, arg);
    if (ilwaco_fd_file(fd))
        return -ENOTTY;
    /*
     * The console is not a terminal: stdout is then fully buffered and a
     * whole buffer leaves in one exit instead of one exit per line.
     */
    return is_console(fd) ? -ENOTTY : -EBADF;
}

long ilwaco_sys_close(long fd)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (s) {
        ilwaco_fd_release(fd);
        return ilwaco_sock_close(s);
    }
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.close(fd, f);
    return is_console(fd) ? 0 : -EBADF;
}

long ilwaco_sys_lseek(long fd, long offset, long whence)
{
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.lseek(f, offset, whence);
    return is_console(fd) || ilwaco_fd_sock(fd) ? -ESPIPE : -EBADF;
}

long ilwaco_sys_fcntl(long fd, long cmd, long arg)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (s)
        return ilwaco_sock_fcntl(s, cmd, arg);
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.fcntl(f, cmd, arg);
    if (!is_console(fd))
        return -EBADF;
    switch (cmd) {
    case F_GETFD:
    case F_SETFD:
    case F_SETFL:
        return 0;
    case F_GETFL:
        return fd == 0 ? O_RDONLY : O_WRONLY;
    default:
        return -EINVAL;
    }
}

long ilwaco_sys_fstat(long fd, void *st)
{
    struct open_file *f = ilwaco_fd_file(fd);
    if (f)
        return ilwaco_file_calls.fstat(f, st);
    if (!is_console(fd) && !ilwaco_fd_sock(fd))
        return -EBADF;
    struct stat *out = st;
    memset(out, 0, sizeof *out);
    out->st_mode = is_console(fd) ? S_IFCHR | 0620 : S_IFSOCK | 0777;
    out->st_nlink = 1;
    out->st_blksize = DENALI_CONSOLE_MAX;
    return 0;
}
