/* ilwaco's glue around lwIP: lazy start, virtual-time timers, the pump, and blocking waits. */
#include <errno.h>
#include <stdio.h>

#include "lwip/init.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"

#include "internal.h"
#include "net.h"
#include "socket.h"

void *ilwaco_lwip_heap;

static int started;
static int busy_poll;

/* lwIP's heap needs room for its two sentinel headers beyond MEM_SIZE; a page covers them. */
#define HEAP_BYTES (((MEM_SIZE + 2 * DENALI_PAGE_SIZE) / DENALI_PAGE_SIZE) * DENALI_PAGE_SIZE)

u32_t sys_now(void)
{
    /* lwIP's clock is 32-bit milliseconds; it copes with the wrap every 49 days. */
    return (u32_t)(ilwaco_time_ns() / 1000000u);
}

uint32_t ilwaco_lwip_rand(void)
{
    uint32_t r;
    ilwaco_random_fill(&r, sizeof(r));
    return r;
}

_Noreturn void ilwaco_lwip_assert(const char *msg, const char *file, int line)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "lwIP assertion failed: %s at %s:%d\n", msg, file, line);
    if (n > 0)
        ilwaco_console_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    ilwaco_exit(134);
}

int ilwaco_net_started(void)
{
    return started;
}

int ilwaco_net_start(void)
{
    if (started)
        return 0;
    uintptr_t heap = ilwaco_pages_alloc(HEAP_BYTES);
    if (!heap)
        return -ENOMEM;
    ilwaco_lwip_heap = (void *)heap;
    lwip_init();
    /* A VM without an address (or a monitor without a NIC) still has 127.0.0.1. */
    ilwaco_nic_start();
    started = 1;
    return 0;
}

void ilwaco_net_busy_poll(int on)
{
    busy_poll = on != 0;
}

/* lwIP's coarse TCP tick (retransmit, keepalive and state timeouts count these). */
#define SLOW_TICK_NS ((uint64_t)TCP_SLOW_INTERVAL * 1000000u)
/* Slow ticks made up for after a long sleep, at most (64 s: beyond any retransmit deadline). */
#define CATCH_UP_MAX 128u

/* When lwIP's slow TCP tick last ran (or was made up), and tcp_ticks then. */
static uint64_t last_slow_tick_ns;
static u32_t last_tcp_ticks;

/*
 * lwIP counts TCP time in slow ticks, not in time: a timer that ran late
 * would delay a retransmission by the ticks it missed. So when the VM slept
 * past ticks (see tcp_wake_at), run the missed ones now, before lwIP's own
 * late timer runs the last one.
 */
static void tcp_catch_up(void)
{
    uint64_t now = ilwaco_time_ns();
    if (!tcp_active_pcbs || now < last_slow_tick_ns) {
        last_tcp_ticks = tcp_ticks;
        last_slow_tick_ns = now;
        return;
    }
    uint64_t behind = (now - last_slow_tick_ns) / SLOW_TICK_NS;
    if (behind < 2)
        return;
    uint64_t missed = behind - 1 > CATCH_UP_MAX ? CATCH_UP_MAX : behind - 1;
    for (uint64_t i = 0; i < missed; i++)
        tcp_slowtmr();
    last_tcp_ticks = tcp_ticks;
    last_slow_tick_ns += missed * SLOW_TICK_NS;
}

/* Called right after lwIP's timers ran: notes when its slow tick last happened. */
static void tcp_note_tick(void)
{
    if (tcp_ticks != last_tcp_ticks) {
        last_tcp_ticks = tcp_ticks;
        last_slow_tick_ns = ilwaco_time_ns();
    }
}

int ilwaco_net_pump(void)
{
    if (!started)
        return 0;
    int work = 0;
    /* Looped-back packets produce replies (SYN, SYN-ACK, ACK...): run until the stack is quiet. */
    for (int round = 0; round < 64; round++) {
        /*
         * Ticks slept through first, before any frame: a connection the
         * frames open now (a SYN) must not age by the ticks missed before
         * it existed, or a VM asleep for over 20 s (SYN_RCVD's timeout)
         * drops the half-open connection as it answers it, and the
         * client's ACK meets a reset.
         */
        tcp_catch_up();
        int did = ilwaco_nic_poll() > 0;
        for (struct netif *n = netif_list; n; n = n->next) {
            if (n->loop_first) {
                netif_poll(n);
                did = 1;
            }
        }
        sys_check_timeouts();
        tcp_note_tick();
        ilwaco_tcp_trim_time_wait();
        if (!did)
            break;
        work = 1;
    }
    return work;
}

/* When the VM must next run for lwIP: its next timer, or never. */
static uint64_t next_timer_ns(void)
{
    u32_t ms = sys_timeouts_sleeptime();
    if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE)
        return DENALI_DEADLINE_NONE;
    return ilwaco_time_ns() + (uint64_t)ms * 1000000u;
}

/*
 * When TCP next needs its timer, given lwIP's own next timeout:
 * - that timeout, for anything pending at every tick: unsent or
 *   out-of-order data, a delayed ACK, a zero-window probe, a retransmission
 *   under way, a close to retry, keepalive, or any state but ESTABLISHED
 *   and CLOSE_WAIT (handshakes, closes, TIME-WAIT);
 * - for data sent and not yet acknowledged, the tick at which lwIP would
 *   retransmit it (rto - rtime slow ticks on), made up by tcp_catch_up.
 *   A server's reply is usually acknowledged long before, by an ACK that
 *   waits in the ring (lazy ACKs) until the next request wakes the VM;
 * - never, for quiet connections: a frame wakes the VM when the peer speaks.
 * Ticking anyway would wake every VM holding a connection four times a
 * second, and every VM that just answered a request once more.
 */
static uint64_t tcp_wake_at(uint64_t lwip_next)
{
    if (tcp_tw_pcbs)
        return lwip_next;
    uint64_t wake = DENALI_DEADLINE_NONE;
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
        if (pcb->state != ESTABLISHED && pcb->state != CLOSE_WAIT)
            return lwip_next;
        if (pcb->unsent || pcb->ooseq || pcb->refused_data || pcb->persist_backoff)
            return lwip_next;
        if ((pcb->flags & (TF_ACK_DELAY | TF_ACK_NOW | TF_CLOSEPEND)) ||
            ip_get_option(pcb, SOF_KEEPALIVE))
            return lwip_next;
        if (!pcb->unacked)
            continue;
        if (pcb->nrtx > 0 || pcb->rtime < 0 || pcb->rto - pcb->rtime < 2)
            return lwip_next;
        uint64_t due = last_slow_tick_ns + (uint64_t)(pcb->rto - pcb->rtime) * SLOW_TICK_NS;
        if (due < wake)
            wake = due;
    }
    return wake;
}

/*
 * When the VM must next run for lwIP: when TCP needs it (above). ARP
 * ageing and IP reassembly ticks (once a second each) only expire state on
 * this static LAN, where a MAC never changes and the switch answers ARP at
 * once, so they never wake an otherwise idle VM: they run whenever it runs
 * anyway. A VM with nothing of its own due sleeps until a frame comes, so
 * a long tail of idle (or hibernated) servers costs no wake-ups at all.
 */
static uint64_t next_wake_ns(void)
{
    uint64_t timer = next_timer_ns();
    uint64_t tcp = tcp_wake_at(timer);
    return tcp > timer ? tcp : timer;
}

/* Does any connection still have data lwIP has not sent (it waits for the peer's window)? */
static int tcp_unsent_anywhere(void)
{
    for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
        if (pcb->unsent)
            return 1;
    return 0;
}

int ilwaco_net_wait(int (*ready)(void *arg), void *arg, uint64_t deadline_ns, int wants_acks)
{
    for (;;) {
        ilwaco_net_pump();
        if (ready(arg))
            return 1;
        uint64_t now = ilwaco_time_ns();
        if (now >= deadline_ns)
            return 0;
        if (busy_poll) {
            /* Time only moves at exits; a kick is one, and preemption makes the others. */
            if (ilwaco_nic_tx_pending())
                ilwaco_nic_kick();
            continue;
        }
        uint64_t until = deadline_ns;
        if (started) {
            uint64_t timer = next_wake_ns();
            if (timer < until)
                until = timer;
            if (until <= now)
                continue;
        }
        /*
         * The monitor sends our tx ring at this exit, and an rx frame ends the
         * idle early. Pure ACKs only free memory unless someone waits for
         * them (a sender, or data held back by the peer's window): then they
         * may wait in the ring for the next frame that does wake us.
         */
        unsigned flags =
            started && !wants_acks && !tcp_unsent_anywhere() ? DENALI_IDLE_LAZY_ACKS : 0;
        ilwaco_idle_with(until, flags);
    }
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

void ilwaco_net_sleep_until(uint64_t deadline_ns)
{
    ilwaco_net_wait(never, NULL, deadline_ns, 0);
}

void ilwaco_net_stats(struct ilwaco_net_stats *out)
{
    *out = (struct ilwaco_net_stats){0};
    if (!started)
        return;
    out->started = 1;
    out->nic_attached = (uint32_t)ilwaco_nic_counters.attached;
    out->sockets = ilwaco_sockets_in_use();
    for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next)
        out->tcp_active++;
    for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next)
        out->tcp_time_wait++;
    for (struct tcp_pcb_listen *p = tcp_listen_pcbs.listen_pcbs; p; p = p->next)
        out->tcp_listen++;
    out->heap_size = MEM_SIZE;
    out->heap_used = lwip_stats.mem.used;
    out->rx_frames = ilwaco_nic_counters.rx_frames;
    out->tx_frames = ilwaco_nic_counters.tx_frames;
    out->rx_dropped = ilwaco_nic_counters.rx_dropped;
    out->tx_dropped = ilwaco_nic_counters.tx_dropped;
    out->kicks = ilwaco_nic_counters.kicks;
}
