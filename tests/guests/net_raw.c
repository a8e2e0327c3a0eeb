/* Test guest driving the virtual NIC's rings by hand: forwarding, broadcast, spoofing, bad frames,
 * garbage rings and floods. */
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

#define ETHERTYPE_TEST 0x88b5u /* IEEE local experimental */
#define PAYLOAD_AT     14u
#define TEST_FRAME_LEN 64u
#define WAIT_NS        5000000000ull
#define RETRY_NS       50000000ull
#define FLOOD_MARK     0xf100du

static struct denali_net_area *area;
static uint32_t vm_id;
static uint32_t vm_count;

static long hypercall(unsigned nr, uint64_t a0, uint64_t a1)
{
    return ilwaco_hypercall(nr, a0, a1, 0);
}

static void die(const char *what)
{
    printf("net_raw: vm %u FAILED: %s\n", vm_id, what);
    exit(1);
}

static void attach(void)
{
    area = aligned_alloc(DENALI_PAGE_SIZE, DENALI_NET_AREA_SIZE);
    if (!area)
        die("no memory for the ring area");
    memset(area, 0, DENALI_NET_AREA_SIZE);
    long r = hypercall(DENALI_HC_NET_ATTACH, (uintptr_t)area, DENALI_NET_AREA_SIZE);
    if (r != 0) {
        printf("net_raw: vm %u attach returned %ld\n", vm_id, r);
        exit(1);
    }
}

static void vm_mac(uint32_t id, uint8_t *mac)
{
    uint8_t m[6] = {0x02, 0xde, 0x00, (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    memcpy(mac, m, 6);
}

/*
 * Queues a frame of len bytes with the given slot length (which may lie), naming slot_number in
 * the slot table (which may name no slot). Frame c goes in slot c % DENALI_NET_TX_SLOTS, which
 * no frame in flight holds while the ring is not full.
 */
static void queue_in_slot(const uint8_t *frame, size_t len, uint16_t slot_len, uint8_t slot_number)
{
    uint32_t produced = area->tx_produced;
    while (produced - __atomic_load_n(&area->tx_consumed, __ATOMIC_ACQUIRE) >= DENALI_NET_TX_SLOTS)
        hypercall(DENALI_HC_NET_KICK, 0, 0);
    struct denali_net_tx_slot *slot = &area->tx[produced % DENALI_NET_TX_SLOTS];
    memcpy(slot->data, frame, len);
    slot->len = slot_len;
    area->tx_slot[produced % DENALI_NET_TX_SLOTS] = slot_number;
    __atomic_store_n(&area->tx_produced, produced + 1, __ATOMIC_RELEASE);
}

static void queue_raw(const uint8_t *frame, size_t len, uint16_t slot_len)
{
    queue_in_slot(frame, len, slot_len, (uint8_t)(area->tx_produced % DENALI_NET_TX_SLOTS));
}

static void build(uint8_t *frame, const uint8_t *dst, const uint8_t *src, uint32_t a, uint32_t b)
{
    memset(frame, 0, TEST_FRAME_LEN);
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    frame[12] = ETHERTYPE_TEST >> 8;
    frame[13] = ETHERTYPE_TEST & 0xff;
    memcpy(frame + PAYLOAD_AT, &a, 4);
    memcpy(frame + PAYLOAD_AT + 4, &b, 4);
}

static void send_to(uint32_t dst_id, uint32_t a, uint32_t b)
{
    uint8_t frame[TEST_FRAME_LEN], dst[6];
    vm_mac(dst_id, dst);
    build(frame, dst, (const uint8_t *)ilwaco_vregs()->mac, a, b);
    queue_raw(frame, sizeof(frame), sizeof(frame));
}

/* Takes the next test frame, waiting until deadline; returns 0 on timeout. */
static int receive(uint8_t *frame, uint64_t deadline)
{
    for (;;) {
        uint32_t produced = __atomic_load_n(&area->rx_produced, __ATOMIC_ACQUIRE);
        while (area->rx_consumed != produced) {
            unsigned n = area->rx_slot[area->rx_consumed % DENALI_NET_RX_SLOTS];
            if (n >= DENALI_NET_RX_SLOTS)
                die("the rx slot table names no slot");
            const struct denali_net_slot *slot = &area->rx[n];
            uint16_t len = slot->len;
            if (len > DENALI_NET_FRAME_MAX)
                die("rx slot longer than a frame");
            memcpy(frame, slot->data, len < TEST_FRAME_LEN ? len : TEST_FRAME_LEN);
            __atomic_store_n(&area->rx_consumed, area->rx_consumed + 1, __ATOMIC_RELEASE);
            if (len >= TEST_FRAME_LEN && frame[12] == (ETHERTYPE_TEST >> 8) &&
                frame[13] == (ETHERTYPE_TEST & 0xff))
                return 1;
        }
        if (ilwaco_time_ns() >= deadline)
            return 0;
        ilwaco_idle(deadline);
    }
}

static uint32_t word(const uint8_t *frame, unsigned i)
{
    uint32_t v;
    memcpy(&v, frame + PAYLOAD_AT + 4 * i, 4);
    return v;
}

/* Answers every test frame to its sender until want frames came (0: forever). */
static void responder(uint64_t want, uint64_t deadline)
{
    uint8_t frame[TEST_FRAME_LEN];
    for (uint64_t got = 0; want == 0 || got < want; got++) {
        if (!receive(frame, deadline)) {
            if (want == 0)
                return;
            die("responder timed out");
        }
        if (word(frame, 0) == FLOOD_MARK) {
            got--;
            continue;
        }
        uint8_t reply[TEST_FRAME_LEN];
        build(reply, frame + 6, (const uint8_t *)ilwaco_vregs()->mac, word(frame, 0),
              word(frame, 1) + 1);
        queue_raw(reply, sizeof(reply), sizeof(reply));
    }
}

/* Round trips to server; a lost frame (a flood fills rings) is sent again. */
static unsigned client(uint32_t server, unsigned rounds, uint64_t until)
{
    uint8_t frame[TEST_FRAME_LEN];
    unsigned done = 0;
    for (uint32_t seq = 1; seq <= rounds && ilwaco_time_ns() < until; seq++) {
        uint64_t give_up = ilwaco_time_ns() + WAIT_NS;
        send_to(server, seq, seq * 7u);
        uint64_t retry_at = ilwaco_time_ns() + RETRY_NS;
        for (;;) {
            if (receive(frame, retry_at)) {
                if (word(frame, 0) != seq)
                    continue; /* flood or a late duplicate */
                if (word(frame, 1) != seq * 7u + 1)
                    die("reply carries the wrong payload");
                break;
            }
            if (ilwaco_time_ns() > give_up)
                die("no reply from the server");
            send_to(server, seq, seq * 7u);
            retry_at = ilwaco_time_ns() + RETRY_NS;
        }
        done++;
    }
    return done;
}

static void pingpong(unsigned rounds)
{
    if (vm_id == 0) {
        responder((uint64_t)rounds * (vm_count - 1), ilwaco_time_ns() + 4 * WAIT_NS);
        printf("net_raw: vm 0 answered %u round trips\n", rounds * (vm_count - 1));
        return;
    }
    client(0, rounds, UINT64_MAX);
    printf("net_raw: vm %u pingpong ok: %u round trips\n", vm_id, rounds);
}

static void broadcast(void)
{
    uint8_t frame[TEST_FRAME_LEN];
    if (vm_id == 0) {
        /* Let the others attach first: frames for an unattached NIC are dropped. */
        ilwaco_idle(ilwaco_time_ns() + 300000000ull);
        static const uint8_t all[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        build(frame, all, (const uint8_t *)ilwaco_vregs()->mac, 0xb0b0, 0);
        queue_raw(frame, sizeof(frame), sizeof(frame));
        hypercall(DENALI_HC_NET_KICK, 0, 0);
        printf("net_raw: vm 0 sent a broadcast\n");
        return;
    }
    if (!receive(frame, ilwaco_time_ns() + WAIT_NS) || word(frame, 0) != 0xb0b0)
        die("no broadcast arrived");
    printf("net_raw: vm %u got the broadcast\n", vm_id);
}

/* VM 1 sends spoofed and malformed frames to VM 0, then one honest one; VM 0 must see only it. */
static void bad_frames(void)
{
    uint8_t frame[TEST_FRAME_LEN];
    if (vm_id == 1) {
        ilwaco_idle(ilwaco_time_ns() + 200000000ull);
        uint8_t dst[6], other[6];
        vm_mac(0, dst);
        vm_mac(2, other);
        for (int i = 0; i < 10; i++) {
            build(frame, dst, other, 0xbad, 0);
            queue_raw(frame, sizeof(frame), sizeof(frame));
        }
        build(frame, dst, (const uint8_t *)ilwaco_vregs()->mac, 0xbad, 0);
        queue_raw(frame, sizeof(frame), 3);
        queue_raw(frame, sizeof(frame), DENALI_NET_TX_FRAME_MAX + 1);
        queue_raw(frame, sizeof(frame), 0xffff);
        /* A well-formed send-size frame, but too long for VM 0's rx slots. */
        queue_raw(frame, sizeof(frame), DENALI_NET_FRAME_MAX + 1);
        /* Honest bytes, but the slot table names slots the ring does not have. */
        queue_in_slot(frame, sizeof(frame), sizeof(frame), DENALI_NET_TX_SLOTS);
        queue_in_slot(frame, sizeof(frame), sizeof(frame), 0xff);
        send_to(0, 0x600d, 0);
        hypercall(DENALI_HC_NET_KICK, 0, 0);
        printf("net_raw: vm 1 sent 10 spoofed, 3 malformed, 2 in no slot, 1 oversize and 1 honest "
               "frame\n");
        return;
    }
    if (vm_id != 0)
        return;
    if (!receive(frame, ilwaco_time_ns() + WAIT_NS))
        die("the honest frame did not arrive");
    if (word(frame, 0) != 0x600d)
        die("a spoofed or malformed frame got through");
    if (receive(frame, ilwaco_time_ns() + 200000000ull))
        die("more than the honest frame arrived");
    printf("net_raw: vm 0 got only the honest frame\n");
}

/* VM 1 floods VM 0 (which never reads) while VM 2 and VM 3 keep doing round trips. */
/* target: "vm0" (a VM that never reads), "server" (VM 3, which VM 2 talks to) or "broadcast". */
static void flood(unsigned seconds, const char *target)
{
    uint64_t until = ilwaco_time_ns() + seconds * 1000000000ull;
    if (vm_id == 0) {
        while (ilwaco_time_ns() < until)
            ilwaco_idle(until);
        printf("net_raw: vm 0 was flooded\n");
        return;
    }
    if (vm_id == 1) {
        uint8_t frame[TEST_FRAME_LEN], dst[6];
        vm_mac(strcmp(target, "server") == 0 ? 3 : 0, dst);
        if (strcmp(target, "broadcast") == 0)
            memset(dst, 0xff, 6);
        unsigned long sent = 0;
        while (ilwaco_time_ns() < until) {
            build(frame, dst, (const uint8_t *)ilwaco_vregs()->mac, FLOOD_MARK, 0);
            queue_raw(frame, sizeof(frame), sizeof(frame));
            sent++;
        }
        printf("net_raw: vm 1 flooded %lu frames\n", sent);
        return;
    }
    if (vm_id == 3) {
        responder(0, until + 1000000000ull);
        printf("net_raw: vm 3 answered until the end\n");
        return;
    }
    if (vm_id == 2) {
        unsigned done = client(3, 1u << 30, until);
        printf("net_raw: vm 2 did %u round trips under the flood\n", done);
    }
}

#define ECHO_PORT 7
#define ECHO_SIZE 256

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    return fd;
}

/* VM 0's side of tcpflood: echoes every connection (poll loop) until the run's end. */
static void echo_server(uint64_t until)
{
    int listener = tcp_socket();
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(ECHO_PORT)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listener, 8) < 0)
        die("bind/listen");
    struct pollfd fds[8] = {{.fd = listener, .events = POLLIN}};
    nfds_t n = 1;
    unsigned long echoed = 0;
    while (ilwaco_time_ns() < until) {
        if (poll(fds, n, 100) < 0)
            die("poll");
        for (nfds_t i = 1; i < n; i++) {
            if (!fds[i].revents)
                continue;
            char buf[ECHO_SIZE];
            ssize_t got = recv(fds[i].fd, buf, sizeof(buf), 0);
            if (got <= 0 || send(fds[i].fd, buf, (size_t)got, 0) != got) {
                close(fds[i].fd);
                fds[i--] = fds[--n];
                continue;
            }
            echoed += (unsigned long)got;
        }
        if ((fds[0].revents & POLLIN) && n < 8) {
            int fd = accept(listener, NULL, NULL);
            if (fd >= 0)
                fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        }
    }
    printf("net_raw: vm 0 echoed %lu bytes under the flood\n", echoed);
}

/* A client of tcpflood: verified TCP echo round trips with VM 0 until the run's end. */
static void echo_client(uint64_t until)
{
    ilwaco_idle(ilwaco_time_ns() + 200000000ull); /* VM 0 listens first */
    int fd = tcp_socket();
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons(ECHO_PORT),
                               .sin_addr.s_addr = htonl(ntohl(ilwaco_vregs()->ipv4) - vm_id)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        die("connect to VM 0");
    unsigned rounds = 0;
    char out[ECHO_SIZE], in[ECHO_SIZE];
    while (ilwaco_time_ns() < until) {
        for (unsigned i = 0; i < ECHO_SIZE; i++)
            out[i] = (char)(rounds * 31u + i + vm_id);
        if (send(fd, out, sizeof(out), 0) != (ssize_t)sizeof(out))
            die("send");
        for (size_t got = 0; got < sizeof(in);) {
            ssize_t r = recv(fd, in + got, sizeof(in) - got, 0);
            if (r <= 0)
                die("recv");
            got += (size_t)r;
        }
        if (memcmp(in, out, sizeof(in)) != 0)
            die("echo differs");
        rounds++;
    }
    close(fd);
    printf("net_raw: vm %u did %u TCP echo round trips under the flood\n", vm_id, rounds);
}

/* TCP echo between VM 0 and VMs 2.. while VM 1 floods VM 0 and the LAN with raw frames. */
static void tcp_flood(unsigned seconds)
{
    uint64_t until = ilwaco_time_ns() + seconds * 1000000000ull;
    if (vm_id == 0) {
        echo_server(until + 500000000ull);
        return;
    }
    if (vm_id != 1) {
        echo_client(until);
        return;
    }
    attach();
    uint8_t frame[TEST_FRAME_LEN], victim[6];
    static const uint8_t all[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    vm_mac(0, victim);
    unsigned long sent = 0;
    while (ilwaco_time_ns() < until) {
        build(frame, sent % 2 ? all : victim, (const uint8_t *)ilwaco_vregs()->mac, FLOOD_MARK, 0);
        queue_raw(frame, sizeof(frame), sizeof(frame));
        sent++;
    }
    printf("net_raw: vm 1 flooded %lu frames\n", sent);
}

/* vm 0 corrupts its tx ring's producer index and must be stopped; the others stay healthy. */
static void garbage(void)
{
    if (vm_id != 0) {
        ilwaco_idle(ilwaco_time_ns() + 300000000ull);
        printf("net_raw: vm %u healthy\n", vm_id);
        return;
    }
    area->tx_produced = area->tx_consumed + 1000;
    hypercall(DENALI_HC_NOP, 0, 0);
    die("survived a garbage tx ring");
}

static void bad_attach(void)
{
    if (vm_id != 0) {
        ilwaco_idle(ilwaco_time_ns() + 300000000ull);
        printf("net_raw: vm %u healthy\n", vm_id);
        return;
    }
    uint8_t *mem = aligned_alloc(DENALI_PAGE_SIZE, 2 * DENALI_NET_AREA_SIZE);
    if (!mem)
        die("no memory");
    if (hypercall(DENALI_HC_NET_ATTACH, (uintptr_t)mem + 8, DENALI_NET_AREA_SIZE) != -DENALI_EINVAL)
        die("a misaligned area was accepted");
    if (hypercall(DENALI_HC_NET_ATTACH, (uintptr_t)mem, DENALI_PAGE_SIZE) != -DENALI_EINVAL)
        die("a short area was accepted");
    printf("net_raw: vm 0 misaligned and short areas refused\n");
    fflush(stdout);
    hypercall(DENALI_HC_NET_ATTACH, DENALI_VREGS_ADDR, DENALI_NET_AREA_SIZE);
    die("attached over the read-only virtual registers");
}

int main(int argc, char **argv)
{
    vm_id = ilwaco_vregs()->vm_id;
    vm_count = ilwaco_vregs()->vm_count;
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "nonet") == 0) {
        long r = hypercall(DENALI_HC_NET_ATTACH, 0x200000, DENALI_NET_AREA_SIZE);
        printf("net_raw: vm %u ipv4 %u attach %ld\n", vm_id, ilwaco_vregs()->ipv4, r);
        return r == -DENALI_ENODEV && ilwaco_vregs()->ipv4 == 0 ? 0 : 1;
    }
    if (strcmp(mode, "badattach") == 0) {
        bad_attach();
        return 0;
    }
    if (strcmp(mode, "tcpflood") == 0 && argc > 2) {
        tcp_flood((unsigned)atoi(argv[2]));
        return 0;
    }
    attach();
    if (strcmp(mode, "pingpong") == 0 && argc > 2)
        pingpong((unsigned)atoi(argv[2]));
    else if (strcmp(mode, "broadcast") == 0)
        broadcast();
    else if (strcmp(mode, "badframes") == 0)
        bad_frames();
    else if (strcmp(mode, "flood") == 0 && argc > 2)
        flood((unsigned)atoi(argv[2]), argc > 3 ? argv[3] : "vm0");
    else if (strcmp(mode, "garbage") == 0)
        garbage();
    else
        die("usage: net_raw nonet|badattach|pingpong ROUNDS|broadcast|badframes|flood SECS "
            "[vm0|server|broadcast]|tcpflood SECS|garbage");
    return 0;
}
