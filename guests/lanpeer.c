/* VM-to-VM LAN test guest: VM 0 serves echo and discard, VMs 1..N-1 measure round trips or bulk
 * rate. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_common.h"

#define ECHO_PORT         7
#define DISCARD_PORT      9
#define CLIENT_TIMEOUT_NS (30 * NS_PER_S)
#define SERVER_TIMEOUT_NS (60 * NS_PER_S)
#define CONNECT_RETRY_MS  100
#define MAX_ROUNDS        100000
#define MAX_ECHO_SIZE     (1024 * 1024)
#define MAX_BULK_MIB      4096
#define BULK_CHUNK        (64 * 1024)

enum mode { MODE_ECHO, MODE_BULK };

struct options {
    enum mode mode;
    uint64_t rounds;
    uint64_t size;
    uint64_t mbytes;
};

/* ---- Server (VM 0) ---- */

struct server_tally {
    unsigned clients_done;
    uint64_t bytes_in;
    uint64_t bytes_out;
};

static void count_client(void *ctx, enum stream_mode mode, uint64_t bytes_in, uint64_t bytes_out,
                         bool clean)
{
    (void)mode;
    (void)clean; /* a client that failed halfway reports that itself */
    struct server_tally *t = ctx;
    t->clients_done++;
    t->bytes_in += bytes_in;
    t->bytes_out += bytes_out;
}

static int run_server(const struct options *opt, unsigned clients)
{
    struct server_tally tally = {0};
    struct stream_server server;
    stream_server_init(&server, clients + 8, count_client, &tally);
    if (stream_server_listen(&server, ECHO_PORT, STREAM_ECHO) < 0 ||
        stream_server_listen(&server, DISCARD_PORT, STREAM_DISCARD) < 0) {
        fprintf(stderr, "lanpeer: server cannot listen: %s\n", strerror(errno));
        return 1;
    }
    /* Every client needs its slot at once, or the count of finished clients never completes. */
    if (stream_server_reserve(&server, clients + 1) == 0) {
        fprintf(stderr, "lanpeer: server out of memory for %u clients\n", clients);
        return 1;
    }
    net_print_listening("lanpeer", ECHO_PORT, " (echo), discard on port 9");
    uint64_t deadline = net_now_ns() + SERVER_TIMEOUT_NS;
    while (tally.clients_done < clients) {
        uint64_t now = net_now_ns();
        if (now >= deadline) {
            fprintf(stderr, "lanpeer: server timed out after 60 s with %u of %u clients done\n",
                    tally.clients_done, clients);
            return 1;
        }
        if (stream_server_step(&server, 200) < 0) {
            fprintf(stderr, "lanpeer: server poll failed: %s\n", strerror(errno));
            return 1;
        }
    }
    if (opt->mode == MODE_BULK)
        printf("lanpeer: server received %llu bytes from %u clients\n",
               (unsigned long long)tally.bytes_in, tally.clients_done);
    else
        printf("lanpeer: server echoed %llu bytes for %u clients\n",
               (unsigned long long)tally.bytes_out, tally.clients_done);
    return 0;
}

/* ---- Client plumbing ---- */

/* Milliseconds left until deadline for poll, at least 1 while any remains. */
static int ms_until(uint64_t deadline)
{
    uint64_t now = net_now_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > 1000 ? 1000 : (int)ms;
}

/* Waits until fd is ready for events; returns revents, 0 on timeout, -1 on poll failure. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        int ms = ms_until(deadline);
        if (ms == 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, ms);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r > 0)
            return p.revents;
    }
}

/* One non-blocking connect attempt; returns the connected fd or -1 (errno set). */
static int try_connect(const struct sockaddr_in *addr, uint64_t deadline)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (net_set_nonblocking(fd) < 0)
        goto fail;
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0)
        return fd;
    if (errno != EINPROGRESS)
        goto fail;
    int revents = wait_fd(fd, POLLOUT, deadline);
    if (revents <= 0) {
        errno = revents == 0 ? ETIMEDOUT : errno;
        goto fail;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
        errno = err;
        goto fail;
    }
    /* Without SO_ERROR, an error or hang-up alongside POLLOUT is the only failure sign. */
    if (revents & (POLLERR | POLLHUP)) {
        errno = ECONNREFUSED;
        goto fail;
    }
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* Connects to VM 0, retrying while it may still be starting; returns the fd or -1. */
static int connect_server(uint32_t server_ip_be, uint16_t port, uint64_t deadline)
{
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = server_ip_be,
    };
    for (;;) {
        int fd = try_connect(&addr, deadline);
        if (fd >= 0) {
            net_set_nodelay(fd);
            return fd;
        }
        if (net_now_ns() + CONNECT_RETRY_MS * NS_PER_MS >= deadline)
            return -1;
        net_sleep_ms(CONNECT_RETRY_MS);
    }
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* ---- Echo client ---- */

/* The byte at offset i of round r for this VM: distinct per VM, round and position. */
static uint8_t echo_byte(unsigned vm_id, uint64_t round, uint64_t i)
{
    uint64_t x = ((uint64_t)vm_id << 40) ^ (round << 20) ^ i;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint8_t)x;
}

/*
 * Sends tx and reads the echo into rx at the same time (the server stops
 * reading once its buffer is full, so sending everything first could
 * deadlock). Returns 0, or -1 with a message printed.
 */
static int echo_round(int fd, const uint8_t *tx, uint8_t *rx, size_t size, uint64_t deadline,
                      unsigned vm_id)
{
    size_t sent = 0, received = 0;
    while (received < size) {
        short events = POLLIN | (sent < size ? POLLOUT : 0);
        int revents = wait_fd(fd, events, deadline);
        if (revents < 0 || revents == 0) {
            fprintf(stderr, "lanpeer: VM %u echo %s\n", vm_id,
                    revents == 0 ? "timed out after 30 s" : "poll failed");
            return -1;
        }
        if (sent < size) {
            ssize_t n = send(fd, tx + sent, size - sent, 0);
            if (n < 0 && !would_block()) {
                fprintf(stderr, "lanpeer: VM %u echo send: %s\n", vm_id, strerror(errno));
                return -1;
            }
            if (n > 0)
                sent += (size_t)n;
        }
        ssize_t n = recv(fd, rx + received, size - received, 0);
        if (n == 0 || (n < 0 && !would_block())) {
            fprintf(stderr, "lanpeer: VM %u echo recv: %s\n", vm_id,
                    n == 0 ? "server closed the connection" : strerror(errno));
            return -1;
        }
        if (n > 0)
            received += (size_t)n;
    }
    return 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t percentile(const uint64_t *sorted, size_t n, unsigned pct)
{
    size_t rank = (n * pct + 99) / 100; /* nearest-rank: the smallest value covering pct% */
    return sorted[rank == 0 ? 0 : rank - 1];
}

static int run_echo_client(const struct options *opt, unsigned vm_id, uint32_t server_ip,
                           uint64_t deadline)
{
    size_t size = (size_t)opt->size;
    uint8_t *tx = malloc(size), *rx = malloc(size);
    uint64_t *latency = malloc(opt->rounds * sizeof *latency);
    if (tx == NULL || rx == NULL || latency == NULL) {
        fprintf(stderr, "lanpeer: VM %u out of memory\n", vm_id);
        return 1;
    }
    int fd = connect_server(server_ip, ECHO_PORT, deadline);
    if (fd < 0) {
        fprintf(stderr, "lanpeer: VM %u cannot connect to VM 0: %s\n", vm_id, strerror(errno));
        return 1;
    }
    for (uint64_t r = 0; r < opt->rounds; r++) {
        for (size_t i = 0; i < size; i++)
            tx[i] = echo_byte(vm_id, r, i);
        uint64_t start = net_now_ns();
        if (echo_round(fd, tx, rx, size, deadline, vm_id) < 0)
            return 1;
        latency[r] = net_now_ns() - start;
        for (size_t i = 0; i < size; i++) {
            if (rx[i] != tx[i]) {
                fprintf(stderr,
                        "lanpeer: VM %u echo mismatch in round %llu at byte %zu: "
                        "got 0x%02x, sent 0x%02x\n",
                        vm_id, (unsigned long long)r, i, rx[i], tx[i]);
                return 1;
            }
        }
    }
    close(fd);
    qsort(latency, opt->rounds, sizeof *latency, compare_u64);
    printf("lanpeer: VM %u echo ok: %llu round trips, p50 %llu us, p99 %llu us\n", vm_id,
           (unsigned long long)opt->rounds,
           (unsigned long long)(percentile(latency, opt->rounds, 50) / 1000),
           (unsigned long long)(percentile(latency, opt->rounds, 99) / 1000));
    return 0;
}

/* ---- Bulk client ---- */

/* Sends total bytes; returns 0, or -1 with a message printed. */
static int bulk_send(int fd, uint64_t total, uint64_t deadline, unsigned vm_id)
{
    static uint8_t chunk[BULK_CHUNK];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)i;
    uint64_t sent = 0;
    while (sent < total) {
        uint64_t left = total - sent;
        ssize_t n = send(fd, chunk, left < sizeof chunk ? (size_t)left : sizeof chunk, 0);
        if (n > 0) {
            sent += (uint64_t)n;
            continue;
        }
        if (n < 0 && !would_block()) {
            fprintf(stderr, "lanpeer: VM %u bulk send: %s\n", vm_id, strerror(errno));
            return -1;
        }
        int revents = wait_fd(fd, POLLOUT, deadline);
        if (revents <= 0) {
            fprintf(stderr, "lanpeer: VM %u bulk %s\n", vm_id,
                    revents == 0 ? "timed out after 30 s" : "poll failed");
            return -1;
        }
    }
    return 0;
}

/*
 * After the last byte, half-closes and waits for the server's close, so the
 * time covers delivery rather than just buffering. Without shutdown support
 * the time ends at the last send.
 */
static void bulk_wait_delivery(int fd, uint64_t deadline)
{
    if (shutdown(fd, SHUT_WR) < 0)
        return;
    for (;;) {
        char byte;
        ssize_t n = recv(fd, &byte, 1, 0);
        if (n == 0 || (n < 0 && !would_block()))
            return;
        if (wait_fd(fd, POLLIN, deadline) <= 0)
            return;
    }
}

static int run_bulk_client(const struct options *opt, unsigned vm_id, uint32_t server_ip,
                           uint64_t deadline)
{
    int fd = connect_server(server_ip, DISCARD_PORT, deadline);
    if (fd < 0) {
        fprintf(stderr, "lanpeer: VM %u cannot connect to VM 0: %s\n", vm_id, strerror(errno));
        return 1;
    }
    uint64_t total = opt->mbytes * 1024 * 1024;
    uint64_t start = net_now_ns();
    if (bulk_send(fd, total, deadline, vm_id) < 0)
        return 1;
    bulk_wait_delivery(fd, deadline);
    uint64_t elapsed = net_now_ns() - start;
    close(fd);
    double seconds = (double)(elapsed ? elapsed : 1) / (double)NS_PER_S;
    printf("lanpeer: VM %u bulk %llu MiB in %.1f ms = %.1f MB/s\n", vm_id,
           (unsigned long long)opt->mbytes, seconds * 1000.0, (double)total / 1e6 / seconds);
    return 0;
}

/* ---- Start-up ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: lanpeer echo ROUNDS SIZE   (ROUNDS 1..%d, SIZE 1..%d bytes)\n"
            "       lanpeer bulk MBYTES        (1..%d MiB)\n"
            "VM 0 serves echo (port 7) and discard (port 9); the others are clients.\n",
            MAX_ROUNDS, MAX_ECHO_SIZE, MAX_BULK_MIB);
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    if (argc == 4 && strcmp(argv[1], "echo") == 0) {
        opt->mode = MODE_ECHO;
        return net_parse_u64(argv[2], 1, MAX_ROUNDS, &opt->rounds) < 0 ||
                       net_parse_u64(argv[3], 1, MAX_ECHO_SIZE, &opt->size) < 0
                   ? -1
                   : 0;
    }
    if (argc == 3 && strcmp(argv[1], "bulk") == 0) {
        opt->mode = MODE_BULK;
        return net_parse_u64(argv[2], 1, MAX_BULK_MIB, &opt->mbytes);
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct options opt = {0};
    if (parse_options(argc, argv, &opt) < 0) {
        usage();
        return 2;
    }
    uint64_t deadline = net_now_ns() + CLIENT_TIMEOUT_NS;
    struct net_identity id = net_identity();
    if (id.ipv4_be == 0) {
        fprintf(stderr, "lanpeer: VM %u has no network address\n", id.vm_id);
        return 1;
    }
    if (id.vm_id == 0)
        return run_server(&opt, id.vm_count - 1);
    /* Addresses are handed out consecutively by VM id, so VM 0's is ours minus our id. */
    uint32_t server_ip = htonl(ntohl(id.ipv4_be) - id.vm_id);
    if (opt.mode == MODE_ECHO)
        return run_echo_client(&opt, id.vm_id, server_ip, deadline);
    return run_bulk_client(&opt, id.vm_id, server_ip, deadline);
}
