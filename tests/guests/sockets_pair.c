/* Test guest: TCP, then a datagram larger than the receive MTU, between two VMs over the virtual
 * NIC; VM 0 serves, VM 1 connects to VM 0's address. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ilwaco.h>

#define PORT  7000
#define BYTES (200 * 1024)
/* A VM sends 4,000-byte IP packets but takes 1,500: this datagram crosses in fragments. */
#define DATAGRAM_BYTES 3000
#define DATAGRAM_SENDS 5

static unsigned char byte_at(size_t i)
{
    return (unsigned char)(i * 7u + (i >> 8));
}

/* Waits up to 5 s for one intact DATAGRAM_BYTES datagram on u; returns its length or -1. */
static ssize_t receive_datagram(int u)
{
    static unsigned char buf[DATAGRAM_BYTES + 100];
    struct pollfd p = {.fd = u, .events = POLLIN};
    while (poll(&p, 1, 5000) == 1) {
        ssize_t r = recv(u, buf, sizeof(buf), 0);
        if (r != DATAGRAM_BYTES)
            continue;
        size_t bad = 0;
        for (ssize_t i = 0; i < r; i++)
            bad += buf[i] != byte_at((size_t)i);
        if (bad == 0)
            return r;
    }
    return -1;
}

static int serve(void)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_port = htons(PORT + 1)};
    if (u < 0 || bind(u, (struct sockaddr *)&ua, sizeof(ua)) != 0) {
        printf("sockets_pair: udp bind failed: %s\n", strerror(errno));
        return 1;
    }
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 4) != 0) {
        printf("sockets_pair: listen failed: %s\n", strerror(errno));
        return 1;
    }
    int c = accept(l, NULL, NULL);
    if (c < 0) {
        printf("sockets_pair: accept failed: %s\n", strerror(errno));
        return 1;
    }
    size_t got = 0, bad = 0;
    unsigned char buf[4096];
    ssize_t r;
    while ((r = recv(c, buf, sizeof(buf), 0)) > 0) {
        for (ssize_t i = 0; i < r; i++)
            bad += buf[i] != byte_at(got + (size_t)i);
        got += (size_t)r;
    }
    char reply[64];
    int n = snprintf(reply, sizeof(reply), "%zu %zu", got, bad);
    send(c, reply, (size_t)n, 0);
    close(c);
    close(l);
    printf("sockets_pair: server got %zu bytes, %zu bad\n", got, bad);
    ssize_t datagram = receive_datagram(u);
    close(u);
    printf("sockets_pair: server got a %zd-byte datagram intact\n", datagram);
    return got == BYTES && bad == 0 && datagram == DATAGRAM_BYTES ? 0 : 1;
}

static int client(void)
{
    const volatile struct denali_vregs *v = ilwaco_vregs();
    /* VM addresses are consecutive by vm_id, so VM 0's is ours minus our id. */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    a.sin_addr.s_addr = htonl(ntohl(v->ipv4) - v->vm_id);
    int c = -1;
    for (int tries = 0; tries < 100; tries++) {
        c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof(a)) == 0)
            break;
        close(c);
        c = -1;
        /* VM 0 may not be listening yet. */
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    if (c < 0) {
        printf("sockets_pair: connect failed: %s\n", strerror(errno));
        return 1;
    }
    static unsigned char data[BYTES];
    for (size_t i = 0; i < BYTES; i++)
        data[i] = byte_at(i);
    if (send(c, data, BYTES, 0) != BYTES || shutdown(c, SHUT_WR) != 0) {
        printf("sockets_pair: send failed: %s\n", strerror(errno));
        return 1;
    }
    char reply[64] = {0};
    ssize_t r = recv(c, reply, sizeof(reply) - 1, MSG_WAITALL);
    close(c);
    printf("sockets_pair: client reply '%s'\n", r > 0 ? reply : "");
    /* A few copies: one lost fragment loses the datagram, and UDP does not resend. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = htons(PORT + 1);
    int sent = 0;
    for (int i = 0; i < DATAGRAM_SENDS; i++)
        sent +=
            sendto(u, data, DATAGRAM_BYTES, 0, (struct sockaddr *)&a, sizeof(a)) == DATAGRAM_BYTES;
    close(u);
    printf("sockets_pair: client sent %d datagrams\n", sent);
    return r > 0 && strcmp(reply, "204800 0") == 0 && sent == DATAGRAM_SENDS ? 0 : 1;
}

int main(void)
{
    if (ilwaco_vregs()->ipv4 == 0) {
        printf("sockets_pair: no network\n");
        return 1;
    }
    return ilwaco_vregs()->vm_id == 0 ? serve() : client();
}
