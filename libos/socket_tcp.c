/* ilwaco's socket glue to lwIP: the raw-API callbacks, readiness, waiting and address helpers. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "lwip/priv/tcp_priv.h"

#include "internal.h"
#include "net.h"
#include "socket.h"

/* TIME-WAIT pcbs kept: enough to absorb late segments, bounded for a server that runs forever. */
#define TIME_WAIT_MAX 32

int ilwaco_err_errno(err_t e)
{
    switch (e) {
    case ERR_OK:
        return 0;
    case ERR_MEM:
        return ENOMEM;
    case ERR_BUF:
        return ENOBUFS;
    case ERR_TIMEOUT:
        return ETIMEDOUT;
    case ERR_RTE:
        return ENETUNREACH;
    case ERR_INPROGRESS:
        return EINPROGRESS;
    case ERR_WOULDBLOCK:
        return EWOULDBLOCK;
    case ERR_USE:
        return EADDRINUSE;
    case ERR_ALREADY:
        return EALREADY;
    case ERR_ISCONN:
        return EISCONN;
    case ERR_CONN:
        return ENOTCONN;
    case ERR_ABRT:
        return ECONNABORTED;
    case ERR_RST:
        return ECONNRESET;
    case ERR_CLSD:
        return ENOTCONN;
    case ERR_IF:
        return EIO;
    default:
        return EINVAL;
    }
}

int ilwaco_sock_take_err(struct sock *s)
{
    int e = s->err;
    s->err = 0;
    return e;
}

void ilwaco_sock_drop_rx(struct sock *s)
{
    if (s->rx) {
        u32_t n = s->rx->tot_len;
        if (s->tcp && s->state == ST_CONNECTED) {
            while (n > 0) {
                u16_t step = n > 0xffff ? 0xffff : (u16_t)n;
                tcp_recved(s->tcp, step);
                n -= step;
            }
        }
        pbuf_free(s->rx);
        s->rx = NULL;
    }
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
    struct sock *s = arg;
    (void)err;
    if (!p) {
        s->rx_fin = 1;
        return ERR_OK;
    }
    if (s->shut_rd) {
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
        return ERR_OK;
    }
    /* Queued unread data never exceeds the window (< 64 KiB), so tot_len cannot overflow. */
    if (s->rx)
        pbuf_cat(s->rx, p);
    else
        s->rx = p;
    return ERR_OK;
}

static void queue_remove(struct sock *l, struct sock *s)
{
    struct sock **pp = &l->queue_head;
    struct sock *prev = NULL;
    while (*pp && *pp != s) {
        prev = *pp;
        pp = &(*pp)->queue_next;
    }
    if (!*pp)
        return;
    *pp = s->queue_next;
    if (l->queue_tail == s)
        l->queue_tail = prev;
    s->queue_next = NULL;
}

/* lwIP has already freed the pcb when this runs. */
static void on_err(void *arg, err_t err)
{
    struct sock *s = arg;
    if (!s)
        return;
    s->tcp = NULL;
    if (s->state == ST_CONNECTING)
        s->err = err == ERR_RST ? ECONNREFUSED : ETIMEDOUT;
    else
        s->err = err == ERR_RST ? ECONNRESET : ilwaco_err_errno(err);
    s->state = ST_DEAD;
    /* As on Linux, a reset discards what was not read yet. */
    if (s->rx) {
        pbuf_free(s->rx);
        s->rx = NULL;
    }
    if (s->listener) {
        /* Never accept()ed: nobody will see it, so it goes now. */
        queue_remove(s->listener, s);
        ilwaco_sock_free(s);
    }
}

err_t ilwaco_tcp_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
    struct sock *s = arg;
    (void)pcb;
    (void)err;
    if (s)
        s->state = ST_CONNECTED;
    return ERR_OK;
}

void ilwaco_tcp_attach(struct sock *s)
{
    tcp_arg(s->tcp, s);
    tcp_recv(s->tcp, on_recv);
    tcp_err(s->tcp, on_err);
}

void ilwaco_tcp_detach(struct tcp_pcb *pcb)
{
    tcp_arg(pcb, NULL);
    if (pcb->state == LISTEN) {
        tcp_accept(pcb, NULL);
        return;
    }
    /* With no recv callback lwIP acknowledges and drops whatever still arrives. */
    tcp_recv(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_sent(pcb, NULL);
}

err_t ilwaco_tcp_on_accept(void *arg, struct tcp_pcb *newpcb, err_t err)
{
    struct sock *l = arg;
    if (err != ERR_OK || !newpcb)
        return ERR_VAL;
    struct sock *s = l && l->state == ST_LISTENING ? ilwaco_sock_alloc(SOCK_STREAM) : NULL;
    if (!s) {
        tcp_abort(newpcb);
        return ERR_ABRT;
    }
    s->tcp = newpcb;
    s->state = ST_CONNECTED;
    s->listener = l;
    s->nodelay = l->nodelay;
    ilwaco_tcp_attach(s);
    if (s->nodelay)
        tcp_nagle_disable(newpcb);
    /* It still counts against the listen backlog until accept() takes it. */
    tcp_backlog_delayed(newpcb);
    if (l->queue_tail)
        l->queue_tail->queue_next = s;
    else
        l->queue_head = s;
    l->queue_tail = s;
    return ERR_OK;
}

struct sock *ilwaco_sock_dequeue(struct sock *l)
{
    struct sock *s = l->queue_head;
    if (!s)
        return NULL;
    queue_remove(l, s);
    s->listener = NULL;
    if (s->tcp)
        tcp_backlog_accepted(s->tcp);
    return s;
}

void ilwaco_udp_on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                        u16_t port)
{
    struct sock *s = arg;
    (void)pcb;
    if (!s || s->dq_count == ILWACO_UDP_QUEUE || s->shut_rd) {
        /* A full queue drops, as a full socket buffer does. */
        pbuf_free(p);
        return;
    }
    struct dgram *d = &s->dq[(s->dq_head + s->dq_count) % ILWACO_UDP_QUEUE];
    d->p = p;
    d->addr = ip4_addr_get_u32(ip_2_ip4(addr));
    d->port = port;
    s->dq_count++;
}

void ilwaco_tcp_trim_time_wait(void)
{
    unsigned n = 0;
    struct tcp_pcb *last = NULL;
    for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next) {
        n++;
        last = p;
    }
    /* New pcbs go to the list's head, so its tail is the oldest. */
    while (n > TIME_WAIT_MAX && last) {
        struct tcp_pcb *prev = NULL;
        for (struct tcp_pcb *p = tcp_tw_pcbs; p != last; p = p->next)
            prev = p;
        tcp_abort(last);
        last = prev;
        n--;
    }
}

short ilwaco_sock_events(struct sock *s)
{
    short ev = s->err ? POLLERR : 0;
    if (s->type == SOCK_DGRAM)
        return ev | POLLOUT | (s->dq_count ? POLLIN : 0);
    switch (s->state) {
    case ST_NEW:
        return ev | POLLOUT | POLLHUP;
    case ST_LISTENING:
        return ev | (s->queue_head ? POLLIN : 0);
    case ST_CONNECTING:
        return ev;
    case ST_CONNECTED:
        if (s->rx || s->rx_fin || s->shut_rd)
            ev |= POLLIN;
        if (s->rx_fin)
            ev |= POLLRDHUP;
        if (s->shut_wr ||
            (s->tcp && tcp_sndbuf(s->tcp) > 0 && tcp_sndqueuelen(s->tcp) < TCP_SND_QUEUELEN))
            ev |= POLLOUT;
        if (s->rx_fin && s->shut_wr)
            ev |= POLLHUP;
        return ev;
    case ST_DEAD:
    default:
        return ev | POLLIN | POLLOUT | POLLHUP | POLLRDHUP;
    }
}

struct wait_for {
    struct sock *s;
    short events;
};

static int sock_ready(void *arg)
{
    struct wait_for *w = arg;
    return (ilwaco_sock_events(w->s) & (w->events | POLLERR | POLLHUP)) != 0;
}

int ilwaco_sock_wait(struct sock *s, short events, uint64_t timeout_ns)
{
    struct wait_for w = {s, events};
    uint64_t deadline = DENALI_DEADLINE_NONE;
    if (timeout_ns) {
        uint64_t now = ilwaco_time_ns();
        deadline =
            timeout_ns > DENALI_DEADLINE_NONE - now ? DENALI_DEADLINE_NONE : now + timeout_ns;
    }
    return ilwaco_net_wait(sock_ready, &w, deadline, (events & POLLOUT) != 0);
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

void ilwaco_sock_wait_memory(void)
{
    /* Memory comes back as other connections' data is acknowledged; look again soon. */
    ilwaco_net_wait(never, NULL, ilwaco_time_ns() + 10000000u, 1);
}

long ilwaco_sin_parse(const void *addr, unsigned len, ip4_addr_t *ip, u16_t *port)
{
    struct sockaddr_in sin;
    if (!addr)
        return -EFAULT;
    if (len < sizeof(sin))
        return -EINVAL;
    memcpy(&sin, addr, sizeof(sin));
    if (sin.sin_family != AF_INET)
        return -EAFNOSUPPORT;
    ip4_addr_set_u32(ip, sin.sin_addr.s_addr);
    *port = ntohs(sin.sin_port);
    return 0;
}

void ilwaco_sin_store(void *addr, void *addrlen_arg, uint32_t ip, u16_t port)
{
    socklen_t *addrlen = addrlen_arg;
    if (!addr || !addrlen)
        return;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = ip;
    size_t n = *addrlen < sizeof(sin) ? *addrlen : sizeof(sin);
    memcpy(addr, &sin, n);
    *addrlen = sizeof(sin);
}
