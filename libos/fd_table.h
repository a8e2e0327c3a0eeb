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

#endif
