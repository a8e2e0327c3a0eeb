/* Paging (Denali's, with WSClock): cold pages of VMs to the swap file, and back when touched. */
#ifndef DENALI_PAGER_H
#define DENALI_PAGER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/ram_pool.h"
#include "platform/platform.h"

struct vm;

/*
 * One per monitor: the swap file, and a thread that answers the faults of
 * every paged VM (a page in the swap file comes back from it; any other
 * missing page is a zero page, as it would have been without paging).
 */
struct pager {
    pthread_mutex_t lock; /* every paged VM's pager state, and the swap file's page slots */
    struct platform *platform;
    struct ram_pool *pool;
    int swap_fd;
    int epoll_fd;
    int stop_fd;
    pthread_t thread;
    struct vm **by_id; /* paged VMs, for the fault thread */
    uint32_t count;
    _Atomic uint64_t pages_out;   /* pages written to the swap file */
    _Atomic uint64_t pages_in;    /* pages read back on a fault or for the monitor */
    _Atomic uint64_t zero_fills;  /* first touches of pages never paged */
    _Atomic uint64_t swapped_now; /* pages in the swap file now */
    _Atomic uint64_t swapped_peak;
    _Atomic uint64_t failures; /* VMs stopped because their pages could not come back */
    /*
     * --mem-limit, kept at every fault: a page that would take guest RAM
     * past it waits (its VM is blocked in the fault) until paging makes
     * room. 0: none. Set before the first VM is attached.
     */
    uint64_t hard_limit;
    uint32_t *waiting; /* VMs whose fault waits for room, oldest first */
    uint32_t waiting_count;
    _Atomic uint64_t fault_waits;    /* faults that had to wait for room */
    _Atomic uint64_t limit_overruns; /* faults served past the limit: paging made no room */
    /* Since when faults wait with no page paged out (0: not now), and past that, served anyway. */
    uint64_t stall_since_ns, stall_pages_out;
    bool overrunning;
    /* Called (lock held) when a fault begins to wait for room: paging should not wait a tick. */
    void (*want_room)(void *ctx);
    void *want_room_ctx;
};

/* The pager's state of one paged VM (struct vm's pager); NULL until it is first paged. */
struct vm_pager {
    int uffd;
    uint64_t addr_base;
    uint64_t pages;
    uint8_t *age;     /* WSClock: scans since the guest last touched the page */
    uint8_t *swapped; /* 1: the page is in the swap file, not in memory */
    uint64_t *hash;   /* of a swapped page's bytes, checked when it comes back */
    /*
     * 1: the guest has had the page since it was attached (a fault filled
     * it): were it ever missing without being swapped, its bytes were lost,
     * and a zero page must not stand in for them.
     */
    uint8_t *filled;
    uint64_t swapped_count;
    uint64_t next_fault_gpa; /* where the last fault's pages ended: the next is sequential */
    uint64_t read_ahead;     /* pages the next sequential fault may bring */
    bool scanned;            /* WSClock has looked at it: its reference bits mean something */
    uint64_t waiting_addr;   /* its fault that waits for room (0: none) */
    _Atomic bool failed;
    char failure[160];
};

/* A pager's counters at one moment (all 0 for no pager), for --stats. */
struct pager_counts {
    uint64_t pages_out, pages_in, zero_fills, swapped_peak, failures, fault_waits, limit_overruns;
};
struct pager_counts pager_counts(const struct pager *pg);

/* Starts the fault thread for VMs 0 .. count-1. -1 with a reason. */
int pager_init(struct pager *pg, struct platform *platform, struct ram_pool *pool, int swap_fd,
               uint32_t count, char *err, size_t errlen);
void pager_close(struct pager *pg);

/*
 * Puts vm under the pager as soon as its vCPU exists, before its first
 * instruction: from then on every page it touches first comes through the
 * fault thread, which keeps hard_limit. Attaching twice is harmless. -1
 * with a reason (the VM then runs unpaged until its first page-out).
 */
int pager_attach(struct pager *pg, struct vm *vm, char *err, size_t errlen);
/*
 * Pages out up to want of vm's coldest pages (pages the guest touched since
 * the last scan only when even_used), called by the worker that
 * owns the stopped VM; the first call starts paging it (registers its
 * memory for faults). Every call clears its reference bits. Returns the pages written out, or -1
 * with a reason (nothing changed).
 */
long pager_page_out(struct pager *pg, struct vm *vm, uint64_t want, bool even_used, char *err,
                    size_t errlen);

/*
 * Brings [gpa, gpa + len) of a stopped vm back into memory, for the monitor
 * to read or write it. 0, or -1: the VM must be stopped (pager_failure).
 */
int pager_make_resident(struct pager *pg, struct vm *vm, uint64_t gpa, uint64_t len);

/* The guest gave [gpa, gpa + len) back (ballooning): what the swap file held of it is dropped. */
void pager_forget(struct pager *pg, struct vm *vm, uint64_t gpa, uint64_t len);

/*
 * vm's process ended (it ended, or hibernated with every page brought
 * back first): its pager state and swap slots go.
 */
void pager_detach(struct pager *pg, struct vm *vm);

/* Sets (or, with NULL, clears) the pager's want_room call. */
void pager_set_want_room(struct pager *pg, void (*want_room)(void *ctx), void *ctx);
/* Whether some VM's fault waits for room under hard_limit now. */
bool pager_waiting(struct pager *pg);
/* Why vm's memory could not be brought back, once that has happened; NULL otherwise. */
const char *pager_failure(const struct vm *vm);

/* For guest_memory.make_resident: ctx is the VM (its paged_by says by which pager). */
int pager_resident_hook(void *ctx, uint64_t gpa, uint64_t len);

/*
 * WSClock's choice (pure; unit-tested): the lowest age such that at least
 * want of the candidates' ages are at or above it, as high as it can be;
 * 0 when all of them together are fewer than want.
 */
unsigned pager_age_threshold(const uint64_t count_by_age[256], uint64_t want);

#endif
