/* ilwaco's socket data calls: send/recv in all their forms, over TCP's byte stream and UDP
 * datagrams. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "net.h"
#include "socket.h"

static size_t iov_total(const struct iovec *iov, long iovcnt)
{
    size_t total = 0;
    for (long i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    return total;
}

/*
 * Copies up to len bytes from the start of chain p into the iovecs, after
 * the first skip bytes of the iovecs (already filled); returns the count.
 */
static size_t copy_out(struct pbuf *p, const struct iovec *iov, long iovcnt, size_t skip,
                       size_t len)
{
    size_t done = 0;
    if (len > p->tot_len)
        len = p->tot_len;
    for (long i = 0; i < iovcnt && done < len; i++) {
        size_t n = iov[i].iov_len;
        if (skip >= n) {
            skip -= n;
            continue;
        }
        size_t at = skip;
        n -= skip;
        skip = 0;
        if (n > len - done)
            n = len - done;
        done += pbuf_copy_partial(p, (char *)iov[i].iov_base + at, (u16_t)n, (u16_t)done);
    }
    return done;
}

static long tcp_recv_iov(struct sock *s, const struct iovec *iov, long iovcnt, int flags)
{
    size_t want = iov_total(iov, iovcnt);
    size_t got = 0;
    if (s->state == ST_NEW || s->state == ST_LISTENING)
        return -ENOTCONN;
    if (want == 0)
        return 0;
    for (;;) {
        ilwaco_net_pump();
        if (s->rx) {
            if (flags & MSG_PEEK)
                return (long)copy_out(s->rx, iov, iovcnt, 0, want);
            size_t n = copy_out(s->rx, iov, iovcnt, got, want - got);
            got += n;
            s->rx = pbuf_free_header(s->rx, (u16_t)n);
            /* The window opens only as the application reads: TCP flow control stays honest. */
            if (s->tcp)
                tcp_recved(s->tcp, (u16_t)n);
            if (got == want || !(flags & MSG_WAITALL))
                return (long)got;
            continue;
        }
        if (s->state == ST_DEAD && s->err)
            return got ? (long)got : -ilwaco_sock_take_err(s);
        if (s->rx_fin || s->shut_rd || s->state == ST_DEAD)
            return (long)got;
        if (s->nonblock || (flags & MSG_DONTWAIT))
            return got ? (long)got : -EAGAIN;
        if (!ilwaco_sock_wait(s, POLLIN, s->rcvtimeo_ns))
            return got ? (long)got : -EAGAIN;
    }
}

static long udp_recv_iov(struct sock *s, const struct iovec *iov, long iovcnt, int flags,
                         void *addr, void *addrlen, int *msg_flags)
{
    for (;;) {
        ilwaco_net_pump();
        if (s->dq_count) {
            struct dgram *d = &s->dq[s->dq_head];
            size_t len = d->p->tot_len;
            size_t n = copy_out(d->p, iov, iovcnt, 0, len);
            if (n < len && msg_flags)
                *msg_flags |= MSG_TRUNC;
            ilwaco_sin_store(addr, addrlen, d->addr, d->port);
            if (!(flags & MSG_PEEK)) {
                pbuf_free(d->p);
                s->dq_head = (s->dq_head + 1) % ILWACO_UDP_QUEUE;
                s->dq_count--;
            }
            return (long)(flags & MSG_TRUNC ? len : n);
        }
        if (s->nonblock || (flags & MSG_DONTWAIT))
            return -EAGAIN;
        if (!ilwaco_sock_wait(s, POLLIN, s->rcvtimeo_ns))
            return -EAGAIN;
    }
}

long ilwaco_sock_recv_iov(struct sock *s, const struct iovec *iov, long iovcnt, int flags,
                          void *addr, void *addrlen, int *msg_flags)
{
    if (iovcnt < 0 || iovcnt > 1024)
        return -EINVAL;
    if (s->type == SOCK_DGRAM)
        return udp_recv_iov(s, iov, iovcnt, flags, addr, addrlen, msg_flags);
    long r = tcp_recv_iov(s, iov, iovcnt, flags);
    if (r >= 0 && s->tcp)
        ilwaco_sin_store(addr, addrlen, ip4_addr_get_u32(&s->tcp->remote_ip), s->tcp->remote_port);
    return r;
}

/* Space TCP will take right now; 0 when the send buffer or segment queue is full. */
static size_t tcp_room(struct tcp_pcb *pcb)
{
    if (tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN)
        return 0;
    return tcp_sndbuf(pcb);
}

static long tcp_send_iov(struct sock *s, const struct iovec *iov, long iovcnt, int flags)
{
    size_t total = 0;
    size_t want = iov_total(iov, iovcnt);
    long i = 0;
    size_t off = 0;

    for (;;) {
        if (s->state == ST_DEAD || (s->state == ST_CONNECTED && !s->tcp)) {
            int e = ilwaco_sock_take_err(s);
            return total ? (long)total : e ? -e : -EPIPE;
        }
        if (s->state == ST_NEW || s->state == ST_LISTENING)
            return -ENOTCONN;
        if (s->shut_wr)
            return total ? (long)total : -EPIPE;
        if (s->state == ST_CONNECTED) {
            int out_of_memory = 0;
            while (i < iovcnt) {
                if (off == iov[i].iov_len) {
                    i++;
                    off = 0;
                    continue;
                }
                size_t n = iov[i].iov_len - off;
                size_t room = tcp_room(s->tcp);
                if (room == 0)
                    break;
                if (n > room)
                    n = room;
                if (n > 0xffff)
                    n = 0xffff;
                u8_t wflags = TCP_WRITE_FLAG_COPY;
                if (total + n < want || (flags & MSG_MORE))
                    wflags |= TCP_WRITE_FLAG_MORE;
                err_t e = tcp_write(s->tcp, (const char *)iov[i].iov_base + off, (u16_t)n, wflags);
                if (e == ERR_MEM && n > TCP_MSS) {
                    n = TCP_MSS;
                    e = tcp_write(s->tcp, (const char *)iov[i].iov_base + off, (u16_t)n, wflags);
                }
                if (e == ERR_MEM) {
                    out_of_memory = 1;
                    break;
                }
                if (e != ERR_OK)
                    return total ? (long)total : -ilwaco_err_errno(e);
                off += n;
                total += n;
            }
            tcp_output(s->tcp);
            if (total == want)
                return (long)total;
            if (s->nonblock || (flags & MSG_DONTWAIT))
                return total ? (long)total : -EAGAIN;
            if (out_of_memory) {
                ilwaco_sock_wait_memory();
                continue;
            }
        } else if (s->nonblock || (flags & MSG_DONTWAIT)) {
            return -EAGAIN; /* still connecting */
        }
        if (!ilwaco_sock_wait(s, POLLOUT, s->sndtimeo_ns))
            return total ? (long)total : -EAGAIN;
    }
}

static long udp_send_iov(struct sock *s, const struct iovec *iov, long iovcnt, const void *addr,
                         unsigned addrlen)
{
    ip4_addr_t ip;
    u16_t port = 0;
    if (addr) {
        long r = ilwaco_sin_parse(addr, addrlen, &ip, &port);
        if (r < 0)
            return r;
    } else if (s->state != ST_CONNECTED) {
        return -EDESTADDRREQ;
    }
    size_t len = iov_total(iov, iovcnt);
    if (len > 65507)
        return -EMSGSIZE;
    ilwaco_net_pump();
    struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
    if (!p)
        return -ENOBUFS;
    size_t off = 0;
    for (long i = 0; i < iovcnt; i++) {
        pbuf_take_at(p, iov[i].iov_base, (u16_t)iov[i].iov_len, (u16_t)off);
        off += iov[i].iov_len;
    }
    err_t e = addr ? udp_sendto(s->udp, p, &ip, port) : udp_send(s->udp, p);
    pbuf_free(p);
    return e == ERR_OK ? (long)len : -ilwaco_err_errno(e);
}

long ilwaco_sock_send_iov(struct sock *s, const struct iovec *iov, long iovcnt, int flags,
                          const void *addr, unsigned addrlen)
{
    if (iovcnt < 0 || iovcnt > 1024)
        return -EINVAL;
    if (s->type == SOCK_DGRAM)
        return udp_send_iov(s, iov, iovcnt, addr, addrlen);
    ilwaco_net_pump();
    return tcp_send_iov(s, iov, iovcnt, flags);
}

static struct sock *lookup(long fd, long *err)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (!s)
        *err = fd >= 0 && fd <= 2 ? -ENOTSOCK : -EBADF;
    return s;
}

long ilwaco_sys_sendto(long fd, const void *buf, size_t len, long flags, const void *addr,
                       long addrlen)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    struct iovec iov = {(void *)buf, len};
    return ilwaco_sock_send_iov(s, &iov, 1, (int)flags, addr, (unsigned)addrlen);
}

long ilwaco_sys_recvfrom(long fd, void *buf, size_t len, long flags, void *addr, void *addrlen)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    struct iovec iov = {buf, len};
    return ilwaco_sock_recv_iov(s, &iov, 1, (int)flags, addr, addrlen, NULL);
}

long ilwaco_sys_sendmsg(long fd, const void *msg_arg, long flags)
{
    const struct msghdr *msg = msg_arg;
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    return ilwaco_sock_send_iov(s, msg->msg_iov, (long)msg->msg_iovlen, (int)flags, msg->msg_name,
                                msg->msg_namelen);
}

long ilwaco_sys_recvmsg(long fd, void *msg_arg, long flags)
{
    struct msghdr *msg = msg_arg;
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    int mflags = 0;
    r = ilwaco_sock_recv_iov(s, msg->msg_iov, (long)msg->msg_iovlen, (int)flags, msg->msg_name,
                             msg->msg_name ? &msg->msg_namelen : NULL, &mflags);
    /* No ancillary data is ever delivered. */
    msg->msg_controllen = 0;
    msg->msg_flags = mflags;
    return r;
}
