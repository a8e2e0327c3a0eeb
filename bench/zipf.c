/* zipf: an epoll HTTP/1.1 keep-alive load generator spreading requests over many servers by a Zipf
 * law. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S  1000000000ull

#define DEFAULT_SIZE        2258 /* the Denali paper's web object */
#define DEFAULT_CONCURRENCY 32
#define DEFAULT_MAX_CONNS   1024
#define MAX_TARGETS         100000
#define MAX_OBJECT_SIZE     (1ull << 40)
#define RESPONSE_HEAD_MAX   2048
#define RECV_BUF_SIZE       (256 * 1024)
#define EPOLL_BATCH         512
/* How often in-flight requests are checked against their deadline. */
#define TIMEOUT_SCAN_NS (10 * NS_PER_MS)
/* File descriptors kept free beyond the connections: epoll, stdio, resolver. */
#define FD_RESERVE 32

/* Log-linear latency histogram: 2^HIST_SUB_BITS buckets per power of two, under 1% error. */
#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct options {
    double zipf_s;
    uint64_t size;
    unsigned concurrency;
    double duration_s;
    double warmup_s;
    double timeout_s;
    unsigned max_conns;
    uint64_t seed;
    const char *target_spec; /* as given, for the report */
    const char *path;        /* requested instead of /doc/SIZE when set (--path) */
};

struct target {
    struct sockaddr_in addr;
    char *request;
    size_t request_len;
    uint64_t completed;      /* successful measured requests */
    struct conn *idle_first; /* this target's idle keep-alive connections, most recent first */
};

enum conn_state { CONN_FREE, CONN_CONNECTING, CONN_BUSY, CONN_IDLE };

struct conn {
    int fd;
    uint32_t generation; /* tells a reused slot's events from its previous fd's */
    enum conn_state state;
    uint32_t target;
    bool reused;  /* a response already completed on it */
    bool retried; /* its request is already the one retry */
    uint64_t request_start_ns;
    uint64_t deadline_ns;
    size_t request_sent;
    /* response parsing */
    bool got_bytes;
    bool head_done;
    bool server_closes;
    int status;
    uint64_t content_length;
    uint64_t body_read;
    size_t head_len;
    char head[RESPONSE_HEAD_MAX];
    /* lists: a target's idle pool, the global idle LRU, the free slots */
    struct conn *pool_prev, *pool_next;
    struct conn *lru_prev, *lru_next;
    struct conn *free_next;
};

enum error_kind {
    ERR_CONNECT,
    ERR_TIMEOUT,
    ERR_STATUS,
    ERR_SHORT,
    ERR_RESET,
    ERR_PROTOCOL,
    ERR_KINDS
};

static const char *const error_names[ERR_KINDS] = {
    "connect", "timeout", "bad status", "short body", "reset", "protocol",
};

struct stats {
    uint64_t requests;
    uint64_t body_bytes;
    uint64_t errors[ERR_KINDS];
    uint64_t hist[HIST_BUCKETS];
    uint64_t max_ns;
};

struct loadgen {
    struct options opt;
    struct target *targets;
    uint32_t target_count;
    double *cdf;
    uint64_t rng[4];
    int epoll_fd;
    struct conn *conns;
    struct conn *free_first;
    struct conn *lru_oldest, *lru_newest; /* idle connections of every target */
    unsigned open_conns;
    unsigned in_flight;
    uint64_t timeout_ns;
    uint64_t measure_start_ns;
    struct stats measured;
    struct stats warmup;
    uint64_t conns_opened, conns_evicted, conns_closed_by_server, retries;
};

static char recv_buf[RECV_BUF_SIZE];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- Random numbers and the Zipf law ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: fast, and good enough that the sampled shares match the law. */
static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void rng_seed(uint64_t s[4], uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&seed);
}

/* Uniform in [0, 1). */
static double rng_uniform(uint64_t s[4])
{
    return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* cdf[i] = P(rank <= i) with P(rank = k) proportional to 1 / (k + 1)^s. */
static double *build_zipf_cdf(uint32_t n, double s)
{
    double *cdf = malloc(n * sizeof *cdf);
    if (cdf == NULL)
        return NULL;
    double sum = 0;
    for (uint32_t k = 0; k < n; k++) {
        sum += pow((double)k + 1.0, -s);
        cdf[k] = sum;
    }
    for (uint32_t k = 0; k < n; k++)
        cdf[k] /= sum;
    cdf[n - 1] = 1.0; /* rounding must not leave a gap above the last rank */
    return cdf;
}

/* The first rank whose cumulative probability exceeds u. */
static uint32_t zipf_rank(const double *cdf, uint32_t n, double u)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- Latency histogram ---- */

static unsigned hist_bucket(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS;
    return (shift + 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

/* The middle of bucket b's value range. */
static uint64_t hist_value(unsigned b)
{
    if (b < 2 * HIST_SUB)
        return b;
    unsigned shift = b / HIST_SUB - 1;
    uint64_t low = (uint64_t)(b % HIST_SUB + HIST_SUB) << shift;
    return low + ((1ull << shift) >> 1);
}

static void stats_record(struct stats *st, uint64_t latency_ns, uint64_t body_bytes)
{
    st->requests++;
    st->body_bytes += body_bytes;
    st->hist[hist_bucket(latency_ns)]++;
    if (latency_ns > st->max_ns)
        st->max_ns = latency_ns;
}

static uint64_t stats_percentile(const struct stats *st, double pct)
{
    if (st->requests == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)st->requests);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += st->hist[b];
        if (seen >= rank)
            return hist_value(b) < st->max_ns ? hist_value(b) : st->max_ns;
    }
    return st->max_ns;
}

static uint64_t stats_errors(const struct stats *st)
{
    uint64_t n = 0;
    for (int k = 0; k < ERR_KINDS; k++)
        n += st->errors[k];
    return n;
}

/* ---- Connection bookkeeping ---- */

static struct stats *current_stats(struct loadgen *lg, uint64_t now)
{
    return now >= lg->measure_start_ns ? &lg->measured : &lg->warmup;
}

static void pool_remove(struct loadgen *lg, struct conn *c)
{
    struct target *t = &lg->targets[c->target];
    if (c->pool_prev != NULL)
        c->pool_prev->pool_next = c->pool_next;
    else
        t->idle_first = c->pool_next;
    if (c->pool_next != NULL)
        c->pool_next->pool_prev = c->pool_prev;
    if (c->lru_prev != NULL)
        c->lru_prev->lru_next = c->lru_next;
    else
        lg->lru_oldest = c->lru_next;
    if (c->lru_next != NULL)
        c->lru_next->lru_prev = c->lru_prev;
    else
        lg->lru_newest = c->lru_prev;
    c->pool_prev = c->pool_next = c->lru_prev = c->lru_next = NULL;
}

static void pool_add(struct loadgen *lg, struct conn *c)
{
    struct target *t = &lg->targets[c->target];
    c->state = CONN_IDLE;
    c->pool_prev = NULL;
    c->pool_next = t->idle_first;
    if (t->idle_first != NULL)
        t->idle_first->pool_prev = c;
    t->idle_first = c;
    c->lru_next = NULL;
    c->lru_prev = lg->lru_newest;
    if (lg->lru_newest != NULL)
        lg->lru_newest->lru_next = c;
    else
        lg->lru_oldest = c;
    lg->lru_newest = c;
}

static void close_conn(struct loadgen *lg, struct conn *c)
{
    if (c->state == CONN_IDLE)
        pool_remove(lg, c);
    close(c->fd); /* also drops it from the epoll set */
    c->fd = -1;
    c->state = CONN_FREE;
    c->generation++;
    c->free_next = lg->free_first;
    lg->free_first = c;
    lg->open_conns--;
}

static uint64_t event_key(struct loadgen *lg, const struct conn *c)
{
    return (uint64_t)c->generation << 32 | (uint64_t)(c - lg->conns);
}

static void reset_response(struct conn *c)
{
    c->request_sent = 0;
    c->got_bytes = false;
    c->head_done = false;
    c->server_closes = false;
    c->status = 0;
    c->content_length = 0;
    c->body_read = 0;
    c->head_len = 0;
}

/* Opens a non-blocking connection to target t; NULL when no slot is free (errno set otherwise). */
static struct conn *open_conn(struct loadgen *lg, uint32_t t)
{
    if (lg->free_first == NULL) {
        if (lg->lru_oldest == NULL) {
            errno = 0;
            return NULL; /* every connection carries a request */
        }
        /* Abortive close: churning through idle connections must not pile up TIME_WAIT ports. */
        struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
        (void)setsockopt(lg->lru_oldest->fd, SOL_SOCKET, SO_LINGER, &abort_close,
                         sizeof abort_close);
        close_conn(lg, lg->lru_oldest);
        lg->conns_evicted++;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const struct sockaddr_in *addr = &lg->targets[t].addr;
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    struct conn *c = lg->free_first;
    lg->free_first = c->free_next;
    c->fd = fd;
    c->state = CONN_CONNECTING;
    c->target = t;
    c->reused = false;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = event_key(lg, c)};
    if (epoll_ctl(lg->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("zipf: epoll_ctl");
        exit(1);
    }
    lg->open_conns++;
    lg->conns_opened++;
    return c;
}

/* ---- Requests ---- */

/* Ends c's request; the connection goes back to its target's pool if keep, else closes. */
static void finish_request(struct loadgen *lg, struct conn *c, bool keep)
{
    lg->in_flight--;
    if (!keep) {
        close_conn(lg, c);
        return;
    }
    c->reused = true;
    pool_add(lg, c);
}

static void fail_request(struct loadgen *lg, struct conn *c, enum error_kind kind, uint64_t now)
{
    current_stats(lg, now)->errors[kind]++;
    finish_request(lg, c, false);
}

/* Sends what is left of c's request; returns -1 on a send error (errno set). */
static int send_request(struct loadgen *lg, struct conn *c)
{
    const struct target *t = &lg->targets[c->target];
    while (c->request_sent < t->request_len) {
        ssize_t n = send(c->fd, t->request + c->request_sent, t->request_len - c->request_sent,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            return -1;
        }
        c->request_sent += (size_t)n;
    }
    uint32_t events = EPOLLIN | EPOLLRDHUP;
    if (c->request_sent < t->request_len)
        events |= EPOLLOUT;
    struct epoll_event ev = {.events = events, .data.u64 = event_key(lg, c)};
    if (epoll_ctl(lg->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        perror("zipf: epoll_ctl");
        exit(1);
    }
    return 0;
}

static void server_ended(struct loadgen *lg, struct conn *c, bool reset, uint64_t now);

/* Starts a request on c, which is connected or connecting; start is the request's birth time. */
static void begin_on_conn(struct loadgen *lg, struct conn *c, uint64_t start, bool retried)
{
    reset_response(c);
    c->request_start_ns = start;
    c->deadline_ns = start + lg->timeout_ns;
    c->retried = retried;
    if (c->state == CONN_CONNECTING)
        return; /* sent once the connection completes */
    c->state = CONN_BUSY;
    if (send_request(lg, c) < 0)
        server_ended(lg, c, true, now_ns());
}

/* Re-issues c's request once on a fresh connection after the server closed a reused one. */
static void retry_request(struct loadgen *lg, struct conn *c, uint64_t now)
{
    uint32_t t = c->target;
    uint64_t start = c->request_start_ns;
    close_conn(lg, c);
    lg->retries++;
    struct conn *fresh = open_conn(lg, t);
    if (fresh == NULL) {
        current_stats(lg, now)->errors[ERR_CONNECT]++;
        lg->in_flight--;
        return;
    }
    begin_on_conn(lg, fresh, start, true);
}

/*
 * Starts one request to a Zipf-chosen target on an idle connection to it,
 * or a new one. Returns false when every connection slot is busy.
 */
static bool start_request(struct loadgen *lg, uint64_t now)
{
    uint32_t t = zipf_rank(lg->cdf, lg->target_count, rng_uniform(lg->rng));
    struct conn *c = lg->targets[t].idle_first;
    if (c != NULL) {
        pool_remove(lg, c);
        c->state = CONN_BUSY;
    } else {
        c = open_conn(lg, t);
        if (c == NULL) {
            if (errno == 0)
                return false;
            current_stats(lg, now)->errors[ERR_CONNECT]++;
            return true;
        }
    }
    lg->in_flight++;
    begin_on_conn(lg, c, now, false);
    return true;
}

/* ---- Responses ---- */

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static bool value_has_token(const char *value, size_t len, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i + n <= len; i++)
        if (strncasecmp(value + i, token, n) == 0)
            return true;
    return false;
}

/* Parses the complete response head in c->head; returns false if it is malformed. */
static bool parse_response_head(struct conn *c)
{
    const char *p = c->head, *end = c->head + c->head_len;
    bool http10 = false, keep_alive = false, have_length = false;
    for (bool first = true; p < end; first = false) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return false;
        size_t len = (size_t)(nl - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (len == 0)
            break;
        if (first) {
            if (len < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || p[9] < '1' ||
                p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
                return false;
            http10 = p[7] == '0';
            c->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
        } else if (header_is(p, len, "content-length")) {
            char *digits_end;
            const char *v = p + 15;
            while (v < p + len && (*v == ' ' || *v == '\t'))
                v++;
            errno = 0;
            unsigned long long n = strtoull(v, &digits_end, 10);
            if (v == p + len || *v < '0' || *v > '9' || errno != 0)
                return false;
            while (digits_end < p + len && (*digits_end == ' ' || *digits_end == '\t'))
                digits_end++;
            if (digits_end != p + len)
                return false;
            c->content_length = n;
            have_length = true;
        } else if (header_is(p, len, "connection")) {
            if (value_has_token(p + 11, len - 11, "close"))
                c->server_closes = true;
            if (value_has_token(p + 11, len - 11, "keep-alive"))
                keep_alive = true;
        } else if (header_is(p, len, "transfer-encoding")) {
            return false; /* only Content-Length framing is supported */
        }
        p = nl + 1;
    }
    if (http10 && !keep_alive)
        c->server_closes = true;
    return have_length;
}

/* Takes response bytes; returns false once the request has finished (either way). */
static bool take_response_bytes(struct loadgen *lg, struct conn *c, const char *data, size_t len,
                                uint64_t now)
{
    c->got_bytes = true;
    if (!c->head_done) {
        size_t room = sizeof c->head - c->head_len;
        size_t take = len < room ? len : room;
        memcpy(c->head + c->head_len, data, take);
        size_t scan_from = c->head_len >= 3 ? c->head_len - 3 : 0;
        c->head_len += take;
        char *end = memmem(c->head + scan_from, c->head_len - scan_from, "\r\n\r\n", 4);
        if (end == NULL) {
            if (c->head_len == sizeof c->head) {
                fail_request(lg, c, ERR_PROTOCOL, now);
                return false;
            }
            return true;
        }
        size_t head_bytes = (size_t)(end + 4 - c->head);
        size_t body_here = c->head_len - head_bytes;
        c->head_len = head_bytes;
        c->head_done = true;
        if (!parse_response_head(c)) {
            fail_request(lg, c, ERR_PROTOCOL, now);
            return false;
        }
        /* Whatever followed the head in this read, beyond what we copied, is body too. */
        c->body_read = body_here + (len - take);
    } else {
        c->body_read += len;
    }
    if (c->body_read < c->content_length)
        return true;
    if (c->body_read > c->content_length) {
        fail_request(lg, c, ERR_PROTOCOL, now); /* bytes we never asked for */
        return false;
    }
    if (c->status != 200) {
        current_stats(lg, now)->errors[ERR_STATUS]++;
        finish_request(lg, c, !c->server_closes);
        return false;
    }
    if (c->content_length != lg->opt.size) {
        current_stats(lg, now)->errors[ERR_SHORT]++;
        finish_request(lg, c, !c->server_closes);
        return false;
    }
    struct stats *st = current_stats(lg, now);
    stats_record(st, now - c->request_start_ns, c->content_length);
    if (st == &lg->measured)
        lg->targets[c->target].completed++;
    finish_request(lg, c, !c->server_closes);
    return false;
}

/* The server ended the connection (EOF or reset) while c was busy. */
static void server_ended(struct loadgen *lg, struct conn *c, bool reset, uint64_t now)
{
    lg->conns_closed_by_server++;
    if (!c->got_bytes && c->reused && !c->retried) {
        retry_request(lg, c, now); /* it timed out our keep-alive just as we reused it */
        return;
    }
    if (c->head_done)
        fail_request(lg, c, ERR_SHORT, now);
    else
        fail_request(lg, c, reset || !c->got_bytes ? ERR_RESET : ERR_PROTOCOL, now);
}

static void on_readable(struct loadgen *lg, struct conn *c, uint64_t now)
{
    for (;;) {
        ssize_t n = recv(c->fd, recv_buf, sizeof recv_buf, 0);
        if (n > 0) {
            /* Data nobody asked for: do not trust the connection any more. */
            if (c->state == CONN_IDLE) {
                close_conn(lg, c);
                return;
            }
            if (c->request_sent == 0) {
                fail_request(lg, c, ERR_PROTOCOL, now);
                return;
            }
            if (!take_response_bytes(lg, c, recv_buf, (size_t)n, now))
                return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        bool reset = n < 0;
        if (c->state == CONN_IDLE) {
            lg->conns_closed_by_server++;
            close_conn(lg, c);
        } else {
            server_ended(lg, c, reset, now);
        }
        return;
    }
}

static void on_connected(struct loadgen *lg, struct conn *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        fail_request(lg, c, ERR_CONNECT, now);
        return;
    }
    c->state = CONN_BUSY;
    if (send_request(lg, c) < 0)
        fail_request(lg, c, ERR_RESET, now);
}

static void on_event(struct loadgen *lg, uint64_t key, uint32_t events, uint64_t now)
{
    struct conn *c = &lg->conns[(uint32_t)key];
    if (c->state == CONN_FREE || c->generation != (uint32_t)(key >> 32))
        return; /* closed earlier in this batch */
    if (c->state == CONN_CONNECTING) {
        on_connected(lg, c, now);
        return;
    }
    if (c->state == CONN_BUSY && (events & EPOLLOUT)) {
        if (send_request(lg, c) < 0) {
            server_ended(lg, c, true, now);
            return;
        }
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(lg, c, now);
}

static void expire_requests(struct loadgen *lg, uint64_t now)
{
    for (unsigned i = 0; i < lg->opt.max_conns; i++) {
        struct conn *c = &lg->conns[i];
        if ((c->state == CONN_BUSY || c->state == CONN_CONNECTING) && now >= c->deadline_ns)
            fail_request(lg, c, c->state == CONN_CONNECTING ? ERR_CONNECT : ERR_TIMEOUT, now);
    }
}

/* ---- The run ---- */

static void run(struct loadgen *lg)
{
    uint64_t start = now_ns();
    lg->measure_start_ns = start + (uint64_t)(lg->opt.warmup_s * (double)NS_PER_S);
    uint64_t end = lg->measure_start_ns + (uint64_t)(lg->opt.duration_s * (double)NS_PER_S);
    uint64_t last_scan = start;
    struct epoll_event events[EPOLL_BATCH];
    for (uint64_t now = start; now < end; now = now_ns()) {
        /* Bounded, so that connections failing at once cannot spin here forever. */
        for (unsigned k = 0; k < lg->opt.concurrency && lg->in_flight < lg->opt.concurrency; k++)
            if (!start_request(lg, now))
                break;
        uint64_t wait_ms = (end - now) / NS_PER_MS;
        int n = epoll_wait(lg->epoll_fd, events, EPOLL_BATCH, wait_ms < 10 ? (int)wait_ms : 10);
        if (n < 0 && errno != EINTR) {
            perror("zipf: epoll_wait");
            exit(1);
        }
        now = now_ns();
        for (int i = 0; i < n; i++)
            on_event(lg, events[i].data.u64, events[i].events, now);
        if (now - last_scan >= TIMEOUT_SCAN_NS) {
            expire_requests(lg, now);
            last_scan = now;
        }
    }
}

static int compare_targets_by_share(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Observed share of rank 0 and ranks 0..9 against the law, plus the busiest targets seen. */
static void print_distribution(const struct loadgen *lg)
{
    uint64_t total = lg->measured.requests;
    if (total == 0)
        return;
    uint32_t n = lg->target_count;
    uint32_t top10 = n < 10 ? n : 10;
    uint64_t top1_count = lg->targets[0].completed, top10_count = 0;
    for (uint32_t i = 0; i < top10; i++)
        top10_count += lg->targets[i].completed;
    uint64_t *sorted = malloc(n * sizeof *sorted);
    uint64_t busiest_10 = 0;
    if (sorted != NULL) {
        for (uint32_t i = 0; i < n; i++)
            sorted[i] = lg->targets[i].completed;
        qsort(sorted, n, sizeof *sorted, compare_targets_by_share);
        for (uint32_t i = 0; i < top10; i++)
            busiest_10 += sorted[i];
    }
    uint32_t reached = 0;
    for (uint32_t i = 0; i < n; i++)
        reached += lg->targets[i].completed > 0;
    printf("  rank 0 share     %6.2f%% (law %.2f%%)\n", 100.0 * (double)top1_count / (double)total,
           100.0 * lg->cdf[0]);
    printf("  ranks 0-%u share  %6.2f%% (law %.2f%%; busiest %u targets seen: %.2f%%)\n", top10 - 1,
           100.0 * (double)top10_count / (double)total, 100.0 * lg->cdf[top10 - 1], top10,
           100.0 * (double)busiest_10 / (double)total);
    printf("  targets reached  %u of %u\n", reached, n);
    free(sorted);
}

static void print_report(const struct loadgen *lg)
{
    const struct options *o = &lg->opt;
    const struct stats *st = &lg->measured;
    double seconds = o->duration_s;
    double rps = (double)st->requests / seconds;
    double mbps = (double)st->body_bytes / 1e6 / seconds;
    uint64_t p50 = stats_percentile(st, 50) / NS_PER_US, p90 = stats_percentile(st, 90) / NS_PER_US,
             p99 = stats_percentile(st, 99) / NS_PER_US;
    uint64_t errors = stats_errors(st);

    if (o->path)
        printf("zipf: %u targets (%s), zipf s=%.2f, GET %s (%llu bytes), concurrency %u, %.2f s "
               "after %.2f s warmup\n",
               lg->target_count, o->target_spec, o->zipf_s, o->path, (unsigned long long)o->size,
               o->concurrency, o->duration_s, o->warmup_s);
    else
        printf("zipf: %u targets (%s), zipf s=%.2f, GET /doc/%llu, concurrency %u, %.2f s after "
               "%.2f s warmup\n",
               lg->target_count, o->target_spec, o->zipf_s, (unsigned long long)o->size,
               o->concurrency, o->duration_s, o->warmup_s);
    printf("  requests         %llu\n", (unsigned long long)st->requests);
    printf("  requests/s       %.1f\n", rps);
    printf("  MB/s (bodies)    %.2f\n", mbps);
    printf("  latency us       p50 %llu  p90 %llu  p99 %llu  max %llu\n", (unsigned long long)p50,
           (unsigned long long)p90, (unsigned long long)p99,
           (unsigned long long)(st->max_ns / NS_PER_US));
    printf("  errors           %llu", (unsigned long long)errors);
    for (int k = 0; k < ERR_KINDS; k++)
        printf("%s%s %llu", k == 0 ? " (" : ", ", error_names[k],
               (unsigned long long)st->errors[k]);
    printf(")\n");
    printf("  warmup           %llu requests, %llu errors\n",
           (unsigned long long)lg->warmup.requests, (unsigned long long)stats_errors(&lg->warmup));
    printf("  connections      %llu opened, %llu evicted (LRU), %llu closed by servers, "
           "%llu retries\n",
           (unsigned long long)lg->conns_opened, (unsigned long long)lg->conns_evicted,
           (unsigned long long)lg->conns_closed_by_server, (unsigned long long)lg->retries);
    print_distribution(lg);
    printf("ZIPF targets=%u zipf=%g size=%llu concurrency=%u duration_s=%g requests=%llu rps=%.1f "
           "mbps=%.2f p50_us=%llu p99_us=%llu errors=%llu\n",
           lg->target_count, o->zipf_s, (unsigned long long)o->size, o->concurrency, o->duration_s,
           (unsigned long long)st->requests, rps, mbps, (unsigned long long)p50,
           (unsigned long long)p99, (unsigned long long)errors);
}

/* ---- Options ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: zipf TARGETS [OPTIONS]\n"
            "HTTP/1.1 keep-alive load over N web servers whose popularity follows a Zipf law\n"
            "(target rank 0 the most popular); each request is GET /doc/SIZE\n"
            "(or --path).\n"
            "\n"
            "TARGETS (exactly one):\n"
            "  --target HOST:PORT          one server\n"
            "  --ports HOST:PORT0-PORTN    servers on consecutive ports; target i = PORT0 + i\n"
            "  --addrs A.B.C.D+N:PORT      N servers on consecutive IPv4 addresses, one port\n"
            "\n"
            "OPTIONS:\n"
            "  -s, --zipf S          Zipf exponent (default 1.0; 0 = uniform)\n"
            "      --size BYTES      object size requested as /doc/BYTES (default %d)\n"
            "      --path PATH       request PATH (e.g. a static file) instead of /doc/SIZE; its\n"
            "                        body must still be SIZE bytes\n"
            "  -c, --concurrency C   requests in flight (default %d)\n"
            "  -d, --duration SECS   measured time, may be fractional (default 5)\n"
            "      --warmup SECS     time before measuring; its requests are not counted "
            "(default 0.5)\n"
            "      --timeout SECS    per-request deadline, connect included (default 5)\n"
            "      --max-conns N     open connections at most; idle ones are closed LRU to make\n"
            "                        room (default %d; bounded by the fd limit)\n"
            "      --seed N          seed of the target-choice PRNG (default 1)\n"
            "  -h, --help            this text\n"
            "\n"
            "A reused keep-alive connection the server closed before any response byte is\n"
            "retried once on a fresh connection. Any other failure is an error: connect,\n"
            "timeout, bad status (not 200), short body (EOF mid-body or Content-Length not\n"
            "SIZE), reset (closed before a response), protocol (a malformed response).\n"
            "\n"
            "Output: a table, then one line\n"
            "  ZIPF targets=N zipf=S size=B concurrency=C duration_s=D requests=R rps=X mbps=Y\n"
            "       p50_us=A p99_us=B errors=E\n"
            "(mbps = body megabytes, 10^6 bytes, per second). Exit status 0 when requests > 0\n"
            "and errors = 0, 1 otherwise, 2 for bad options.\n",
            DEFAULT_SIZE, DEFAULT_CONCURRENCY, DEFAULT_MAX_CONNS);
}

static _Noreturn void bad_option(const char *fmt, const char *arg)
{
    fprintf(stderr, "zipf: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see zipf --help)\n");
    exit(2);
}

static double parse_number(const char *s, const char *what, double min)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(x) || x < min || x > 1e6)
        bad_option(what, s);
    return x;
}

static uint64_t parse_count(const char *s, const char *what, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        bad_option(what, s);
    unsigned long long x = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || x < min || x > max)
        bad_option(what, s);
    return x;
}

/* Resolves an IPv4 host name or dotted address; returns 0 on success. */
static int resolve_ipv4(const char *host, struct in_addr *out)
{
    if (inet_pton(AF_INET, host, out) == 1)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return -1;
    *out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

/* Splits "HOST:REST" at the last colon into host (copied into buf) and rest. */
static const char *split_host(const char *spec, char *buf, size_t len)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || (size_t)(colon - spec) >= len)
        bad_option("'%s' needs HOST:PORT", spec);
    memcpy(buf, spec, (size_t)(colon - spec));
    buf[colon - spec] = '\0';
    return colon + 1;
}

static void add_targets(struct loadgen *lg, struct in_addr first, uint32_t count, uint16_t port0,
                        bool by_port)
{
    lg->target_count = count;
    lg->targets = calloc(count, sizeof *lg->targets);
    if (lg->targets == NULL)
        bad_option("%s", "out of memory for the targets");
    for (uint32_t i = 0; i < count; i++) {
        struct sockaddr_in *a = &lg->targets[i].addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = by_port ? first.s_addr : htonl(ntohl(first.s_addr) + i);
        a->sin_port = htons((uint16_t)(port0 + (by_port ? i : 0)));
    }
}

static void parse_target(struct loadgen *lg, const char *spec)
{
    char host[256];
    const char *port_text = split_host(spec, host, sizeof host);
    struct in_addr addr;
    if (resolve_ipv4(host, &addr) < 0)
        bad_option("cannot resolve host in '%s'", spec);
    add_targets(lg, addr, 1, (uint16_t)parse_count(port_text, "bad port in '%s'", 1, 65535), true);
}

static void parse_ports(struct loadgen *lg, const char *spec)
{
    char host[256], first[16];
    const char *range = split_host(spec, host, sizeof host);
    const char *dash = strchr(range, '-');
    if (dash == NULL || dash == range || (size_t)(dash - range) >= sizeof first)
        bad_option("'%s' needs HOST:PORT0-PORTN", spec);
    memcpy(first, range, (size_t)(dash - range));
    first[dash - range] = '\0';
    uint64_t p0 = parse_count(first, "bad first port in '%s'", 1, 65535);
    uint64_t p1 = parse_count(dash + 1, "bad last port in '%s'", 1, 65535);
    if (p1 < p0)
        bad_option("port range '%s' runs backwards", spec);
    struct in_addr addr;
    if (resolve_ipv4(host, &addr) < 0)
        bad_option("cannot resolve host in '%s'", spec);
    add_targets(lg, addr, (uint32_t)(p1 - p0 + 1), (uint16_t)p0, true);
}

static void parse_addrs(struct loadgen *lg, const char *spec)
{
    char base[64], count_text[16];
    const char *plus = strchr(spec, '+');
    const char *colon = strrchr(spec, ':');
    if (plus == NULL || colon == NULL || colon < plus || (size_t)(plus - spec) >= sizeof base ||
        (size_t)(colon - plus - 1) >= sizeof count_text)
        bad_option("'%s' needs A.B.C.D+N:PORT", spec);
    memcpy(base, spec, (size_t)(plus - spec));
    base[plus - spec] = '\0';
    memcpy(count_text, plus + 1, (size_t)(colon - plus - 1));
    count_text[colon - plus - 1] = '\0';
    struct in_addr addr;
    if (inet_pton(AF_INET, base, &addr) != 1)
        bad_option("bad IPv4 address in '%s'", spec);
    uint64_t count = parse_count(count_text, "bad count in '%s'", 1, MAX_TARGETS);
    if (ntohl(addr.s_addr) + (count - 1) < ntohl(addr.s_addr))
        bad_option("address range '%s' wraps past 255.255.255.255", spec);
    add_targets(lg, addr, (uint32_t)count,
                (uint16_t)parse_count(colon + 1, "bad port in '%s'", 1, 65535), false);
}

enum long_only {
    OPT_TARGET = 256,
    OPT_PORTS,
    OPT_ADDRS,
    OPT_SIZE,
    OPT_WARMUP,
    OPT_TIMEOUT,
    OPT_MAX_CONNS,
    OPT_SEED,
    OPT_PATH
};

static void parse_options(struct loadgen *lg, int argc, char **argv)
{
    static const struct option longs[] = {
        {"target", required_argument, NULL, OPT_TARGET},
        {"ports", required_argument, NULL, OPT_PORTS},
        {"addrs", required_argument, NULL, OPT_ADDRS},
        {"zipf", required_argument, NULL, 's'},
        {"size", required_argument, NULL, OPT_SIZE},
        {"concurrency", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"path", required_argument, NULL, OPT_PATH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct options *o = &lg->opt;
    *o = (struct options){.zipf_s = 1.0,
                          .size = DEFAULT_SIZE,
                          .concurrency = DEFAULT_CONCURRENCY,
                          .duration_s = 5,
                          .warmup_s = 0.5,
                          .timeout_s = 5,
                          .max_conns = DEFAULT_MAX_CONNS,
                          .seed = 1};
    int opt;
    while ((opt = getopt_long(argc, argv, "s:c:d:h", longs, NULL)) != -1) {
        if ((opt == OPT_TARGET || opt == OPT_PORTS || opt == OPT_ADDRS) && o->target_spec != NULL)
            bad_option("only one of --target, --ports, --addrs (second: '%s')", optarg);
        switch (opt) {
        case OPT_TARGET:
            o->target_spec = optarg;
            parse_target(lg, optarg);
            break;
        case OPT_PORTS:
            o->target_spec = optarg;
            parse_ports(lg, optarg);
            break;
        case OPT_ADDRS:
            o->target_spec = optarg;
            parse_addrs(lg, optarg);
            break;
        case 's':
            o->zipf_s = parse_number(optarg, "bad Zipf exponent '%s' (0 or more)", 0);
            break;
        case OPT_SIZE:
            o->size = parse_count(optarg, "bad size '%s'", 0, MAX_OBJECT_SIZE);
            break;
        case 'c':
            o->concurrency =
                (unsigned)parse_count(optarg, "bad concurrency '%s' (1..100000)", 1, 100000);
            break;
        case 'd':
            o->duration_s = parse_number(optarg, "bad duration '%s' (seconds > 0)", 1e-3);
            break;
        case OPT_WARMUP:
            o->warmup_s = parse_number(optarg, "bad warmup '%s' (seconds >= 0)", 0);
            break;
        case OPT_TIMEOUT:
            o->timeout_s = parse_number(optarg, "bad timeout '%s' (seconds > 0)", 1e-3);
            break;
        case OPT_MAX_CONNS:
            o->max_conns =
                (unsigned)parse_count(optarg, "bad connection limit '%s' (1..1000000)", 1, 1000000);
            break;
        case OPT_SEED:
            o->seed = parse_count(optarg, "bad seed '%s'", 0, UINT64_MAX);
            break;
        case OPT_PATH:
            /* Goes into the request line as it is: a space or line break would forge another. */
            if (optarg[0] != '/' || strpbrk(optarg, " \t\r\n") != NULL)
                bad_option("bad path '%s' (starts with /, no spaces)", optarg);
            o->path = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "zipf: see zipf --help\n");
            exit(2);
        }
    }
    if (optind != argc)
        bad_option("unexpected argument '%s'", argv[optind]);
    if (o->target_spec == NULL)
        bad_option("%s", "no targets: give --target, --ports or --addrs");
}

/* Raises the fd limit as far as allowed and checks --max-conns fits under it. */
static void check_fd_limit(unsigned max_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    (void)getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)max_conns + FD_RESERVE > rl.rlim_cur) {
        char limit[32];
        snprintf(limit, sizeof limit, "%llu", (unsigned long long)rl.rlim_cur);
        bad_option("--max-conns is over the file descriptor limit %s (less a reserve of 32)",
                   limit);
    }
}

static void build_requests(struct loadgen *lg)
{
    for (uint32_t i = 0; i < lg->target_count; i++) {
        struct target *t = &lg->targets[i];
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &t->addr.sin_addr, ip, sizeof ip);
        int n =
            lg->opt.path
                ? asprintf(&t->request, "GET %s HTTP/1.1\r\nHost: %s:%u\r\n\r\n", lg->opt.path, ip,
                           (unsigned)ntohs(t->addr.sin_port))
                : asprintf(&t->request, "GET /doc/%llu HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
                           (unsigned long long)lg->opt.size, ip, (unsigned)ntohs(t->addr.sin_port));
        if (n < 0) {
            fprintf(stderr, "zipf: out of memory\n");
            exit(1);
        }
        t->request_len = (size_t)n;
    }
}

static void setup(struct loadgen *lg)
{
    check_fd_limit(lg->opt.max_conns);
    if (lg->opt.max_conns < lg->opt.concurrency)
        fprintf(stderr, "zipf: note: --max-conns %u keeps at most %u requests in flight\n",
                lg->opt.max_conns, lg->opt.max_conns);
    build_requests(lg);
    lg->cdf = build_zipf_cdf(lg->target_count, lg->opt.zipf_s);
    lg->conns = calloc(lg->opt.max_conns, sizeof *lg->conns);
    if (lg->cdf == NULL || lg->conns == NULL) {
        fprintf(stderr, "zipf: out of memory\n");
        exit(1);
    }
    for (unsigned i = lg->opt.max_conns; i-- > 0;) {
        lg->conns[i].fd = -1;
        lg->conns[i].free_next = lg->free_first;
        lg->free_first = &lg->conns[i];
    }
    rng_seed(lg->rng, lg->opt.seed);
    lg->timeout_ns = (uint64_t)(lg->opt.timeout_s * (double)NS_PER_S);
    lg->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (lg->epoll_fd < 0) {
        perror("zipf: epoll_create1");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static struct loadgen lg;
    parse_options(&lg, argc, argv);
    setup(&lg);
    run(&lg);
    print_report(&lg);
    return lg.measured.requests > 0 && stats_errors(&lg.measured) == 0 ? 0 : 1;
}
