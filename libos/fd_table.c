/* ilwaco's file-descriptor table: each fd above the console holds a socket or an open file. */
#include <errno.h>
#include <stddef.h>

#include "fd_table.h"

struct fd_slot {
    struct sock *sock;
    struct open_file *file;
};

static struct fd_slot fds[ILWACO_FD_MAX];

static int install(struct sock *s, struct open_file *f)
{
    for (int fd = 3; fd < ILWACO_FD_MAX; fd++) {
        if (!fds[fd].sock && !fds[fd].file) {
            fds[fd].sock = s;
            fds[fd].file = f;
            return fd;
        }
    }
    return -EMFILE;
}

int ilwaco_fd_install(struct sock *s)
{
    return install(s, NULL);
}

int ilwaco_fd_install_file(struct open_file *f)
{
    return install(NULL, f);
}

struct sock *ilwaco_fd_sock(long fd)
{
    if (fd < 3 || fd >= ILWACO_FD_MAX)
        return NULL;
    return fds[fd].sock;
}

struct open_file *ilwaco_fd_file(long fd)
{
    if (fd < 3 || fd >= ILWACO_FD_MAX)
        return NULL;
    return fds[fd].file;
}

void ilwaco_fd_release(long fd)
{
    if (fd >= 3 && fd < ILWACO_FD_MAX)
        fds[fd] = (struct fd_slot){NULL, NULL};
}
