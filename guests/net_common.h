/* Helpers shared by the network guests (httpd, echo, lanpeer), in a VM or natively. */
#ifndef GUESTS_NET_COMMON_H
#define GUESTS_NET_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

/* CLOCK_MONOTONIC in nanoseconds (ilwaco's virtual time inside a VM). */
uint64_t net_now_ns(void);

/* Sleeps for ms milliseconds. */
void net_sleep_ms(unsigned ms);

/* Puts fd in non-blocking mode; returns 0 or -1 with errno set. */
int net_set_nonblocking(int fd);

/* Turns off Nagle's algorithm; failure is harmless, so it is not reported. */
void net_set_nodelay(int fd);

/*
 * A non-blocking TCP socket listening on 0.0.0.0:port with SO_REUSEADDR.
 * Returns the fd, or -1 with errno set.
 */
int net_listen(uint16_t port, int backlog);

/* Parses a TCP port 1..65535; returns 0 on success. */
int net_parse_port(const char *s, uint16_t *out);

/* Parses a decimal unsigned integer in [min, max] with nothing after it; returns 0 on success. */
int net_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Formats an IPv4 address given in network byte order as dotted decimal into buf (>= 16 bytes). */
void net_format_ipv4(uint32_t ipv4_be, char *buf, size_t len);

/*
 * Describes where this program runs, for start lines: in a VM "VM <id>" and
 * the VM's address, natively "" and 0.0.0.0.
 */
struct net_identity {
    bool in_vm;
    unsigned vm_id;
    unsigned vm_count;
    uint32_t ipv4_be;
};

struct net_identity net_identity(void);

/* Prints "<prog>: [VM <id> ]listening on <ip>:<port>" with the given suffix. */
void net_print_listening(const char *prog, uint16_t port, const char *suffix);

/*
 * A poll-driven echo/discard service: accepts on one or more listeners and
 * either echoes every byte back (with backpressure: it stops reading while
 * its buffer is full) or reads and drops them. Used by the echo guest and by
 * lanpeer's server.
 */
enum stream_mode { STREAM_ECHO, STREAM_DISCARD };

struct stream_conn;
struct pollfd;

/* Called once per connection when it ends, with what it carried. */
typedef void (*stream_closed_fn)(void *ctx, enum stream_mode mode, uint64_t bytes_in,
                                 uint64_t bytes_out, bool clean);

struct stream_server {
    int listen_fd[2];
    enum stream_mode listen_mode[2];
    size_t listeners;
    struct stream_conn *conns;
    struct pollfd *pollfds; /* one per listener then per connection, rebuilt every step */
    size_t conn_count;
    size_t conn_cap;
    stream_closed_fn on_closed;
    void *ctx;
    bool quiet;
};

/* Sets up an empty server that will hold up to cap connections. */
void stream_server_init(struct stream_server *s, size_t cap, stream_closed_fn on_closed, void *ctx);

/* Adds a listener on port with mode; returns 0 or -1 with errno set. */
int stream_server_listen(struct stream_server *s, uint16_t port, enum stream_mode mode);

/*
 * Allocates the connection table once the listeners exist (in a VM the
 * first socket reserves the network stack's heap, which must come first).
 * A small VM gets fewer connections: the cap halves until the table fits,
 * down to min_cap. Returns the cap obtained, or 0 when even min_cap fails.
 */
size_t stream_server_reserve(struct stream_server *s, size_t min_cap);

/* Allocates *count zeroed elements of size bytes, halving *count down to min_count until it fits.
 */
void *net_calloc_shrinking(size_t *count, size_t min_count, size_t size);

/* Runs one poll round of at most timeout_ms; returns 0, or -1 on a fatal poll error. */
int stream_server_step(struct stream_server *s, int timeout_ms);

#endif
