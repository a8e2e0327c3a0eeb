/* The TAP uplink: a host interface at the gateway address, read by one thread, written by workers.
 */
#include "net/uplink_tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "denali/abi.h"
#include "util/error_text.h"

/* Room for any frame the kernel might hand over, so oversized ones are seen and counted. */
#define READ_BUFFER 65536

struct uplink_tap {
    struct lan_uplink base; /* first: the LAN holds a pointer to it */
    struct lan *lan;
    char ifname[IFNAMSIZ];
    int tap_fd;
    int stop_fd; /* eventfd */
    pthread_t thread;
    uint8_t *buffer; /* the reader thread's */

    _Atomic uint64_t to_host;         /* frames written to the interface */
    _Atomic uint64_t dropped_full;    /* the interface's queue was full (EAGAIN) */
    _Atomic uint64_t dropped_error;   /* any other write failure, e.g. the interface is down */
    _Atomic uint64_t from_host;       /* frames read and handed to the LAN */
    _Atomic uint64_t dropped_bad_len; /* read frames too short or too long for the LAN */
    _Atomic uint64_t read_failures;
};

static struct uplink_tap *from_base(struct lan_uplink *uplink)
{
    return (struct uplink_tap *)uplink;
}

static const char *ipv4_text(uint32_t host_order, char text[INET_ADDRSTRLEN])
{
    struct in_addr addr = {.s_addr = htonl(host_order)};
    return inet_ntop(AF_INET, &addr, text, INET_ADDRSTRLEN);
}

/* --- Frames out of the LAN: straight to the interface, never blocking --- */

static void tap_transmit(struct lan_uplink *uplink, const uint8_t *frame, size_t len)
{
    struct uplink_tap *u = from_base(uplink);
    /* One write is one frame, so concurrent writers need no lock. */
    ssize_t written = write(u->tap_fd, frame, len);
    if (written == (ssize_t)len)
        atomic_fetch_add(&u->to_host, 1);
    else if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
        atomic_fetch_add(&u->dropped_full, 1);
    else
        atomic_fetch_add(&u->dropped_error, 1);
}

/* --- Frames into the LAN: the reader thread --- */

/* Reads until the interface has nothing more. */
static void read_frames(struct uplink_tap *u)
{
    for (;;) {
        ssize_t got = read(u->tap_fd, u->buffer, READ_BUFFER);
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                atomic_fetch_add(&u->read_failures, 1);
            return;
        }
        if ((size_t)got > DENALI_NET_TX_FRAME_MAX || (size_t)got < DENALI_NET_FRAME_MIN) {
            atomic_fetch_add(&u->dropped_bad_len, 1);
            continue;
        }
        atomic_fetch_add(&u->from_host, 1);
        lan_input_from_uplink(u->lan, u->buffer, (size_t)got);
    }
}

static void *tap_thread_main(void *arg)
{
    struct uplink_tap *u = arg;
    struct pollfd fds[2] = {
        {.fd = u->tap_fd, .events = POLLIN},
        {.fd = u->stop_fd, .events = POLLIN},
    };
    for (;;) {
        if (poll(fds, 2, -1) < 0)
            continue; /* EINTR: every signal is blocked here, so only in theory */
        if (fds[1].revents)
            return NULL;
        if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            atomic_fetch_add(&u->read_failures, 1);
            return NULL; /* the device is gone; the LAN carries on without it */
        }
        if (fds[0].revents & POLLIN)
            read_frames(u);
    }
}

/* --- Setting up the interface --- */

static int open_tap(const char *ifname, char *err, size_t errlen)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
            (void)fail(err, errlen, "tap: no /dev/net/tun (is the tun module loaded?)");
        else if (errno == EACCES || errno == EPERM)
            (void)fail(err, errlen,
                       "tap: cannot open /dev/net/tun: %s (needs root or CAP_NET_ADMIN)",
                       strerror(errno));
        else
            (void)fail(err, errlen, "tap: cannot open /dev/net/tun: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    if (ioctl(fd, TUNSETIFF, &ifr) == 0)
        return fd;
    if (errno == EPERM || errno == EACCES)
        (void)fail(err, errlen, "tap: cannot create interface %s: %s (needs root or CAP_NET_ADMIN)",
                   ifname, strerror(errno));
    else if (errno == EBUSY)
        (void)fail(err, errlen, "tap: interface %s is busy (another process has it open)", ifname);
    else if (errno == EINVAL)
        (void)fail(err, errlen, "tap: interface %s already exists and is not a free TAP device",
                   ifname);
    else
        (void)fail(err, errlen, "tap: cannot create interface %s: %s", ifname, strerror(errno));
    close(fd);
    return -1;
}

static bool same_subnet(uint32_t a, uint32_t b, uint32_t mask)
{
    return (a & mask) == (b & mask);
}

/*
 * The kernel would happily give the gateway address to a second interface,
 * or route the LAN's subnet two ways, and the host would then talk to the
 * wrong one; refuse instead.
 */
static bool address_free(const struct lan *lan, const char *ifname, char *err, size_t errlen)
{
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0) {
        (void)fail(err, errlen, "tap: cannot list the host's addresses: %s", strerror(errno));
        return false;
    }
    bool free_ok = true;
    char ours[INET_ADDRSTRLEN], theirs[INET_ADDRSTRLEN];
    for (struct ifaddrs *ifa = list; ifa && free_ok; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET || !ifa->ifa_netmask ||
            strcmp(ifa->ifa_name, ifname) == 0)
            continue;
        uint32_t addr = ntohl(((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr);
        uint32_t mask = ntohl(((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr);
        if (addr == lan->gateway) {
            (void)fail(err, errlen, "tap: address %s is already in use on %s",
                       ipv4_text(lan->gateway, ours), ifa->ifa_name);
            free_ok = false;
        } else if (same_subnet(addr, lan->network, lan->netmask & mask)) {
            (void)fail(err, errlen, "tap: the LAN %s/%d overlaps %s/%d on %s",
                       ipv4_text(lan->network, ours), __builtin_popcount(lan->netmask),
                       ipv4_text(addr, theirs), __builtin_popcount(mask), ifa->ifa_name);
            free_ok = false;
        }
    }
    freeifaddrs(list);
    return free_ok;
}

/* The host should not chatter IPv6 (router solicitations, MLD) at a thousand IPv4-only VMs. */
static void disable_ipv6(const char *ifname)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* no IPv6 on this host: nothing to silence */
    ssize_t ignored = write(fd, "1", 1);
    (void)ignored;
    close(fd);
}

static int set_ipv4(int sock, const char *ifname, unsigned long request, uint32_t host_order)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(host_order)};
    memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
    return ioctl(sock, request, &ifr);
}

/* Gives the interface the gateway address, brings it up and reads its MAC into mac. */
static bool configure_interface(const struct lan *lan, const char *ifname, uint8_t mac[6],
                                char *err, size_t errlen)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        (void)fail(err, errlen, "tap: cannot configure %s: %s", ifname, strerror(errno));
        return false;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    const char *step = "set its address";
    bool ok = set_ipv4(sock, ifname, SIOCSIFADDR, lan->gateway) == 0;
    if (ok) {
        step = "set its netmask";
        ok = set_ipv4(sock, ifname, SIOCSIFNETMASK, lan->netmask) == 0;
    }
    if (ok) {
        /*
         * The VMs' send MTU, so the host's TCP advertises an MSS that lets a
         * VM answer in big segments; the VMs advertise 1,460 bytes, so what
         * the host sends them still fits their rx slots.
         */
        step = "set its MTU";
        ifr.ifr_mtu = (int)(DENALI_NET_TX_FRAME_MAX - ETHER_HDR_LEN);
        ok = ioctl(sock, SIOCSIFMTU, &ifr) == 0;
    }
    if (ok) {
        step = "read its MAC";
        ok = ioctl(sock, SIOCGIFHWADDR, &ifr) == 0;
        if (ok)
            memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    }
    if (ok) {
        step = "bring it up";
        ok = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ok = ok && ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
    }
    if (!ok)
        (void)fail(err, errlen, "tap: cannot %s on %s: %s", step, ifname, strerror(errno));
    close(sock);
    return ok;
}

/* --- Lifetime --- */

static void free_uplink(struct uplink_tap *u)
{
    /* Closing the last descriptor of a non-persistent TAP removes the interface. */
    if (u->tap_fd >= 0)
        close(u->tap_fd);
    if (u->stop_fd >= 0)
        close(u->stop_fd);
    free(u->buffer);
    free(u);
}

static void tap_stop(struct lan_uplink *uplink)
{
    struct uplink_tap *u = from_base(uplink);
    uint64_t one = 1;
    ssize_t ignored = write(u->stop_fd, &one, sizeof(one));
    (void)ignored;
    pthread_join(u->thread, NULL);
    free_uplink(u);
}

static struct uplink_tap *alloc_uplink(struct lan *lan, const char *ifname, char *err,
                                       size_t errlen)
{
    struct uplink_tap *u = calloc(1, sizeof(*u));
    if (!u) {
        (void)fail(err, errlen, "tap: out of memory");
        return NULL;
    }
    u->tap_fd = -1;
    u->lan = lan;
    memcpy(u->ifname, ifname, strlen(ifname) + 1);
    u->buffer = malloc(READ_BUFFER);
    u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!u->buffer || u->stop_fd < 0) {
        (void)fail(err, errlen, "tap: cannot set up: %s", strerror(errno));
        free_uplink(u);
        return NULL;
    }
    u->base.transmit = tap_transmit;
    u->base.stop = tap_stop;
    return u;
}

static bool valid_ifname(const char *ifname, char *err, size_t errlen)
{
    size_t len = strlen(ifname);
    if (len == 0 || len >= IFNAMSIZ) {
        (void)fail(err, errlen, "tap: interface name '%s' must be 1 to %d characters", ifname,
                   IFNAMSIZ - 1);
        return false;
    }
    /* The name also becomes a /proc path, so keep it to what ip(8) would accept. */
    if (strchr(ifname, '/') || strchr(ifname, ' ') || strcmp(ifname, ".") == 0 ||
        strcmp(ifname, "..") == 0) {
        (void)fail(err, errlen, "tap: '%s' is not a valid interface name", ifname);
        return false;
    }
    return true;
}

struct lan_uplink *uplink_tap_start(struct lan *lan, const char *ifname, char *err, size_t errlen)
{
    if (!ifname)
        ifname = UPLINK_TAP_DEFAULT_NAME;
    if (!valid_ifname(ifname, err, errlen) || !address_free(lan, ifname, err, errlen))
        return NULL;
    struct uplink_tap *u = alloc_uplink(lan, ifname, err, errlen);
    if (!u)
        return NULL;
    u->tap_fd = open_tap(ifname, err, errlen);
    if (u->tap_fd < 0) {
        free_uplink(u);
        return NULL;
    }
    disable_ipv6(ifname);
    if (!configure_interface(lan, ifname, u->base.mac, err, errlen)) {
        free_uplink(u);
        return NULL;
    }
    int rc = start_quiet_thread(&u->thread, tap_thread_main, u);
    if (rc != 0) {
        (void)fail(err, errlen, "tap: cannot start its thread: %s", strerror(rc));
        free_uplink(u);
        return NULL;
    }
    return &u->base;
}

void uplink_tap_print_stats(struct lan_uplink *uplink, FILE *out)
{
    struct uplink_tap *u = from_base(uplink);
    fprintf(
        out,
        "denali-uplink: kind=tap interface=%s to_host=%lu dropped_full=%lu dropped_error=%lu "
        "from_host=%lu dropped_bad_len=%lu read_failures=%lu\n",
        u->ifname, (unsigned long)atomic_load(&u->to_host),
        (unsigned long)atomic_load(&u->dropped_full), (unsigned long)atomic_load(&u->dropped_error),
        (unsigned long)atomic_load(&u->from_host), (unsigned long)atomic_load(&u->dropped_bad_len),
        (unsigned long)atomic_load(&u->read_failures));
}
