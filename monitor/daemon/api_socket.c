/* The API's Unix socket: made with the contract's modes, refused while another daemon answers. */
#include "daemon/api_socket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_BACKLOG 128

/* mkdir -p with mode for each directory it makes. */
static int make_parents(const char *path, mode_t mode, char *err, size_t errlen)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, mode) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(dir, mode) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1 when a daemon answers at addr, 0 when the socket there is stale, -1 with err otherwise. */
static int someone_answers(const struct sockaddr_un *addr, char *err, size_t errlen)
{
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int result = connect(probe, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ? 1 : 0;
    int why = errno;
    close(probe);
    if (result == 0 && why != ECONNREFUSED && why != ENOENT) {
        snprintf(err, errlen, "%s: %s", addr->sun_path, strerror(why));
        return -1;
    }
    return result;
}

int api_socket_open(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        snprintf(err, errlen, "--api %s: a socket path has at most %zu bytes", path,
                 sizeof(addr.sun_path) - 1);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    if (make_parents(path, 0750, err, errlen) < 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            return -1;
        }
        int answers = someone_answers(&addr, err, errlen);
        if (answers < 0)
            return -1;
        if (answers) {
            snprintf(err, errlen, "another daemon answers on %s", path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* Made 0660 from the start: never a moment when anyone else could connect. */
    mode_t old_mask = umask(0117);
    int bound = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    int why = errno;
    umask(old_mask);
    if (bound < 0 || chmod(path, 0660) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(bound < 0 ? why : errno));
        close(fd);
        if (bound == 0)
            unlink(path);
        return -1;
    }
    return fd;
}
