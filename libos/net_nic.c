/* ilwaco's driver for the Denali virtual NIC: the rx/tx slot rings of abi.h under an lwIP netif. */
#include <errno.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/ip4_frag.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/tcp.h"
#include "netif/ethernet.h"

#include "internal.h"
#include "net.h"

/* lwipopts.h cannot include abi.h; its segment sizes must match the NIC's frame sizes. */
_Static_assert(TCP_MSS == DENALI_NET_TX_MSS, "lwIP sends the NIC's largest segment");
_Static_assert(ILWACO_RX_SEGMENT == DENALI_NET_RX_MSS, "lwIP advertises what the NIC receives");

struct ilwaco_nic_counters ilwaco_nic_counters;

static struct netif nic;
static struct denali_net_area *area;

/*
 * The tx slots: a bit per free one, and the frames before tx_reclaimed
 * whose slots are already back in it. The lowest free slot is taken, so a
 * quiet VM touches only the first pages of its tx ring.
 */
_Static_assert(DENALI_NET_TX_SLOTS <= 32, "one word of free tx slots");
static uint32_t tx_free = (uint32_t)((1ull << DENALI_NET_TX_SLOTS) - 1);
static uint32_t tx_reclaimed;

static uint32_t load_acquire(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void ilwaco_nic_kick(void)
{
    ilwaco_nic_counters.kicks++;
    ilwaco__hc(DENALI_HC_NET_KICK, 0, 0, 0);
}

int ilwaco_nic_tx_pending(void)
{
    return area && area->tx_produced != load_acquire(&area->tx_consumed);
}

/*
 * lwIP hook on every TCP segment it builds: a SYN advertises at most
 * DENALI_NET_RX_MSS, whatever the send MTU, because frames into this VM
 * must fit its rx slots (see abi.h). The send side still uses the peer's
 * advertisement, so the host's stacks get segments of up to 3,960 bytes.
 */
u32_t *ilwaco_tcp_clamp_advertised_mss(struct pbuf *p, struct tcp_hdr *hdr,
                                       const struct tcp_pcb *pcb, u32_t *opts)
{
    (void)p;
    (void)pcb;
    u32_t *first = (u32_t *)(void *)(hdr + 1);
    if (!(TCPH_FLAGS(hdr) & TCP_SYN) || first >= opts)
        return opts;
    u32_t option = lwip_ntohl(*first);
    /* kind 2, length 4: lwIP always puts the MSS first. */
    if ((option >> 16) == 0x0204u && (option & 0xffffu) > DENALI_NET_RX_MSS)
        *first = lwip_htonl(0x02040000u | DENALI_NET_RX_MSS);
    return opts;
}

static int is_vm_mac(const uint8_t *mac)
{
    return mac[0] == 0x02 && mac[1] == 0xde && mac[2] == 0x00;
}

/*
 * The NIC sends frames of up to DENALI_NET_TX_FRAME_MAX, but another VM
 * takes only DENALI_NET_FRAME_MAX. TCP already fits (the peer advertised
 * DENALI_NET_RX_MSS); a larger IPv4 datagram to a VM, such as big UDP, is
 * split into fragments that fit, as a router with a smaller MTU would.
 */
static err_t fragment_for_vm(struct netif *netif, struct pbuf *p)
{
    const uint8_t *eth = p->payload;
    if (p->len < SIZEOF_ETH_HDR + IP_HLEN || eth[12] != 0x08 || eth[13] != 0x00)
        return ERR_IF;
    struct ip_hdr *ip = (struct ip_hdr *)(void *)((uint8_t *)p->payload + SIZEOF_ETH_HDR);
    ip4_addr_t dest;
    ip4_addr_copy(dest, ip->dest);
    if (pbuf_remove_header(p, SIZEOF_ETH_HDR) != 0)
        return ERR_IF;
    /* ip4_frag cuts to the netif's MTU and sends each piece back through etharp and here. */
    u16_t send_mtu = netif->mtu;
    netif->mtu = (u16_t)(DENALI_NET_FRAME_MAX - SIZEOF_ETH_HDR);
    err_t err = ip4_frag(p, netif, &dest);
    netif->mtu = send_mtu;
    (void)pbuf_add_header(p, SIZEOF_ETH_HDR);
    return err;
}

/* Takes back the slots of the frames the monitor has sent; returns the free slots. */
static uint32_t tx_reclaim(void)
{
    uint32_t consumed = load_acquire(&area->tx_consumed);
    for (; tx_reclaimed != consumed; tx_reclaimed++)
        tx_free |= 1u << (area->tx_slot[tx_reclaimed % DENALI_NET_TX_SLOTS] % DENALI_NET_TX_SLOTS);
    return tx_free;
}

static err_t nic_linkoutput(struct netif *netif, struct pbuf *p)
{
    if (p->tot_len > DENALI_NET_FRAME_MAX && p->tot_len <= DENALI_NET_TX_FRAME_MAX &&
        is_vm_mac(p->payload)) {
        err_t err = fragment_for_vm(netif, p);
        if (err != ERR_OK)
            ilwaco_nic_counters.tx_dropped++;
        return err;
    }
    if (p->tot_len < DENALI_NET_FRAME_MIN || p->tot_len > DENALI_NET_TX_FRAME_MAX) {
        ilwaco_nic_counters.tx_dropped++;
        return ERR_IF;
    }
    /* Only we write tx_produced, so a plain read of it is current. */
    uint32_t prod = area->tx_produced;
    /* The monitor empties the whole ring at every exit, so one kick frees it. */
    for (int tries = 0; tx_reclaim() == 0; tries++) {
        if (tries == 3) {
            ilwaco_nic_counters.tx_dropped++;
            return ERR_MEM;
        }
        ilwaco_nic_kick();
    }
    unsigned n = (unsigned)__builtin_ctz(tx_free);
    tx_free &= ~(1u << n);
    struct denali_net_tx_slot *slot = &area->tx[n];
    pbuf_copy_partial(p, slot->data, p->tot_len, 0);
    slot->len = p->tot_len;
    area->tx_slot[prod % DENALI_NET_TX_SLOTS] = (uint8_t)n;
    store_release(&area->tx_produced, prod + 1);
    ilwaco_nic_counters.tx_frames++;
    return ERR_OK;
}

unsigned ilwaco_nic_poll(void)
{
    if (!area)
        return 0;
    unsigned n = 0;
    uint32_t cons = area->rx_consumed;
    uint32_t prod = load_acquire(&area->rx_produced);
    while (cons != prod) {
        const struct denali_net_slot *slot =
            &area->rx[area->rx_slot[cons % DENALI_NET_RX_SLOTS] % DENALI_NET_RX_SLOTS];
        /* Read once: the length we check is the length we copy. */
        uint16_t len = __atomic_load_n(&slot->len, __ATOMIC_RELAXED);
        if (len < DENALI_NET_FRAME_MIN || len > DENALI_NET_FRAME_MAX) {
            ilwaco_nic_counters.rx_dropped++;
        } else {
            struct pbuf *p = pbuf_alloc(PBUF_RAW, len, PBUF_POOL);
            if (!p) {
                /* Out of memory: the frame is lost and TCP will resend it. */
                ilwaco_nic_counters.rx_dropped++;
            } else {
                pbuf_take(p, slot->data, len);
                ilwaco_nic_counters.rx_frames++;
                if (nic.input(p, &nic) != ERR_OK)
                    pbuf_free(p);
            }
        }
        cons++;
        n++;
        /* Hand each slot back at once, so the monitor can refill while we work. */
        store_release(&area->rx_consumed, cons);
        if (cons == prod)
            prod = load_acquire(&area->rx_produced);
    }
    return n;
}

static err_t nic_init(struct netif *netif)
{
    const volatile struct denali_vregs *v = ilwaco__vregs();
    netif->name[0] = 'd';
    netif->name[1] = 'n';
    netif->mtu = (u16_t)(DENALI_NET_TX_FRAME_MAX - SIZEOF_ETH_HDR);
    netif->hwaddr_len = ETH_HWADDR_LEN;
    for (int i = 0; i < ETH_HWADDR_LEN; i++)
        netif->hwaddr[i] = v->mac[i];
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    netif->output = etharp_output;
    netif->linkoutput = nic_linkoutput;
    return ERR_OK;
}

int ilwaco_nic_start(void)
{
    const volatile struct denali_vregs *v = ilwaco__vregs();
    if (v->ipv4 == 0)
        return -ENODEV;
    uintptr_t mem = ilwaco_pages_alloc(DENALI_NET_AREA_SIZE);
    if (!mem)
        return -ENOMEM;
    long r = ilwaco__hc(DENALI_HC_NET_ATTACH, mem, DENALI_NET_AREA_SIZE, 0);
    if (r < 0) {
        ilwaco_pages_free(mem, DENALI_NET_AREA_SIZE);
        return -ENODEV;
    }
    ip4_addr_t ip, mask, gw;
    ip4_addr_set_u32(&ip, v->ipv4);
    ip4_addr_set_u32(&mask, v->netmask);
    ip4_addr_set_u32(&gw, v->gateway);
    if (!netif_add(&nic, &ip, &mask, &gw, NULL, nic_init, ethernet_input))
        return -ENODEV;
    /* Before the interface comes up: bringing it up already sends a gratuitous ARP. */
    area = (struct denali_net_area *)mem;
    netif_set_default(&nic);
    netif_set_link_up(&nic);
    netif_set_up(&nic);
    ilwaco_nic_counters.attached = 1;
    return 0;
}

void ilwaco_nic_reidentify(void)
{
    if (!ilwaco_nic_counters.attached)
        return;
    const volatile struct denali_vregs *v = ilwaco__vregs();
    for (int i = 0; i < ETH_HWADDR_LEN; i++)
        nic.hwaddr[i] = v->mac[i];
    ip4_addr_t ip, mask, gw;
    ip4_addr_set_u32(&ip, v->ipv4);
    ip4_addr_set_u32(&mask, v->netmask);
    ip4_addr_set_u32(&gw, v->gateway);
    netif_set_addr(&nic, &ip, &mask, &gw);
    /* What the template's peers learned is now wrong: announce the clone's own pair. */
    etharp_gratuitous(&nic);
}
