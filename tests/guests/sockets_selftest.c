/* Test guest: ilwaco's BSD sockets over lwIP's loopback in one VM (TCP, UDP, poll, errors, leaks).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ilwaco.h>

static int failures;

/* Records a failure; evaluates cond exactly once. */
static int check(int ok, const char *what, int line)
{
    if (!ok) {
        printf("sockets selftest: FAIL line %d: %s (errno %d %s)\n", line, what, errno,
               strerror(errno));
        failures++;
    }
    return ok;
}

#define CHECK(cond) check((cond) != 0, #cond, __LINE__)

/* Fatal: later steps make no sense without this one. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!CHECK(cond)) {                                                                        \
            fflush(stdout);                                                                        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define BULK_BYTES (300 * 1024)

static struct sockaddr_in loopback(unsigned short port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static unsigned short local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    REQUIRE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    return ntohs(a.sin_port);
}

static int listener(int nonblocking)
{
    int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    REQUIRE(fd > 2);
    int one = 1;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
    struct sockaddr_in a = loopback(0);
    REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    REQUIRE(listen(fd, 16) == 0);
    CHECK(local_port(fd) != 0);
    return fd;
}

static void set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CHECK(fl >= 0);
    CHECK(fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
}

/* A connected pair over loopback, built with non-blocking connect and poll-driven accept. */
static void connected_pair(int lfd, int *client, int *server)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(c > 2);
    int on = 1;
    CHECK(ioctl(c, FIONBIO, &on) == 0);
    struct sockaddr_in a = loopback(local_port(lfd));

    errno = 0;
    CHECK(accept(lfd, NULL, NULL) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    int r = connect(c, (struct sockaddr *)&a, sizeof(a));
    CHECK(r == 0 || errno == EINPROGRESS);

    struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = c, .events = POLLOUT}};
    int seen_listen = 0, seen_connect = 0;
    for (int i = 0; i < 100 && !(seen_listen && seen_connect); i++) {
        int n = poll(p, 2, 1000);
        CHECK(n >= 0);
        seen_listen |= (p[0].revents & POLLIN) != 0;
        seen_connect |= (p[1].revents & POLLOUT) != 0;
    }
    REQUIRE(seen_listen && seen_connect);
    int err = -1;
    socklen_t len = sizeof(err);
    CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);

    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    int s = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK);
    REQUIRE(s > 2);
    CHECK(plen == sizeof(peer) && peer.sin_family == AF_INET);
    CHECK(peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    CHECK(ntohs(peer.sin_port) == local_port(c));

    struct sockaddr_in cp;
    socklen_t cplen = sizeof(cp);
    CHECK(getpeername(c, (struct sockaddr *)&cp, &cplen) == 0);
    CHECK(ntohs(cp.sin_port) == local_port(lfd) && local_port(s) == local_port(lfd));
    *client = c;
    *server = s;
}

static void check_small_exchange(int c, int s)
{
    char buf[64];
    errno = 0;
    CHECK(recv(s, buf, sizeof(buf), 0) < 0 && errno == EAGAIN);
    CHECK(write(c, "ping", 4) == 4);
    struct pollfd p = {.fd = s, .events = POLLIN};
    CHECK(poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
    int avail = 0;
    CHECK(ioctl(s, FIONREAD, &avail) == 0 && avail == 4);
    CHECK(recv(s, buf, sizeof(buf), MSG_PEEK) == 4);
    CHECK(read(s, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0);
    CHECK(send(s, "pong!", 5, 0) == 5);
    p.fd = c;
    CHECK(poll(&p, 1, 1000) == 1);
    CHECK(recv(c, buf, sizeof(buf), 0) == 5 && memcmp(buf, "pong!", 5) == 0);

    int one = 1, v = 0;
    socklen_t len = sizeof(v);
    CHECK(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
    CHECK(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1);
    CHECK(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0);
    len = sizeof(v);
    CHECK(getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, &len) == 0 && v == 1);
    len = sizeof(v);
    CHECK(getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_STREAM);
    int big = 65536;
    CHECK(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)) == 0);
}

static unsigned char pattern(size_t i, unsigned seed)
{
    return (unsigned char)((i * 131u + seed) ^ (i >> 9));
}

/* Both directions at once, non-blocking, driven by poll: the window and send buffer fill and drain.
 */
static void check_bulk(int c, int s)
{
    static unsigned char buf[16384];
    size_t sent[2] = {0, 0}, got[2] = {0, 0};
    int fds[2] = {c, s};
    int bad = 0, eagain = 0;
    for (int rounds = 0; rounds < 100000 && (got[0] < BULK_BYTES || got[1] < BULK_BYTES);
         rounds++) {
        struct pollfd p[2];
        for (int k = 0; k < 2; k++)
            p[k] = (struct pollfd){.fd = fds[k],
                                   .events = POLLIN | (sent[k] < BULK_BYTES ? POLLOUT : 0)};
        CHECK(poll(p, 2, 1000) > 0);
        for (int k = 0; k < 2; k++) {
            /* fds[k] sends stream k and receives stream 1-k. */
            if (p[k].revents & POLLOUT) {
                size_t n = BULK_BYTES - sent[k];
                if (n > sizeof(buf))
                    n = sizeof(buf);
                for (size_t i = 0; i < n; i++)
                    buf[i] = pattern(sent[k] + i, (unsigned)k);
                ssize_t w = send(fds[k], buf, n, 0);
                if (w < 0 && errno == EAGAIN)
                    eagain++;
                else
                    CHECK(w > 0);
                if (w > 0)
                    sent[k] += (size_t)w;
            }
            if (p[k].revents & POLLIN) {
                ssize_t r = recv(fds[k], buf, sizeof(buf), 0);
                CHECK(r > 0);
                for (ssize_t i = 0; i < r; i++)
                    if (buf[i] != pattern(got[1 - k] + (size_t)i, 1u - (unsigned)k))
                        bad++;
                if (r > 0)
                    got[1 - k] += (size_t)r;
            }
        }
    }
    CHECK(got[0] == BULK_BYTES && got[1] == BULK_BYTES);
    CHECK(bad == 0);
    /* Sending faster than the peer reads must have filled the send buffer at least once. */
    int full = 0;
    for (int i = 0; i < 1000; i++) {
        memset(buf, 'x', sizeof(buf));
        ssize_t w = send(c, buf, sizeof(buf), 0);
        if (w < 0) {
            full = errno == EAGAIN;
            break;
        }
    }
    CHECK(full || eagain > 0);
}

static void check_close_and_errors(int c, int s)
{
    char buf[16384];
    /* Drain what check_bulk left, then the FIN: recv() == 0. */
    CHECK(shutdown(c, SHUT_WR) == 0);
    errno = 0;
    CHECK(send(c, "x", 1, 0) < 0 && errno == EPIPE);
    ssize_t r;
    int rounds = 0;
    struct pollfd p = {.fd = s, .events = POLLIN};
    do {
        /*
         * Generous: a FIN that met a zero window is dropped, as in any TCP,
         * and only comes back with the retransmission timer.
         */
        CHECK(poll(&p, 1, 10000) == 1);
        r = recv(s, buf, sizeof(buf), 0);
    } while (r > 0 && ++rounds < 1000);
    CHECK(r == 0);
    CHECK(close(s) == 0);
    CHECK(close(c) == 0);
    errno = 0;
    CHECK(close(c) < 0 && errno == EBADF);
}

static void check_reset(int lfd)
{
    int c, s;
    connected_pair(lfd, &c, &s);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    CHECK(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    CHECK(close(c) == 0);
    struct pollfd p = {.fd = s, .events = POLLIN};
    CHECK(poll(&p, 1, 1000) == 1 && (p.revents & (POLLERR | POLLHUP)));
    char b;
    errno = 0;
    CHECK(recv(s, &b, 1, 0) < 0 && errno == ECONNRESET);
    errno = 0;
    CHECK(send(s, "x", 1, 0) < 0 && errno == EPIPE);
    CHECK(close(s) == 0);
}

static void check_refused(void)
{
    /* A port nobody listens on any more. */
    int l = listener(0);
    unsigned short port = local_port(l);
    CHECK(close(l) == 0);
    struct sockaddr_in a = loopback(port);

    int c = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == ECONNREFUSED);
    CHECK(close(c) == 0);

    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    errno = 0;
    CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EINPROGRESS);
    struct pollfd p = {.fd = c, .events = POLLOUT};
    CHECK(poll(&p, 1, 1000) == 1 && (p.revents & POLLERR));
    int err = 0;
    socklen_t len = sizeof(err);
    CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == ECONNREFUSED);
    len = sizeof(err);
    CHECK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
    CHECK(close(c) == 0);
}

static void check_udp(void)
{
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    REQUIRE(a > 2 && b > 2);
    struct sockaddr_in any = loopback(0);
    CHECK(bind(a, (struct sockaddr *)&any, sizeof(any)) == 0);
    CHECK(bind(b, (struct sockaddr *)&any, sizeof(any)) == 0);
    char buf[128];
    errno = 0;
    CHECK(recv(b, buf, sizeof(buf), 0) < 0 && errno == EAGAIN);

    struct sockaddr_in to = loopback(local_port(b));
    CHECK(sendto(a, "datagram", 8, 0, (struct sockaddr *)&to, sizeof(to)) == 8);
    struct pollfd p = {.fd = b, .events = POLLIN};
    CHECK(poll(&p, 1, 1000) == 1);
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    CHECK(recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen) == 8);
    CHECK(memcmp(buf, "datagram", 8) == 0 && ntohs(from.sin_port) == local_port(a));

    /* A reply through connect() + send(), received by a blocking recv. */
    CHECK(connect(b, (struct sockaddr *)&from, flen) == 0);
    CHECK(send(b, "reply", 5, 0) == 5);
    CHECK(recv(a, buf, sizeof(buf), 0) == 5 && memcmp(buf, "reply", 5) == 0);
    CHECK(close(a) == 0 && close(b) == 0);
}

static void check_select(int lfd)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(local_port(lfd));
    CHECK(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(lfd, &r);
    struct timeval tv = {1, 0};
    CHECK(select(lfd + 1, &r, NULL, NULL, &tv) == 1 && FD_ISSET(lfd, &r));
    int s = accept(lfd, NULL, NULL);
    CHECK(s > 2);
    FD_ZERO(&r);
    FD_SET(s, &r);
    tv = (struct timeval){0, 20000};
    CHECK(select(s + 1, &r, NULL, NULL, &tv) == 0);
    CHECK(close(s) == 0 && close(c) == 0);
}

/* Thousands of short connections: fds, socket objects, pcbs and heap must all come back. */
static void check_no_leaks(int lfd, int count)
{
    struct ilwaco_net_stats before, after;
    ilwaco_net_stats(&before);
    struct sockaddr_in a = loopback(local_port(lfd));
    int fd_max = 0;
    for (int i = 0; i < count; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) {
            CHECK(!"connect in the leak loop");
            printf("sockets selftest: leak loop stopped at connection %d\n", i);
            if (c >= 0)
                close(c);
            return;
        }
        int s = accept(lfd, NULL, NULL);
        REQUIRE(s > 2);
        if (s > fd_max)
            fd_max = s;
        char b = 0;
        CHECK(send(c, "!", 1, 0) == 1);
        CHECK(recv(s, &b, 1, 0) == 1 && b == '!');
        /* Alternate which side closes first, so both kinds of close are exercised. */
        if (i % 2) {
            CHECK(close(s) == 0);
            CHECK(recv(c, &b, 1, 0) == 0);
            CHECK(close(c) == 0);
        } else {
            CHECK(close(c) == 0);
            CHECK(recv(s, &b, 1, 0) == 0);
            CHECK(close(s) == 0);
        }
    }
    /* Let the last closes finish their handshakes. */
    usleep(100000);
    ilwaco_net_stats(&after);
    CHECK(fd_max < 16);
    CHECK(after.sockets == before.sockets);
    CHECK(after.tcp_active <= before.tcp_active + 2);
    CHECK(after.tcp_time_wait <= 32);
    /* What stays is the bounded set of TIME-WAIT pcbs, a few hundred bytes each. */
    CHECK(after.heap_used <= before.heap_used + 4096 + 32 * 256);
    printf("sockets selftest: %d connections; heap %llu -> %llu of %llu bytes, %u time-wait\n",
           count, (unsigned long long)before.heap_used, (unsigned long long)after.heap_used,
           (unsigned long long)after.heap_size, after.tcp_time_wait);
}

int main(int argc, char **argv)
{
    int connections = argc > 1 ? atoi(argv[1]) : 2000;
    errno = 0;
    CHECK(socket(AF_INET6, SOCK_STREAM, 0) < 0 && errno == EAFNOSUPPORT);

    int lfd = listener(0);
    set_nonblocking(lfd);
    int c, s;
    connected_pair(lfd, &c, &s);
    check_small_exchange(c, s);
    check_bulk(c, s);
    check_close_and_errors(c, s);
    check_reset(lfd);
    check_refused();
    check_udp();
    CHECK(close(lfd) == 0);

    int blfd = listener(0);
    check_select(blfd);
    check_no_leaks(blfd, connections);
    CHECK(close(blfd) == 0);

    struct ilwaco_net_stats st;
    ilwaco_net_stats(&st);
    CHECK(st.sockets == 0 && st.tcp_listen == 0);
    if (failures) {
        printf("sockets selftest: %d failures\n", failures);
        return 1;
    }
    printf("sockets selftest ok (nic %s)\n", st.nic_attached ? "attached" : "absent");
    return 0;
}
