/* Helpers shared by the network guests: time, sockets, argument parsing, the echo/discard engine.
 */
#include "net_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef DENALI_GUEST
#include <ilwaco.h>
#endif

/* Native builds must not die of SIGPIPE; ilwaco has no signals and may not know the flag. */
#ifdef DENALI_GUEST
#define SEND_FLAGS 0
#else
#define SEND_FLAGS MSG_NOSIGNAL
#endif

#define STREAM_BUF_SIZE 8192u /* small: lanpeer must fit a 2 MiB VM beside lwIP */

uint64_t net_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

void net_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int net_set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void net_set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int net_listen(uint16_t port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_ANY),
    };
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, backlog) < 0 ||
        net_set_nonblocking(fd) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int net_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    uint64_t value = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned digit = (unsigned)(*s - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return -1;
        value = value * 10 + digit;
    }
    if (value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

int net_parse_port(const char *s, uint16_t *out)
{
    uint64_t value;
    if (net_parse_u64(s, 1, 65535, &value) < 0)
        return -1;
    *out = (uint16_t)value;
    return 0;
}

void net_format_ipv4(uint32_t ipv4_be, char *buf, size_t len)
{
    struct in_addr addr = {.s_addr = ipv4_be};
    if (inet_ntop(AF_INET, &addr, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
}

struct net_identity net_identity(void)
{
    struct net_identity id = {0};
#ifdef DENALI_GUEST
    const volatile struct denali_vregs *v = ilwaco_vregs();
    id.in_vm = true;
    id.vm_id = v->vm_id;
    id.vm_count = v->vm_count;
    id.ipv4_be = v->ipv4;
#endif
    return id;
}

void net_print_listening(const char *prog, uint16_t port, const char *suffix)
{
    struct net_identity id = net_identity();
    char ip[INET_ADDRSTRLEN];
    net_format_ipv4(id.ipv4_be, ip, sizeof ip);
    if (id.in_vm)
        printf("%s: VM %u listening on %s:%u%s\n", prog, id.vm_id, ip, (unsigned)port, suffix);
    else
        printf("%s: listening on %s:%u%s\n", prog, ip, (unsigned)port, suffix);
    fflush(stdout);
}

/* ---- The echo/discard engine ---- */

struct stream_conn {
    int fd;
    enum stream_mode mode;
    bool peer_done; /* the peer sent EOF: flush what is left, then close */
    size_t off;     /* pending echo bytes live in buf[off, off + len) */
    size_t len;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint8_t buf[STREAM_BUF_SIZE];
};

void stream_server_init(struct stream_server *s, size_t cap, stream_closed_fn on_closed, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->conn_cap = cap;
    s->on_closed = on_closed;
    s->ctx = ctx;
}

void *net_calloc_shrinking(size_t *count, size_t min_count, size_t size)
{
    for (size_t n = *count; n >= min_count && n > 0; n /= 2) {
        void *p = calloc(n, size);
        if (p != NULL) {
            *count = n;
            return p;
        }
    }
    return NULL;
}

size_t stream_server_reserve(struct stream_server *s, size_t min_cap)
{
    s->conns = net_calloc_shrinking(&s->conn_cap, min_cap, sizeof *s->conns);
    if (s->conns == NULL)
        return 0;
    s->pollfds = calloc(s->conn_cap + 2, sizeof *s->pollfds);
    if (s->pollfds == NULL) {
        free(s->conns);
        s->conns = NULL;
        return 0;
    }
    return s->conn_cap;
}

int stream_server_listen(struct stream_server *s, uint16_t port, enum stream_mode mode)
{
    if (s->listeners == sizeof s->listen_fd / sizeof s->listen_fd[0]) {
        errno = EMFILE;
        return -1;
    }
    int fd = net_listen(port, 128);
    if (fd < 0)
        return -1;
    s->listen_fd[s->listeners] = fd;
    s->listen_mode[s->listeners] = mode;
    s->listeners++;
    return 0;
}

/* Closes connection i and moves the last one into its slot. */
static void stream_close(struct stream_server *s, size_t i, bool clean)
{
    struct stream_conn *c = &s->conns[i];
    close(c->fd);
    if (s->on_closed != NULL)
        s->on_closed(s->ctx, c->mode, c->bytes_in, c->bytes_out, clean);
    s->conn_count--;
    if (i != s->conn_count)
        memcpy(c, &s->conns[s->conn_count], sizeof *c);
}

static void stream_accept(struct stream_server *s, size_t listener)
{
    for (;;) {
        int fd = accept4(s->listen_fd[listener], NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or a connection that died before we took it */
        if (s->conn_count == s->conn_cap) {
            close(fd); /* full: refuse rather than starve the ones we have */
            continue;
        }
        net_set_nodelay(fd);
        struct stream_conn *c = &s->conns[s->conn_count++];
        c->fd = fd;
        c->mode = s->listen_mode[listener];
        c->peer_done = false;
        c->off = 0;
        c->len = 0;
        c->bytes_in = 0;
        c->bytes_out = 0;
    }
}

/* Sends pending echo bytes; returns -1 when the connection failed. */
static int stream_flush(struct stream_conn *c)
{
    while (c->len > 0) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len, SEND_FLAGS);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->off += (size_t)n;
        c->len -= (size_t)n;
        c->bytes_out += (uint64_t)n;
    }
    c->off = 0;
    return 0;
}

/* Reads what is available; returns -1 on failure, 1 at EOF, 0 otherwise. */
static int stream_read(struct stream_conn *c)
{
    static uint8_t sink[16384];
    for (;;) {
        uint8_t *dst;
        size_t room;
        if (c->mode == STREAM_DISCARD) {
            dst = sink;
            room = sizeof sink;
        } else {
            if (c->off > 0 && c->off + c->len == STREAM_BUF_SIZE) {
                memmove(c->buf, c->buf + c->off, c->len);
                c->off = 0;
            }
            dst = c->buf + c->off + c->len;
            room = STREAM_BUF_SIZE - c->off - c->len;
            if (room == 0)
                return 0; /* backpressure: wait until the peer reads its echo */
        }
        ssize_t n = recv(c->fd, dst, room, 0);
        if (n == 0)
            return 1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->bytes_in += (uint64_t)n;
        if (c->mode == STREAM_ECHO) {
            c->len += (size_t)n;
            if (stream_flush(c) < 0)
                return -1;
        }
    }
}

/* Handles poll results for connection i; returns true if it was closed. */
static bool stream_service(struct stream_server *s, size_t i, short revents)
{
    struct stream_conn *c = &s->conns[i];
    if (revents & POLLOUT) {
        if (stream_flush(c) < 0) {
            stream_close(s, i, false);
            return true;
        }
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        int r = stream_read(c);
        if (r < 0) {
            stream_close(s, i, false);
            return true;
        }
        if (r > 0)
            c->peer_done = true;
    }
    if (c->peer_done && c->len == 0) {
        stream_close(s, i, true);
        return true;
    }
    return false;
}

int stream_server_step(struct stream_server *s, int timeout_ms)
{
    struct pollfd *fds = s->pollfds;
    size_t n = 0;
    for (size_t i = 0; i < s->listeners; i++)
        fds[n++] = (struct pollfd){.fd = s->listen_fd[i], .events = POLLIN};
    for (size_t i = 0; i < s->conn_count; i++) {
        struct stream_conn *c = &s->conns[i];
        short events = 0;
        if (!c->peer_done && (c->mode == STREAM_DISCARD || c->off + c->len < STREAM_BUF_SIZE))
            events |= POLLIN;
        if (c->len > 0)
            events |= POLLOUT;
        fds[n++] = (struct pollfd){.fd = c->fd, .events = events};
    }
    int ready = poll(fds, (nfds_t)n, timeout_ms);
    if (ready < 0)
        return errno == EINTR ? 0 : -1;
    if (ready == 0)
        return 0;

    /* Connections first, walking down so a close (which moves the last one) skips nothing. */
    size_t conns_polled = n - s->listeners;
    for (size_t i = conns_polled; i-- > 0;) {
        short revents = fds[s->listeners + i].revents;
        if (revents != 0)
            (void)stream_service(s, i, revents);
    }
    for (size_t i = 0; i < s->listeners; i++)
        if (fds[i].revents & POLLIN)
            stream_accept(s, i);
    return 0;
}
