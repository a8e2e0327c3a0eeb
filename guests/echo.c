/* TCP echo (RFC 862) or discard (RFC 863) server on a poll loop, or UDP echo, as a Denali guest
 * or natively. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_common.h"

#define ECHO_PORT    7
#define DISCARD_PORT 9
#ifdef DENALI_GUEST
#define MAX_CONNS 64 /* 8 KiB each; fewer in a small VM */
#else
#define MAX_CONNS 1024
#endif
#define MIN_CONNS 4

static void usage(void)
{
    fprintf(stderr, "usage: echo [-p PORT] [-d | -u] [-q]\n"
                    "  -p PORT  port to listen on (default 7, or 9 with -d)\n"
                    "  -d       discard mode: read and drop everything\n"
                    "  -u       UDP echo: send every datagram back to its sender\n"
                    "  -q       quiet: no start line\n");
}

static int udp_echo(uint16_t port, bool quiet)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        fprintf(stderr, "echo: cannot bind UDP port %u: %s\n", (unsigned)port, strerror(errno));
        return 1;
    }
    if (!quiet)
        net_print_listening("echo", port, " (udp)");
    static char datagram[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t from_len = sizeof(from);
        ssize_t n =
            recvfrom(fd, datagram, sizeof(datagram), 0, (struct sockaddr *)&from, &from_len);
        if (n < 0) {
            fprintf(stderr, "echo: recvfrom failed: %s\n", strerror(errno));
            return 1;
        }
        /* A reply that cannot go out is lost, as UDP allows. */
        (void)sendto(fd, datagram, (size_t)n, 0, (struct sockaddr *)&from, from_len);
    }
}

int main(int argc, char **argv)
{
    uint16_t port = 0;
    bool discard = false, quiet = false, udp = false;
    int opt;
    while ((opt = getopt(argc, argv, "p:duqh")) != -1) {
        switch (opt) {
        case 'p':
            if (net_parse_port(optarg, &port) < 0) {
                fprintf(stderr, "echo: bad port '%s' (1..65535)\n", optarg);
                return 2;
            }
            break;
        case 'd':
            discard = true;
            break;
        case 'u':
            udp = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc || (udp && discard)) {
        usage();
        return 2;
    }
    if (port == 0)
        port = discard ? DISCARD_PORT : ECHO_PORT;
    if (udp)
        return udp_echo(port, quiet);

    struct stream_server server;
    stream_server_init(&server, MAX_CONNS, NULL, NULL);
    if (stream_server_listen(&server, port, discard ? STREAM_DISCARD : STREAM_ECHO) < 0) {
        fprintf(stderr, "echo: cannot listen on port %u: %s\n", (unsigned)port, strerror(errno));
        return 1;
    }
    if (stream_server_reserve(&server, MIN_CONNS) == 0) {
        fprintf(stderr, "echo: out of memory for %d connections\n", MIN_CONNS);
        return 1;
    }
    if (!quiet)
        net_print_listening("echo", port, discard ? " (discard)" : "");
    for (;;) {
        if (stream_server_step(&server, 1000) < 0) {
            fprintf(stderr, "echo: poll failed: %s\n", strerror(errno));
            return 1;
        }
    }
}
