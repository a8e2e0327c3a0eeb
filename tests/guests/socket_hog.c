/* Test guest: every VM does a UDP echo round trip with the host through the gateway; VM 0 then
 * makes slirp open a host socket per UDP port it sends from, far past its cap, and tries again. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ilwaco.h>

/* Each from a new socket, so from a new port: slirp keeps a host socket per port for minutes. */
static int hog(const struct sockaddr_in *to, int ports)
{
    int sent = 0;
    for (int i = 0; i < ports; i++) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        if (s < 0) {
            printf("socket_hog: socket: %s\n", strerror(errno));
            return -1;
        }
        if (sendto(s, "x", 1, 0, (const struct sockaddr *)to, sizeof(*to)) == 1)
            sent++;
        close(s);
    }
    return sent;
}

/* One datagram to the host's echo server and its answer within 3 s (tried three times). */
static int echo_once(const struct sockaddr_in *to)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0)
        return 0;
    static const char ping[] = "socket_hog ping";
    for (int attempt = 0; attempt < 3; attempt++) {
        if (sendto(s, ping, sizeof(ping), 0, (const struct sockaddr *)to, sizeof(*to)) < 0)
            break;
        struct pollfd p = {.fd = s, .events = POLLIN};
        char reply[64];
        if (poll(&p, 1, 1000) == 1 && recv(s, reply, sizeof(reply), 0) == (ssize_t)sizeof(ping) &&
            memcmp(reply, ping, sizeof(ping)) == 0) {
            close(s);
            return 1;
        }
    }
    close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: socket_hog ECHO_PORT HOG_PORTS\n");
        return 2;
    }
    const volatile struct denali_vregs *v = ilwaco_vregs();
    unsigned vm = v->vm_id;
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = v->gateway};
    /* The first round trip also learns the gateway's MAC, which the hog's frames then need. */
    printf("socket_hog: vm %u echo %s\n", vm, echo_once(&to) ? "ok" : "lost");
    if (vm == 0) {
        int sent = hog(&to, atoi(argv[2]));
        printf("socket_hog: vm 0 sent from %d ports\n", sent);
        printf("socket_hog: vm 0 echo after %s\n", echo_once(&to) ? "ok" : "lost");
    }
    return 0;
}
