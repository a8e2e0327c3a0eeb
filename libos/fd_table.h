/* ilwaco's file-descriptor table, shared by sockets and files (fds 0-2 stay the console). */
#ifndef ILWACO_FD_TABLE_H
#define ILWACO_FD_TABLE_H

/* File descriptors 0-2 are the console; sockets and files take the lowest free one above. */
#define ILWACO_FD_MAX 256

struct sock;
struct open_file;

/* Gives s (or f) the lowest free fd; -EMFILE if none. */
int ilwaco_fd_install(struct sock *s);
int ilwaco_fd_install_file(struct open_file *f);
/* The socket (or file) behind fd, or NULL: a console fd, nothing, or the other kind. */
struct sock *ilwaco_fd_sock(long fd);
struct open_file *ilwaco_fd_file(long fd);
void ilwaco_fd_release(long fd);

/*
 * What descriptor calls do with a file, and the file system calls: defined
 * (files.c) only in a guest linked with files (ILWACO_FILES in libos.mk);
 * elsewhere the weak reference is NULL and no fd is ever a file.
 */
struct ilwaco_file_calls {
    long (*syscall)(long n, long a1, long a2, long a3, long a4, long a5, long a6);
    long (*read)(struct open_file *f, void *buf, unsigned long len);
    long (*write)(struct open_file *f, const void *buf, unsigned long len);
    long (*readv)(struct open_file *f, const void *iov, long iovcnt, int write);
    long (*lseek)(struct open_file *f, long offset, long whence);
    long (*fcntl)(struct open_file *f, long cmd, long arg);
    long (*fstat)(struct open_file *f, void *st);
    long (*close)(long fd, struct open_file *f);
    /* At exit: a writable file system's state goes to disk. */
    void (*unmount)(void);
};
extern const struct ilwaco_file_calls ilwaco_file_calls __attribute__((weak));

#endif
