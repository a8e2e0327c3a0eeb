/* ilwaco's private declarations shared between its parts; guests never include this. */
#ifndef ILWACO_INTERNAL_H
#define ILWACO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ilwaco.h"

/*
 * Raw hypercall, inlined where ilwaco itself talks to the monitor: a call
 * through the platform's gate page. Guests are built with -mno-red-zone, so
 * the return address and the gate's own stack use clobber nothing live.
 */
static inline long ilwaco__hc(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    long ret;
    register uint64_t r10 __asm__("r10") = a2;
    /* "memory": the monitor reads buffers we pass and rewrites the vregs page. */
    __asm__ volatile("call *%[gate]"
                     : "=a"(ret)
                     : [gate] "r"((uintptr_t)DENALI_GATE_ADDR),
                       "d"((uint16_t)(DENALI_PORT_BASE + nr)), "D"(a0), "S"(a1), "r"(r10)
                     : "memory", "cc");
    return ret;
}

static inline const volatile struct denali_vregs *ilwaco__vregs(void)
{
    return (const volatile struct denali_vregs *)(uintptr_t)DENALI_VREGS_ADDR;
}

/* Page allocator over the heap, [page_up(image end), mem_size). */
void ilwaco_pages_init(void);
/* Returns the start of len bytes (a multiple of the page size) of zeroed memory, or 0. */
uintptr_t ilwaco_pages_alloc(size_t len);
/* Claims [addr, addr+len) wherever it is free or not and zeroes it; -1 if outside the heap. */
int ilwaco_pages_claim(uintptr_t addr, size_t len);
/* Returns [addr, addr+len) to the heap; freeing free pages is harmless. -1 if outside the heap. */
int ilwaco_pages_free(uintptr_t addr, size_t len);
/* True if [addr, addr+len) lies inside the heap. */
int ilwaco_pages_in_heap(uintptr_t addr, size_t len);

/* Zeroes the heap pages in [addr, addr+len) that were ever handed out (madvise DONTNEED). */
void ilwaco_pages_discard(uintptr_t addr, size_t len);

/* Seeds the pseudo-random generator from the VM's identity and the clock. */
/* Gives up to want free pages the allocator has touched back to the host (DENALI_HC_BALLOON). */
uint64_t ilwaco_pages_balloon(uint64_t want);
void ilwaco_random_init(void);
void ilwaco_random_fill(void *buf, size_t len);

/*
 * System-call handlers, one per Linux call musl makes, grouped by the file
 * that implements them; syscall.c maps numbers to these.
 */
/* sys_io.c: the console behind fds 0-2. */
long ilwaco_sys_read(long fd, void *buf, size_t len);
long ilwaco_sys_write(long fd, const void *buf, size_t len);
long ilwaco_sys_writev(long fd, const void *iov, long iovcnt);
long ilwaco_sys_readv(long fd, const void *iov, long iovcnt);
long ilwaco_sys_ioctl(long fd, unsigned long req, void *arg);
long ilwaco_sys_close(long fd);
long ilwaco_sys_lseek(long fd);
long ilwaco_sys_fcntl(long fd, long cmd, long arg);

/* sys_socket.c, socket_io.c, sys_sockopt.c: BSD sockets over lwIP (AF_INET only). */
long ilwaco_sys_socket(long domain, long type, long protocol);
long ilwaco_sys_bind(long fd, const void *addr, long len);
long ilwaco_sys_listen(long fd, long backlog);
long ilwaco_sys_accept4(long fd, void *addr, void *addrlen, long flags);
long ilwaco_sys_connect(long fd, const void *addr, long len);
long ilwaco_sys_shutdown(long fd, long how);
long ilwaco_sys_getsockname(long fd, void *addr, void *addrlen);
long ilwaco_sys_getpeername(long fd, void *addr, void *addrlen);
long ilwaco_sys_sendto(long fd, const void *buf, size_t len, long flags, const void *addr,
                       long addrlen);
long ilwaco_sys_recvfrom(long fd, void *buf, size_t len, long flags, void *addr, void *addrlen);
long ilwaco_sys_sendmsg(long fd, const void *msg, long flags);
long ilwaco_sys_recvmsg(long fd, void *msg, long flags);
long ilwaco_sys_setsockopt(long fd, long level, long opt, const void *val, long len);
long ilwaco_sys_getsockopt(long fd, long level, long opt, void *val, void *len);

/* sys_poll.c: readiness over console and socket fds, pumping the network while waiting. */
long ilwaco_sys_poll(void *fds, unsigned long n, long timeout_ms);
long ilwaco_sys_ppoll(void *fds, unsigned long n, const void *ts);
long ilwaco_sys_select(long n, void *r, void *w, void *e, void *tv);
long ilwaco_sys_pselect6(long n, void *r, void *w, void *e, const void *ts);

/* net_stack.c: sleeping while the network runs (no-op test when it never started). */
int ilwaco_net_started(void);
/* Waits until deadline, keeping the network stack serviced. */
void ilwaco_net_sleep_until(uint64_t deadline_ns);

/* disk.c: attaches the block area, if the VM has disks, so that a clone resumes with it. */
void ilwaco_disk_before_ready(void);

/* sys_time.c: clocks and sleeping on virtual time. */
long ilwaco_sys_clock_gettime(long clk, void *ts);
long ilwaco_sys_clock_getres(long clk, void *ts);
long ilwaco_sys_gettimeofday(void *tv);
long ilwaco_sys_time(void *t);
long ilwaco_sys_nanosleep(const void *req);
long ilwaco_sys_clock_nanosleep(long clk, long flags, const void *req);
long ilwaco_sys_sched_yield(void);

/* sys_mem.c: anonymous memory from the page allocator. */
long ilwaco_sys_mmap(uintptr_t addr, size_t len, long prot, long flags, long fd);
long ilwaco_sys_munmap(uintptr_t addr, size_t len);
long ilwaco_sys_mprotect(uintptr_t addr, size_t len, long prot);
long ilwaco_sys_madvise(uintptr_t addr, size_t len, long advice);

/* sys_proc.c: the process, its identity and signals. */
_Noreturn void ilwaco_sys_exit(long status);
long ilwaco_sys_uname(void *buf);
long ilwaco_sys_kill(long pid, long sig);
long ilwaco_sys_sigprocmask(void *oldset, size_t setsize);
long ilwaco_sys_sigaction(void *oldact, size_t setsize);
long ilwaco_sys_getrandom(void *buf, size_t len);

#endif
