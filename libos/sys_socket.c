/* ilwaco's socket lifecycle calls: socket, bind, listen, accept, connect, shutdown, names, close.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "internal.h"
#include "net.h"
#include "socket.h"

/* The socket behind fd, or NULL with *err set to what the call should return. */
static struct sock *lookup(long fd, long *err)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (!s)
        *err = fd >= 0 && fd <= 2 ? -ENOTSOCK : -EBADF;
    return s;
}

long ilwaco_sys_socket(long domain, long type, long protocol)
{
    long flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    type &= ~(long)(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET)
        return -EAFNOSUPPORT;
    if (type == SOCK_STREAM) {
        if (protocol != 0 && protocol != IPPROTO_TCP)
            return -EPROTONOSUPPORT;
    } else if (type == SOCK_DGRAM) {
        if (protocol != 0 && protocol != IPPROTO_UDP)
            return -EPROTONOSUPPORT;
    } else {
        return -ESOCKTNOSUPPORT;
    }
    if (ilwaco_net_start() < 0)
        return -ENOBUFS;
    ilwaco_net_pump();

    struct sock *s = ilwaco_sock_alloc((int)type);
    if (!s)
        return -ENFILE;
    if (type == SOCK_STREAM) {
        s->tcp = tcp_new_ip_type(IPADDR_TYPE_V4);
        if (s->tcp)
            ilwaco_tcp_attach(s);
    } else {
        s->udp = udp_new_ip_type(IPADDR_TYPE_V4);
        if (s->udp)
            udp_recv(s->udp, ilwaco_udp_on_recv, s);
    }
    if (!s->tcp && !s->udp) {
        ilwaco_sock_free(s);
        return -ENOBUFS;
    }
    s->nonblock = (flags & SOCK_NONBLOCK) != 0;
    int fd = ilwaco_fd_install(s);
    if (fd < 0)
        ilwaco_sock_close(s);
    return fd;
}

/* Only addresses this VM owns can be bound: any, loopback, or an interface's. */
static int is_local(const ip4_addr_t *ip)
{
    if (ip4_addr_isany(ip) || ip4_addr_isloopback(ip))
        return 1;
    for (struct netif *n = netif_list; n; n = n->next)
        if (ip4_addr_cmp(ip, netif_ip4_addr(n)))
            return 1;
    return 0;
}

long ilwaco_sys_bind(long fd, const void *addr, long len)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    ip4_addr_t ip;
    u16_t port;
    r = ilwaco_sin_parse(addr, (unsigned)len, &ip, &port);
    if (r < 0)
        return r;
    if (!is_local(&ip))
        return -EADDRNOTAVAIL;
    if (s->type == SOCK_DGRAM) {
        if (s->udp->local_port != 0)
            return -EINVAL;
        return -ilwaco_err_errno(udp_bind(s->udp, &ip, port));
    }
    if (s->state != ST_NEW || !s->tcp || s->tcp->local_port != 0)
        return -EINVAL;
    return -ilwaco_err_errno(tcp_bind(s->tcp, &ip, port));
}

long ilwaco_sys_listen(long fd, long backlog)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    if (s->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    /* lwIP counts the backlog in a byte. */
    u8_t bl = backlog < 1 ? 1 : backlog > 255 ? 255 : (u8_t)backlog;
    if (s->state == ST_LISTENING) {
        tcp_backlog_set(s->tcp, bl);
        return 0;
    }
    if (s->state != ST_NEW || !s->tcp)
        return -EINVAL;
    if (s->tcp->local_port == 0) {
        /* Like Linux, an unbound socket listens on an ephemeral port. */
        err_t e = tcp_bind(s->tcp, IP4_ADDR_ANY, 0);
        if (e != ERR_OK)
            return -ilwaco_err_errno(e);
    }
    err_t e;
    struct tcp_pcb *l = tcp_listen_with_backlog_and_err(s->tcp, bl, &e);
    if (!l)
        return -ilwaco_err_errno(e);
    /* The old pcb is gone: tcp_listen swapped in a smaller listen pcb. */
    s->tcp = l;
    s->state = ST_LISTENING;
    tcp_arg(l, s);
    tcp_accept(l, ilwaco_tcp_on_accept);
    return 0;
}

long ilwaco_sys_accept4(long fd, void *addr, void *addrlen, long flags)
{
    long r;
    struct sock *l = lookup(fd, &r);
    if (!l)
        return r;
    if (flags & ~(long)(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    if (l->type != SOCK_STREAM || l->state != ST_LISTENING)
        return -EINVAL;
    ilwaco_net_pump();
    while (!l->queue_head) {
        if (l->nonblock)
            return -EAGAIN;
        if (!ilwaco_sock_wait(l, POLLIN, l->rcvtimeo_ns))
            return -EAGAIN;
    }
    /* Take an fd first: with none free the connection stays queued, as on Linux. */
    struct sock *s = l->queue_head;
    int nfd = ilwaco_fd_install(s);
    if (nfd < 0)
        return nfd;
    ilwaco_sock_dequeue(l);
    s->nonblock = (flags & SOCK_NONBLOCK) != 0;
    if (s->tcp)
        ilwaco_sin_store(addr, addrlen, ip4_addr_get_u32(&s->tcp->remote_ip), s->tcp->remote_port);
    return nfd;
}

long ilwaco_sys_connect(long fd, const void *addr, long len)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    ip4_addr_t ip;
    u16_t port;
    if (s->type == SOCK_DGRAM) {
        if (addr && len >= (long)sizeof(sa_family_t) &&
            ((const struct sockaddr *)addr)->sa_family == AF_UNSPEC) {
            udp_disconnect(s->udp);
            s->state = ST_NEW;
            return 0;
        }
        r = ilwaco_sin_parse(addr, (unsigned)len, &ip, &port);
        if (r < 0)
            return r;
        r = -ilwaco_err_errno(udp_connect(s->udp, &ip, port));
        if (r == 0)
            s->state = ST_CONNECTED;
        return r;
    }

    switch (s->state) {
    case ST_NEW:
        break;
    case ST_CONNECTING:
        if (s->nonblock)
            return -EALREADY;
        goto wait;
    case ST_CONNECTED:
        return -EISCONN;
    case ST_LISTENING:
        return -EINVAL;
    case ST_DEAD:
    default: {
        int e = ilwaco_sock_take_err(s);
        return e ? -e : -EINVAL;
    }
    }
    r = ilwaco_sin_parse(addr, (unsigned)len, &ip, &port);
    if (r < 0)
        return r;
    err_t e = tcp_connect(s->tcp, &ip, port, ilwaco_tcp_on_connected);
    if (e != ERR_OK)
        return -ilwaco_err_errno(e);
    s->state = ST_CONNECTING;
    if (s->nonblock)
        return -EINPROGRESS;
wait:
    if (!ilwaco_sock_wait(s, POLLOUT, s->sndtimeo_ns))
        return -EINPROGRESS;
    if (s->state == ST_CONNECTED)
        return 0;
    int err = ilwaco_sock_take_err(s);
    return err ? -err : -ECONNREFUSED;
}

long ilwaco_sys_shutdown(long fd, long how)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return -EINVAL;
    if (s->state != ST_CONNECTED)
        return -ENOTCONN;
    if (how != SHUT_WR) {
        ilwaco_sock_drop_rx(s);
        s->shut_rd = 1;
    }
    if (how != SHUT_RD && !s->shut_wr) {
        s->shut_wr = 1;
        if (s->tcp) {
            err_t e = tcp_shutdown(s->tcp, 0, 1);
            if (e != ERR_OK)
                return -ilwaco_err_errno(e);
        }
    }
    return 0;
}

long ilwaco_sys_getsockname(long fd, void *addr, void *addrlen)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    if (!addr || !addrlen)
        return -EFAULT;
    uint32_t ip = 0;
    u16_t port = 0;
    if (s->udp) {
        ip = ip4_addr_get_u32(&s->udp->local_ip);
        port = s->udp->local_port;
    } else if (s->tcp) {
        ip = ip4_addr_get_u32(&s->tcp->local_ip);
        port = s->tcp->local_port;
    }
    ilwaco_sin_store(addr, addrlen, ip, port);
    return 0;
}

long ilwaco_sys_getpeername(long fd, void *addr, void *addrlen)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    if (!addr || !addrlen)
        return -EFAULT;
    if (s->state != ST_CONNECTED)
        return -ENOTCONN;
    if (s->udp)
        ilwaco_sin_store(addr, addrlen, ip4_addr_get_u32(&s->udp->remote_ip), s->udp->remote_port);
    else if (s->tcp)
        ilwaco_sin_store(addr, addrlen, ip4_addr_get_u32(&s->tcp->remote_ip), s->tcp->remote_port);
    else
        return -ENOTCONN;
    return 0;
}

long ilwaco_sock_close(struct sock *s)
{
    if (s->udp) {
        udp_remove(s->udp);
        s->udp = NULL;
        while (s->dq_count) {
            pbuf_free(s->dq[s->dq_head].p);
            s->dq_head = (s->dq_head + 1) % ILWACO_UDP_QUEUE;
            s->dq_count--;
        }
    }
    if (s->state == ST_LISTENING) {
        /* Connections nobody accepted are reset, as Linux does. */
        struct sock *q;
        while ((q = ilwaco_sock_dequeue(s))) {
            if (q->tcp) {
                ilwaco_tcp_detach(q->tcp);
                tcp_abort(q->tcp);
            }
            if (q->rx)
                pbuf_free(q->rx);
            ilwaco_sock_free(q);
        }
        ilwaco_tcp_detach(s->tcp);
        tcp_close(s->tcp);
        s->tcp = NULL;
    } else if (s->tcp) {
        struct tcp_pcb *pcb = s->tcp;
        /*
         * Unread data is acknowledged first: lwIP would otherwise answer the
         * close with a reset, which can destroy a reply still on its way.
         */
        ilwaco_sock_drop_rx(s);
        ilwaco_tcp_detach(pcb);
        s->tcp = NULL;
        if (s->linger_on && s->linger_secs == 0)
            tcp_abort(pcb);
        else if (tcp_close(pcb) != ERR_OK)
            /* Out of memory for the FIN: a reset still frees the pcb. */
            tcp_abort(pcb);
        ilwaco_tcp_trim_time_wait();
    }
    if (s->rx)
        pbuf_free(s->rx);
    s->rx = NULL;
    ilwaco_sock_free(s);
    return 0;
}
