/* tcp_bulk: the host-loopback floor for LAN bulk throughput: send N MiB over one TCP connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK_SIZE (64 * 1024) /* the same send size as lanpeer's bulk client */
#define MAX_MIB    4096

static void usage(void)
{
    fprintf(stderr,
            "usage: tcp_bulk A.B.C.D:PORT MIB   (MIB 1..%d)\n"
            "Connects, sends MIB MiB, half-closes and waits for the server's close\n"
            "(so the time covers delivery, as a discard server reads everything);\n"
            "prints one line  TCP_BULK mib=N ms=T mbps=X  (MB = 10^6 bytes).\n",
            MAX_MIB);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Parses "A.B.C.D:PORT" into addr; returns 0, or -1 when malformed. */
static int parse_target(const char *spec, struct sockaddr_in *addr)
{
    char host[INET_ADDRSTRLEN];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port == 0 || port > 65535)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

/* Writes all len bytes of buf; returns 0, or -1 with errno set. */
static int send_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    if (argc != 3 || parse_target(argv[1], &addr) < 0) {
        usage();
        return 2;
    }
    char *end;
    errno = 0;
    unsigned long mib = strtoul(argv[2], &end, 10);
    if (errno != 0 || *end != '\0' || mib == 0 || mib > MAX_MIB) {
        usage();
        return 2;
    }

    static uint8_t chunk[CHUNK_SIZE];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)i;

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        fprintf(stderr, "tcp_bulk: socket: %s\n", strerror(errno));
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "tcp_bulk: connect to %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    uint64_t total = (uint64_t)mib * 1024 * 1024;
    uint64_t start = now_ns();
    for (uint64_t sent = 0; sent < total; sent += CHUNK_SIZE) {
        if (send_all(fd, chunk, CHUNK_SIZE) < 0) {
            fprintf(stderr, "tcp_bulk: send after %llu bytes: %s\n", (unsigned long long)sent,
                    strerror(errno));
            return 1;
        }
    }
    if (shutdown(fd, SHUT_WR) < 0) {
        fprintf(stderr, "tcp_bulk: shutdown: %s\n", strerror(errno));
        return 1;
    }
    for (;;) {
        char byte;
        ssize_t n = recv(fd, &byte, 1, 0);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "tcp_bulk: waiting for the server's close: %s\n", strerror(errno));
            return 1;
        }
    }
    uint64_t elapsed = now_ns() - start;
    close(fd);
    double seconds = (double)(elapsed ? elapsed : 1) / 1e9;
    printf("TCP_BULK mib=%lu ms=%.1f mbps=%.1f\n", mib, seconds * 1000.0,
           (double)total / 1e6 / seconds);
    return 0;
}
