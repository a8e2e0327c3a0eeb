/* lwIP's configuration for ilwaco: IPv4 TCP/UDP over one Ethernet NIC plus loopback, no OS. */
#ifndef ILWACO_LWIPOPTS_H
#define ILWACO_LWIPOPTS_H

/* One thread, no OS: ilwaco drives lwIP from system calls (the raw, callback API). */
#define NO_SYS               1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS          1
#define LWIP_SOCKET          0
#define LWIP_NETCONN         0
/* musl supplies htons and friends; lwIP's macros would shadow its prototypes. */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/*
 * Memory. Every pool (pcbs, segments, pbufs) is carved from the one lwIP
 * heap, and that heap is taken from ilwaco's page allocator at the first
 * network use (LWIP_RAM_HEAP_POINTER): a guest that never opens a socket
 * keeps its whole address space, which matters at -m 2M. The heap bounds
 * lwIP as a whole; ilwaco's socket table bounds the connections.
 */
#define MEM_ALIGNMENT         8
#define MEM_SIZE              (384 * 1024)
#define MEMP_MEM_MALLOC       1
#define LWIP_RAM_HEAP_POINTER ilwaco_lwip_heap
extern void *ilwaco_lwip_heap;
/* Kept for the record (lwIP does not enforce MEMP_NUM_* with MEMP_MEM_MALLOC). */
#define MEMP_NUM_TCP_PCB        64
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_UDP_PCB        16
#define MEMP_NUM_TCP_SEG        256
#define PBUF_POOL_SIZE          64

/* Protocols: IPv4 with ARP on Ethernet, ICMP echo, UDP and TCP; the address is static. */
#define LWIP_IPV4      1
#define LWIP_IPV6      0
#define LWIP_ARP       1
#define LWIP_ETHERNET  1
#define LWIP_ICMP      1
#define LWIP_RAW       0
#define LWIP_UDP       1
#define LWIP_TCP       1
#define LWIP_DHCP      0
#define LWIP_AUTOIP    0
#define LWIP_IGMP      0
#define LWIP_DNS       0
#define IP_REASSEMBLY  1
#define IP_FRAG        1
#define ARP_TABLE_SIZE 32
#define ARP_QUEUEING   1
/*
 * Packets held for an address being resolved, each. lwIP's default of 3
 * dropped all but 3 SYN-ACKs of a burst of connections to a fresh VM (its
 * first packets out wait for the gateway's MAC), and their clients resent
 * 2.75 s later.
 */
#define ARP_QUEUE_LEN 128
#define SO_REUSE      1

/* 127.0.0.1 works in every VM, NIC or not; frames to the VM's own address loop too. */
#define LWIP_NETIF_LOOPBACK     1
#define LWIP_HAVE_LOOPIF        1
#define LWIP_LOOPBACK_MAX_PBUFS 0

/*
 * TCP sized for tens of concurrent connections. The NIC sends 4,000-byte
 * IP packets but receives only 1,500-byte ones (abi.h), so TCP_MSS is the
 * largest segment lwIP will send (when the peer allows it), and a hook
 * advertises 1,460 bytes in every SYN. Windows stay at 8 small segments.
 */
#define TCP_MSS                       3960
#define ILWACO_RX_SEGMENT             1460
#define TCP_WND                       (8 * ILWACO_RX_SEGMENT)
#define TCP_SND_BUF                   (8 * ILWACO_RX_SEGMENT)
#define TCP_SND_QUEUELEN              (4 * TCP_SND_BUF / ILWACO_RX_SEGMENT)
#define LWIP_HOOK_TCP_OUT_ADD_TCPOPTS ilwaco_tcp_clamp_advertised_mss
struct pbuf;
struct tcp_hdr;
struct tcp_pcb;
unsigned int *ilwaco_tcp_clamp_advertised_mss(struct pbuf *p, struct tcp_hdr *hdr,
                                              const struct tcp_pcb *pcb, unsigned int *opts);
#define TCP_LISTEN_BACKLOG  1
#define TCP_QUEUE_OOSEQ     1
#define LWIP_TCP_KEEPALIVE  1
#define LWIP_TCP_TIMESTAMPS 0
/* TIME-WAIT lasts 2 * MSL: 20 s rather than 2 min, so a busy server holds fewer closed pcbs. */
#define TCP_MSL 10000UL

/* Nothing calls these lwIP extras. */
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK   0
#define LWIP_NETIF_HOSTNAME        0
#define LWIP_STATS_DISPLAY         0
/* Only the heap is counted: ilwaco_net_stats reports its use, which shows leaks. */
#define LWIP_STATS            1
#define MEM_STATS             1
#define MEMP_STATS            0
#define SYS_STATS             0
#define LINK_STATS            0
#define ETHARP_STATS          0
#define IP_STATS              0
#define IPFRAG_STATS          0
#define ICMP_STATS            0
#define UDP_STATS             0
#define TCP_STATS             0
#define LWIP_CHECKSUM_ON_COPY 0

#endif
