/* ilwaco's socket options and per-fd controls: setsockopt/getsockopt, fcntl and ioctl on sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "lwip/priv/tcp_priv.h"

#include "internal.h"
#include "net.h"
#include "socket.h"

static struct sock *lookup(long fd, long *err)
{
    struct sock *s = ilwaco_fd_sock(fd);
    if (!s)
        *err = fd >= 0 && fd <= 2 ? -ENOTSOCK : -EBADF;
    return s;
}

/* so_options lives at the same place in every pcb kind. */
static u8_t *so_options(struct sock *s)
{
    if (s->udp)
        return &s->udp->so_options;
    return s->tcp ? &s->tcp->so_options : NULL;
}

static void set_flag(struct sock *s, u8_t flag, int on)
{
    u8_t *o = so_options(s);
    if (!o)
        return;
    if (on)
        *o |= flag;
    else
        *o &= (u8_t)~flag;
}

static int get_flag(struct sock *s, u8_t flag)
{
    u8_t *o = so_options(s);
    return o && (*o & flag) != 0;
}

static uint64_t timeval_ns(const struct timeval *tv)
{
    if (tv->tv_sec < 0 || tv->tv_usec < 0)
        return 0;
    return (uint64_t)tv->tv_sec * 1000000000u + (uint64_t)tv->tv_usec * 1000u;
}

static struct timeval ns_timeval(uint64_t ns)
{
    return (struct timeval){.tv_sec = (time_t)(ns / 1000000000u),
                            .tv_usec = (suseconds_t)(ns % 1000000000u / 1000u)};
}

/* Keepalive tuning only exists on a connection's pcb, not on a listening one. */
static struct tcp_pcb *conn_pcb(struct sock *s)
{
    return s->type == SOCK_STREAM && s->state != ST_LISTENING ? s->tcp : NULL;
}

long ilwaco_sys_setsockopt(long fd, long level, long opt, const void *val, long len)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    if (!val)
        return -EFAULT;
    int v = 0;
    if (len >= (long)sizeof(int))
        memcpy(&v, val, sizeof(int));

    if (level == SOL_SOCKET) {
        switch (opt) {
        case SO_LINGER: {
            struct linger l;
            if (len < (long)sizeof(l))
                return -EINVAL;
            memcpy(&l, val, sizeof(l));
            s->linger_on = l.l_onoff != 0;
            s->linger_secs = l.l_linger;
            return 0;
        }
        case SO_RCVTIMEO:
        case SO_SNDTIMEO: {
            struct timeval tv;
            if (len < (long)sizeof(tv))
                return -EINVAL;
            memcpy(&tv, val, sizeof(tv));
            *(opt == SO_RCVTIMEO ? &s->rcvtimeo_ns : &s->sndtimeo_ns) = timeval_ns(&tv);
            return 0;
        }
        default:
            break;
        }
        if (len < (long)sizeof(int))
            return -EINVAL;
        switch (opt) {
        case SO_REUSEADDR:
            set_flag(s, SOF_REUSEADDR, v);
            return 0;
        case SO_KEEPALIVE:
            set_flag(s, SOF_KEEPALIVE, v);
            return 0;
        case SO_BROADCAST:
            set_flag(s, SOF_BROADCAST, v);
            return 0;
        case SO_RCVBUF:
            s->rcvbuf = v;
            return 0;
        case SO_SNDBUF:
            s->sndbuf = v;
            return 0;
        case SO_REUSEPORT:
            /* One process per VM: there is nobody to share a port with. */
            return 0;
        default:
            return -ENOPROTOOPT;
        }
    }
    if (len < (long)sizeof(int))
        return -EINVAL;
    if (level == IPPROTO_TCP && s->type == SOCK_STREAM) {
        struct tcp_pcb *pcb = conn_pcb(s);
        switch (opt) {
        case TCP_NODELAY:
            s->nodelay = v != 0;
            if (pcb && v)
                tcp_nagle_disable(pcb);
            else if (pcb)
                tcp_nagle_enable(pcb);
            return 0;
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL:
        case TCP_KEEPCNT:
            if (v <= 0)
                return -EINVAL;
            if (pcb && opt == TCP_KEEPIDLE)
                pcb->keep_idle = (u32_t)v * 1000u;
            else if (pcb && opt == TCP_KEEPINTVL)
                pcb->keep_intvl = (u32_t)v * 1000u;
            else if (pcb)
                pcb->keep_cnt = (u32_t)v;
            return 0;
        default:
            return -ENOPROTOOPT;
        }
    }
    if (level == IPPROTO_IP && (opt == IP_TOS || opt == IP_TTL))
        return 0;
    return -ENOPROTOOPT;
}

static long put_opt(void *val, void *len_arg, const void *data, socklen_t size)
{
    socklen_t *len = len_arg;
    if (!val || !len)
        return -EFAULT;
    socklen_t n = *len < size ? *len : size;
    memcpy(val, data, n);
    *len = n;
    return 0;
}

long ilwaco_sys_getsockopt(long fd, long level, long opt, void *val, void *len)
{
    long r;
    struct sock *s = lookup(fd, &r);
    if (!s)
        return r;
    int v;
    if (level == SOL_SOCKET) {
        switch (opt) {
        case SO_ERROR:
            v = ilwaco_sock_take_err(s);
            break;
        case SO_TYPE:
            v = s->type;
            break;
        case SO_ACCEPTCONN:
            v = s->state == ST_LISTENING;
            break;
        case SO_REUSEADDR:
            v = get_flag(s, SOF_REUSEADDR);
            break;
        case SO_KEEPALIVE:
            v = get_flag(s, SOF_KEEPALIVE);
            break;
        case SO_BROADCAST:
            v = get_flag(s, SOF_BROADCAST);
            break;
        case SO_RCVBUF:
            v = s->rcvbuf ? s->rcvbuf : TCP_WND;
            break;
        case SO_SNDBUF:
            v = s->sndbuf ? s->sndbuf : TCP_SND_BUF;
            break;
        case SO_LINGER: {
            struct linger l = {.l_onoff = s->linger_on, .l_linger = s->linger_secs};
            return put_opt(val, len, &l, sizeof(l));
        }
        case SO_RCVTIMEO:
        case SO_SNDTIMEO: {
            struct timeval tv = ns_timeval(opt == SO_RCVTIMEO ? s->rcvtimeo_ns : s->sndtimeo_ns);
            return put_opt(val, len, &tv, sizeof(tv));
        }
        default:
            return -ENOPROTOOPT;
        }
    } else if (level == IPPROTO_TCP && s->type == SOCK_STREAM) {
        struct tcp_pcb *pcb = conn_pcb(s);
        switch (opt) {
        case TCP_NODELAY:
            v = s->nodelay;
            break;
        case TCP_MAXSEG:
            v = pcb ? tcp_mss(pcb) : TCP_MSS;
            break;
        case TCP_KEEPIDLE:
            v = pcb ? (int)(pcb->keep_idle / 1000u) : (int)(TCP_KEEPIDLE_DEFAULT / 1000u);
            break;
        case TCP_KEEPINTVL:
            v = pcb ? (int)(pcb->keep_intvl / 1000u) : (int)(TCP_KEEPINTVL_DEFAULT / 1000u);
            break;
        case TCP_KEEPCNT:
            v = pcb ? (int)pcb->keep_cnt : (int)TCP_KEEPCNT_DEFAULT;
            break;
        default:
            return -ENOPROTOOPT;
        }
    } else {
        return -ENOPROTOOPT;
    }
    return put_opt(val, len, &v, sizeof(v));
}

long ilwaco_sock_fcntl(struct sock *s, long cmd, long arg)
{
    switch (cmd) {
    case F_GETFL:
        return O_RDWR | (s->nonblock ? O_NONBLOCK : 0);
    case F_SETFL:
        s->nonblock = (arg & O_NONBLOCK) != 0;
        return 0;
    case F_GETFD:
    case F_SETFD:
        /* There is no exec, so close-on-exec means nothing. */
        return 0;
    default:
        return -EINVAL;
    }
}

long ilwaco_sock_ioctl(struct sock *s, unsigned long req, void *arg)
{
    int v;
    switch (req) {
    case FIONBIO:
        if (!arg)
            return -EFAULT;
        memcpy(&v, arg, sizeof(v));
        s->nonblock = v != 0;
        return 0;
    case FIONREAD:
        if (!arg)
            return -EFAULT;
        ilwaco_net_pump();
        if (s->type == SOCK_DGRAM)
            v = s->dq_count ? s->dq[s->dq_head].p->tot_len : 0;
        else
            v = s->rx ? s->rx->tot_len : 0;
        memcpy(arg, &v, sizeof(v));
        return 0;
    default:
        return -ENOTTY;
    }
}
