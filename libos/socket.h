/* ilwaco's private socket objects: one per BSD socket, over an lwIP raw-API pcb. */
#ifndef ILWACO_SOCKET_H
#define ILWACO_SOCKET_H

#include <stdint.h>
#include <sys/uio.h>

#include "lwip/tcp.h"
#include "lwip/udp.h"

#include "fd_table.h"

/* Socket objects, accepted-but-not-yet-accept()ed connections included. */
#define ILWACO_SOCK_MAX 128
/* Datagrams a UDP socket holds before dropping new ones. */
#define ILWACO_UDP_QUEUE 8

enum sock_state {
    ST_NEW,        /* created, perhaps bound */
    ST_LISTENING,  /* TCP: pcb is a listen pcb */
    ST_CONNECTING, /* TCP: SYN sent */
    ST_CONNECTED,  /* TCP: established (UDP: has a default peer) */
    ST_DEAD,       /* TCP: lwIP freed the pcb (reset, abort) or we closed it */
};

struct dgram {
    struct pbuf *p;
    uint32_t addr; /* network byte order */
    uint16_t port; /* host byte order */
};

struct sock {
    int in_use;
    int type; /* SOCK_STREAM or SOCK_DGRAM */
    int nonblock;
    enum sock_state state;
    struct tcp_pcb *tcp;
    struct udp_pcb *udp;
    /* The error SO_ERROR reports and the next call returns (positive errno), 0 if none. */
    int err;
    int shut_rd, shut_wr;

    /* TCP receive side: unread bytes, acknowledged to lwIP only as they are read. */
    struct pbuf *rx;
    int rx_fin; /* the peer sent FIN */

    /* Listening: connections accepted by lwIP, waiting for accept(). */
    struct sock *queue_head, *queue_tail;
    struct sock *queue_next;
    struct sock *listener; /* for a queued connection: its listener */

    /* UDP: a ring of received datagrams. */
    struct dgram dq[ILWACO_UDP_QUEUE];
    unsigned dq_head, dq_count;

    /* Options kept for getsockopt, and those applied at accept or close. */
    int nodelay;
    int linger_on, linger_secs;
    int rcvbuf, sndbuf;
    uint64_t rcvtimeo_ns, sndtimeo_ns; /* 0: wait forever */
};

/* socket_table.c: the socket objects (fd_table.h has the descriptors). */
struct sock *ilwaco_sock_alloc(int type);
void ilwaco_sock_free(struct sock *s);

/* socket_tcp.c: the lwIP callbacks and what hangs off them. */
void ilwaco_tcp_attach(struct sock *s);
/* Cuts pcb loose from its socket; lwIP then finishes (or discards) it on its own. */
void ilwaco_tcp_detach(struct tcp_pcb *pcb);
err_t ilwaco_tcp_on_accept(void *arg, struct tcp_pcb *newpcb, err_t err);
err_t ilwaco_tcp_on_connected(void *arg, struct tcp_pcb *pcb, err_t err);
void ilwaco_udp_on_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                        u16_t port);
/* Removes and returns the first connection waiting on listener l, or NULL. */
struct sock *ilwaco_sock_dequeue(struct sock *l);
/* Drops the data s holds (telling TCP the window is free again). */
void ilwaco_sock_drop_rx(struct sock *s);
/* Keeps at most a few pcbs in TIME-WAIT, dropping the oldest first. */
void ilwaco_tcp_trim_time_wait(void);

/* A positive errno for an lwIP error. */
int ilwaco_err_errno(err_t e);
/* Takes the pending error (SO_ERROR semantics). */
int ilwaco_sock_take_err(struct sock *s);
/*
 * Waits until s shows one of events (or an error or hang-up), up to
 * timeout_ns (0: forever). Returns 1 when it does, 0 on timeout.
 */
int ilwaco_sock_wait(struct sock *s, short events, uint64_t timeout_ns);
/* Waits a short while for memory to be freed elsewhere in the stack. */
void ilwaco_sock_wait_memory(void);

/* AF_INET sockaddr conversions; the parse returns 0 or a negative errno. */
long ilwaco_sin_parse(const void *addr, unsigned len, ip4_addr_t *ip, u16_t *port);
void ilwaco_sin_store(void *addr, void *addrlen, uint32_t ip, u16_t port);

/* socket_io.c, sys_sockopt.c, sys_socket.c: what read/write/close/fcntl/ioctl/poll need. */
long ilwaco_sock_recv_iov(struct sock *s, const struct iovec *iov, long iovcnt, int flags,
                          void *addr, void *addrlen, int *msg_flags);
long ilwaco_sock_send_iov(struct sock *s, const struct iovec *iov, long iovcnt, int flags,
                          const void *addr, unsigned addrlen);
long ilwaco_sock_close(struct sock *s);
long ilwaco_sock_fcntl(struct sock *s, long cmd, long arg);
long ilwaco_sock_ioctl(struct sock *s, unsigned long req, void *arg);
/* poll(2) bits that hold for s right now (POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP). */
short ilwaco_sock_events(struct sock *s);

#endif
