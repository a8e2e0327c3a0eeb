/* ilwaco's readiness calls: poll, ppoll, select and pselect6 over console, socket and file fds. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "internal.h"
#include "net.h"
#include "socket.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

/* Every event bit that holds for fd now: stdin is at EOF, stdout/stderr always take output. */
static short fd_events(long fd)
{
    if (fd == 0)
        return POLLIN;
    if (fd == 1 || fd == 2)
        return POLLOUT;
    struct sock *s = ilwaco_fd_sock(fd);
    if (s)
        return ilwaco_sock_events(s);
    /* A file never makes anyone wait. */
    return ilwaco_fd_file(fd) ? POLLIN | POLLOUT : POLLNVAL;
}

struct poll_set {
    struct pollfd *fds;
    unsigned long n;
};

static int poll_scan(void *arg)
{
    struct poll_set *p = arg;
    int ready = 0;
    for (unsigned long i = 0; i < p->n; i++) {
        struct pollfd *f = &p->fds[i];
        if (f->fd < 0) {
            f->revents = 0;
            continue;
        }
        f->revents = fd_events(f->fd) & (f->events | POLLERR | POLLHUP | POLLNVAL);
        if (f->revents)
            ready++;
    }
    return ready;
}

static uint64_t after_ns(uint64_t ns)
{
    uint64_t now = ilwaco_time_ns();
    return ns > DENALI_DEADLINE_NONE - now ? DENALI_DEADLINE_NONE : now + ns;
}

/* The stack is pumped while waiting, so a VM in poll() still answers ARP and runs TCP timers. */
static long poll_until(struct pollfd *fds, unsigned long n, uint64_t deadline)
{
    if (n > ILWACO_FD_MAX * 4ul)
        return -EINVAL;
    struct poll_set p = {fds, n};
    int wants_acks = 0;
    for (unsigned long i = 0; i < n; i++)
        if (fds[i].fd >= 0 && (fds[i].events & POLLOUT))
            wants_acks = 1;
    ilwaco_net_wait(poll_scan, &p, deadline, wants_acks);
    return poll_scan(&p);
}

long ilwaco_sys_poll(void *fds, unsigned long n, long timeout_ms)
{
    uint64_t deadline =
        timeout_ms < 0 ? DENALI_DEADLINE_NONE : after_ns((uint64_t)timeout_ms * NS_PER_MS);
    return poll_until(fds, n, deadline);
}

static int timespec_deadline(const struct timespec *ts, uint64_t *deadline)
{
    if (!ts) {
        *deadline = DENALI_DEADLINE_NONE;
        return 0;
    }
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= (long)NS_PER_S)
        return -EINVAL;
    if ((uint64_t)ts->tv_sec > DENALI_DEADLINE_NONE / NS_PER_S - 1)
        *deadline = DENALI_DEADLINE_NONE;
    else
        *deadline = after_ns((uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec);
    return 0;
}

long ilwaco_sys_ppoll(void *fds, unsigned long n, const void *ts)
{
    /* Signals are never delivered, so the mask has nothing to change. */
    uint64_t deadline;
    if (timespec_deadline(ts, &deadline) < 0)
        return -EINVAL;
    return poll_until(fds, n, deadline);
}

struct select_set {
    int n;
    fd_set in[3];
    fd_set *out[3];
};

static const short select_bits[3] = {POLLIN | POLLHUP | POLLERR, POLLOUT | POLLERR, POLLPRI};

static int select_scan(void *arg)
{
    struct select_set *s = arg;
    int ready = 0;
    for (int k = 0; k < 3; k++)
        if (s->out[k])
            FD_ZERO(s->out[k]);
    for (int fd = 0; fd < s->n; fd++) {
        short ev = -1;
        for (int k = 0; k < 3; k++) {
            if (!s->out[k] || !FD_ISSET(fd, &s->in[k]))
                continue;
            if (ev == -1)
                ev = fd_events(fd);
            if (ev & select_bits[k]) {
                FD_SET(fd, s->out[k]);
                ready++;
            }
        }
    }
    return ready;
}

static long select_until(long n, void *r, void *w, void *e, uint64_t deadline)
{
    if (n < 0 || n > FD_SETSIZE)
        return -EINVAL;
    struct select_set s = {.n = (int)n, .out = {r, w, e}};
    for (int k = 0; k < 3; k++)
        if (s.out[k])
            memcpy(&s.in[k], s.out[k], sizeof(fd_set));
    for (int fd = 0; fd < n; fd++) {
        for (int k = 0; k < 3; k++)
            if (s.out[k] && FD_ISSET(fd, &s.in[k]) && (fd_events(fd) & POLLNVAL))
                return -EBADF;
    }
    int wants_acks = 0;
    for (int fd = 0; s.out[1] && fd < n; fd++)
        if (FD_ISSET(fd, &s.in[1]))
            wants_acks = 1;
    ilwaco_net_wait(select_scan, &s, deadline, wants_acks);
    return select_scan(&s);
}

long ilwaco_sys_select(long n, void *r, void *w, void *e, void *tv_arg)
{
    const struct timeval *tv = tv_arg;
    uint64_t deadline = DENALI_DEADLINE_NONE;
    if (tv) {
        if (tv->tv_sec < 0 || tv->tv_usec < 0)
            return -EINVAL;
        if ((uint64_t)tv->tv_sec < DENALI_DEADLINE_NONE / NS_PER_S - 1)
            deadline = after_ns((uint64_t)tv->tv_sec * NS_PER_S + (uint64_t)tv->tv_usec * 1000u);
    }
    return select_until(n, r, w, e, deadline);
}

long ilwaco_sys_pselect6(long n, void *r, void *w, void *e, const void *ts)
{
    uint64_t deadline;
    if (timespec_deadline(ts, &deadline) < 0)
        return -EINVAL;
    return select_until(n, r, w, e, deadline);
}
