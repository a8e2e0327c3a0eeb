/* ilwaco's driver for the Denali virtual NIC: the rx/tx slot rings of abi.h under an lwIP netif. */
#include <errno.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "netif/ethernet.h"

#include "internal.h"
#include "net.h"

struct ilwaco_nic_counters ilwaco_nic_counters;

static struct netif nic;
static struct denali_net_area *area;

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

static err_t nic_linkoutput(struct netif *netif, struct pbuf *p)
{
    (void)netif;
    if (p->tot_len < DENALI_NET_FRAME_MIN || p->tot_len > DENALI_NET_FRAME_MAX) {
        ilwaco_nic_counters.tx_dropped++;
        return ERR_IF;
    }
    /* Only we write tx_produced, so a plain read of it is current. */
    uint32_t prod = area->tx_produced;
    /* The monitor empties the whole ring at every exit, so one kick frees it. */
    for (int tries = 0; prod - load_acquire(&area->tx_consumed) >= DENALI_NET_TX_SLOTS; tries++) {
        if (tries == 3) {
            ilwaco_nic_counters.tx_dropped++;
            return ERR_MEM;
        }
        ilwaco_nic_kick();
    }
    struct denali_net_slot *slot = &area->tx[prod % DENALI_NET_TX_SLOTS];
    pbuf_copy_partial(p, slot->data, p->tot_len, 0);
    slot->len = p->tot_len;
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
        const struct denali_net_slot *slot = &area->rx[cons % DENALI_NET_RX_SLOTS];
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
    netif->mtu = 1500;
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
