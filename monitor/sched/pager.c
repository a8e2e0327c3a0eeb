/* Paging (Denali's, with WSClock): cold pages of VMs to the swap file, and back when touched. */
#include "sched/pager.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "denali/abi.h"
#include "image/snapshot_file.h"
#include "sched/hibernate.h"
#include "sched/vm.h"
#include "util/clock.h"

#define PAGE               DENALI_PAGE_SIZE
#define AGE_MAX            255u
#define RUN_PAGES_MAX      64u /* pages copied to the swap file in one call */
#define FAULT_BATCH        16u
#define FAULT_AROUND_PAGES 32u
#define ZERO_AHEAD_PAGES   256u
#define WINDOWS_EXTRA      1u /* the vregs page, besides the device's windows */
#define ROOM_POLL_MS       2  /* how often faults waiting for room look again */
#define SELF_EVICT_PAGES   64 /* more than a fault needs, taken at once from its own VM */
#define DEFER_PATIENCE_NS  (2000ull * 1000000ull)

static uint64_t page_hash(const void *bytes, uint64_t gpa)
{
    return snapshot_hash(bytes, PAGE) ^ (gpa * 0x9e3779b97f4a7c15ull);
}

unsigned pager_age_threshold(const uint64_t count_by_age[256], uint64_t want)
{
    uint64_t at_or_above = 0;
    for (unsigned age = AGE_MAX + 1; age-- > 0;) {
        at_or_above += count_by_age[age];
        if (at_or_above >= want)
            return age;
    }
    return 0;
}

/* Stops the VM for good: its worker hears it after the current run (called with the lock held). */
static void fail_vm(struct pager *pg, struct vm *vm, const char *fmt, uint64_t gpa,
                    const char *detail)
{
    struct vm_pager *vp = vm->pager;
    if (atomic_load(&vp->failed))
        return;
    snprintf(vp->failure, sizeof(vp->failure), fmt, (unsigned long)gpa, detail);
    atomic_store(&vp->failed, true);
    atomic_fetch_add(&pg->failures, 1);
    if (vm->vcpu)
        pg->platform->ops->vcpu_kick(vm->vcpu);
}

const char *pager_failure(const struct vm *vm)
{
    return vm->pager && atomic_load(&vm->pager->failed) ? vm->pager->failure : NULL;
}

/*
 * Reads n swapped pages from gpa on of vm into buf and checks they are the
 * very pages that went out. 0, or -1 after fail_vm: never another VM's or a
 * stale page.
 */
static int read_swapped(struct pager *pg, struct vm *vm, uint64_t gpa, uint64_t n, uint8_t *buf)
{
    struct vm_pager *vp = vm->pager;
    errno = 0;
    ssize_t got = pread(pg->swap_fd, buf, n * PAGE, (off_t)(swap_region(vm) + gpa));
    if (got != (ssize_t)(n * PAGE)) {
        fail_vm(pg, vm, "paging: page 0x%lx could not be read back from the swap file: %s", gpa,
                errno ? strerror(errno) : "the file is shorter");
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t at = gpa + i * PAGE;
        if (page_hash(buf + i * PAGE, at) != vp->hash[at / PAGE]) {
            fail_vm(pg, vm, "paging: the swap file gave back other bytes for page 0x%lx%s", at, "");
            return -1;
        }
    }
    return 0;
}

/* Page p of the VM is no longer in the swap file (lock held). */
static void unswap(struct pager *pg, struct vm_pager *vp, uint64_t p)
{
    vp->swapped[p] = 0;
    vp->swapped_count--;
    atomic_fetch_sub(&pg->swapped_now, 1);
}

/*
 * A page came back. Its slot in the swap file keeps the stale copy (a
 * punch a page costs a journal transaction of the file system): the file
 * holds at most the VM's memory, and its region is punched when it ends.
 */
static void note_back(struct pager *pg, struct vm *vm, uint64_t gpa)
{
    vm->pager->age[gpa / PAGE] = 0;
    unswap(pg, vm->pager, gpa / PAGE);
    atomic_fetch_add(&pg->pages_in, 1);
}

/*
 * How many pages from gpa one fault answers: one, or, when the guest walks
 * its memory (the fault is where the last one's pages ended), a window that
 * doubles each time up to cap, over the following pages in the same state
 * (all swapped, or all not). At random a window would cost RAM for nothing.
 */
static uint64_t fault_window(struct vm_pager *vp, uint64_t gpa, bool swapped, uint64_t cap)
{
    uint64_t first = gpa / PAGE, n = 1;
    vp->read_ahead = gpa == vp->next_fault_gpa ? 2 * vp->read_ahead : 1;
    if (vp->read_ahead > cap)
        vp->read_ahead = cap;
    while (n < vp->read_ahead && first + n < vp->pages && vp->swapped[first + n] == swapped &&
           (swapped || !vp->filled[first + n]))
        n++;
    return n;
}

/*
 * Whether n pages (or, short of that, one) fit under the hard limit now.
 * A limit that paging cannot reach (memory it may not take) must not stop
 * the fleet: once faults have waited DEFER_PATIENCE_NS with no page paged
 * out, faults are served past the limit until a page goes out again (then
 * the limit holds once more); that is counted and said once.
 */
static bool room_for(struct pager *pg, uint64_t *n)
{
    if (!pg->hard_limit)
        return true;
    uint64_t held = ram_pool_resident_bytes(pg->pool);
    if (held + *n * PAGE <= pg->hard_limit)
        return true;
    *n = 1;
    if (held + PAGE <= pg->hard_limit)
        return true;
    uint64_t now = monitor_now_ns(), out = atomic_load(&pg->pages_out);
    if (out != pg->stall_pages_out) {
        pg->stall_pages_out = out;
        pg->stall_since_ns = 0;
        pg->overrunning = false;
    }
    if (!pg->overrunning) {
        if (!pg->stall_since_ns)
            pg->stall_since_ns = now;
        if (now - pg->stall_since_ns < DEFER_PATIENCE_NS)
            return false;
        pg->overrunning = true;
        if (atomic_load(&pg->limit_overruns) == 0)
            fprintf(stderr,
                    "denali: --mem-limit: paging made no room for %lu ms; faults are served past "
                    "the limit until it does (guest RAM %lu MiB, limit %lu MiB)\n",
                    (unsigned long)(DEFER_PATIENCE_NS / 1000000), (unsigned long)(held >> 20),
                    (unsigned long)(pg->hard_limit >> 20));
    }
    atomic_fetch_add(&pg->limit_overruns, 1);
    return true;
}

/* vm's fault at addr waits for room: the fault thread tries it again until it fits (lock held). */
static void wait_for_room(struct pager *pg, struct vm *vm, uint64_t addr)
{
    struct vm_pager *vp = vm->pager;
    if (!vp->waiting_addr) {
        pg->waiting[pg->waiting_count++] = vm->id;
        atomic_fetch_add(&pg->fault_waits, 1);
        if (pg->want_room)
            pg->want_room(pg->want_room_ctx);
    }
    vp->waiting_addr = addr;
}

/* A page the pager holds in the swap file was found in memory too: written behind its back. */
static void fail_reappeared(struct pager *pg, struct vm *vm, uint64_t gpa)
{
    fail_vm(pg, vm, "paging: page 0x%lx was in memory while its copy was in the swap file%s", gpa,
            "");
}

/*
 * Whether the page is in the pool's memfd now. A fault's message can be
 * stale (a VM preempted while it waited faults again, and each fault is
 * one message): the page it names may have been put there since.
 */
static bool in_pool(struct vm *vm, uint64_t gpa)
{
    unsigned char present = 0;
    return mincore(vm->mem.ram + gpa, PAGE, &present) == 0 && (present & 1);
}

static long page_out_locked(struct pager *pg, struct vm *vm, uint64_t want, bool even_used,
                            char *err, size_t errlen);

/*
 * Where a held fault holds its worker too (platform faults_hold_worker),
 * no worker may be free to page out for it: every one can be blocked in a
 * fault of its own VM. The VM's own coldest pages go out instead, from
 * here, while its vCPU waits on this fault (lock held). True when some did.
 */
static bool make_room_from(struct pager *pg, struct vm *vm, uint64_t n)
{
    if (!pg->platform->faults_hold_worker)
        return false;
    char err[200];
    uint64_t want = n + SELF_EVICT_PAGES;
    long out = page_out_locked(pg, vm, want, false, err, sizeof(err));
    if (out == 0)
        out = page_out_locked(pg, vm, want, true, err, sizeof(err));
    /* It waited for room all the same, while its own pages went out. */
    if (out > 0)
        atomic_fetch_add(&pg->fault_waits, 1);
    return out > 0;
}

/*
 * One fault of vm at gpa (guest address addr in its process), with the lock
 * held. A swapped page comes back, with the swapped pages of its window, in
 * one read and one copy: a guest walking its memory would otherwise wait for
 * the disk once a page. A first touch gets zero pages, its window's holes
 * with it (a guest filling a buffer).
 * False when it waits (for room, or for the kernel to let it retry).
 */
static bool serve_fault(struct pager *pg, struct vm *vm, uint64_t gpa, uint64_t addr)
{
    struct vm_pager *vp = vm->pager;
    static _Alignas(4096) uint8_t buf[FAULT_AROUND_PAGES * PAGE];
    int rc;
    bool swapped = gpa / PAGE < vp->pages && vp->swapped[gpa / PAGE];
    uint64_t n = fault_window(vp, gpa, swapped, swapped ? FAULT_AROUND_PAGES : ZERO_AHEAD_PAGES);
    if (!room_for(pg, &n) && !(make_room_from(pg, vm, n) && room_for(pg, &n))) {
        wait_for_room(pg, vm, addr);
        return false;
    }
    if (swapped) {
        vp->next_fault_gpa = gpa + n * PAGE;
        if (read_swapped(pg, vm, gpa, n, buf) < 0)
            return true; /* the fault stays unanswered: the VM is stopped instead */
        struct uffdio_copy copy = {.dst = addr, .src = (uint64_t)(uintptr_t)buf, .len = n * PAGE};
        rc = ioctl(vp->uffd, UFFDIO_COPY, &copy);
        if (rc < 0 && errno != EAGAIN && errno != EEXIST && copy.copy <= 0 && n > 1) {
            /* The window crosses into memory registered apart: just the page that faulted. */
            copy = (struct uffdio_copy){.dst = addr, .src = (uint64_t)(uintptr_t)buf, .len = PAGE};
            rc = ioctl(vp->uffd, UFFDIO_COPY, &copy);
            n = 1;
        }
        if (rc < 0 && errno == EAGAIN && copy.copy <= 0) {
            wait_for_room(pg, vm, addr);
            return false;
        }
        /*
         * EEXIST does not always mean the page is there: the kernel also
         * says it when the page table it was filling went away under it (a
         * concurrent MADV_DONTNEED may free empty page tables). Taking it
         * for "back" left the page marked in memory, and the guest's next
         * touch got a zero page instead of its bytes. So it is looked at:
         * really there, something wrote it behind the pager's back and the
         * guest must not run on it; not there, the copy is tried again.
         */
        if (rc < 0 && errno == EEXIST && copy.copy <= 0) {
            if (!in_pool(vm, gpa)) {
                wait_for_room(pg, vm, addr);
                return false;
            }
            fail_reappeared(pg, vm, gpa);
            return true;
        }
        /* Exactly the pages copied are back. */
        uint64_t back = rc == 0 ? n : copy.copy > 0 ? (uint64_t)copy.copy / PAGE : 0;
        for (uint64_t i = 0; i < back; i++) {
            note_back(pg, vm, gpa + i * PAGE);
            vp->filled[gpa / PAGE + i] = 1;
        }
    } else {
        if (gpa / PAGE < vp->pages && vp->filled[gpa / PAGE] && !in_pool(vm, gpa)) {
            fail_vm(pg, vm,
                    "paging: page 0x%lx lost its contents (missing, and not in the swap file)%s",
                    gpa, "");
            return true;
        }
        struct uffdio_zeropage zero = {.range = {.start = addr, .len = n * PAGE}};
        rc = ioctl(vp->uffd, UFFDIO_ZEROPAGE, &zero);
        if (rc < 0 && zero.zeropage <= 0 && n > 1) {
            /*
             * Nothing filled: the window's first page is there already, or
             * the window crosses into memory registered apart. Just the one
             * that faulted.
             */
            n = 1;
            zero = (struct uffdio_zeropage){.range = {.start = addr, .len = PAGE}};
            rc = ioctl(vp->uffd, UFFDIO_ZEROPAGE, &zero);
        }
        if (rc < 0 && errno == EAGAIN && zero.zeropage <= 0) {
            /* The VM process's mappings were changing: the fault is tried again shortly. */
            wait_for_room(pg, vm, addr);
            return false;
        }
        vp->next_fault_gpa = gpa + n * PAGE;
        uint64_t done = rc == 0 ? n : zero.zeropage > 0 ? (uint64_t)zero.zeropage / PAGE : 0;
        for (uint64_t i = 0; i < done && gpa / PAGE + i < vp->pages; i++)
            vp->filled[gpa / PAGE + i] = 1;
        if (rc == 0)
            atomic_fetch_add(&pg->zero_fills, n);
    }
    /* Already there (the monitor brought it back meanwhile): the faulting thread just retries. */
    if (rc < 0 && errno == EEXIST) {
        struct uffdio_range range = {.start = addr, .len = PAGE};
        ioctl(vp->uffd, UFFDIO_WAKE, &range);
    }
    return true;
}

static void serve_vm(struct pager *pg, uint32_t id)
{
    pthread_mutex_lock(&pg->lock);
    struct vm *vm = id < pg->count ? pg->by_id[id] : NULL;
    struct uffd_msg msgs[FAULT_BATCH];
    ssize_t got;
    while (vm && vm->pager && (got = read(vm->pager->uffd, msgs, sizeof(msgs))) > 0) {
        for (size_t i = 0; i < (size_t)got / sizeof(msgs[0]); i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            uint64_t addr = msgs[i].arg.pagefault.address & ~(uint64_t)(PAGE - 1);
            /* Its fault that waited came again (the VM was preempted meanwhile): one wait. */
            if (vm->pager->waiting_addr)
                vm->pager->waiting_addr = addr;
            else
                serve_fault(pg, vm, addr - vm->pager->addr_base, addr);
        }
    }
    pthread_mutex_unlock(&pg->lock);
}

/* The faults waiting for room, oldest first, while they fit; those of VMs gone are dropped. */
static void serve_waiting(struct pager *pg)
{
    pthread_mutex_lock(&pg->lock);
    uint32_t kept = 0, i = 0;
    for (; i < pg->waiting_count; i++) {
        uint32_t id = pg->waiting[i];
        struct vm *vm = pg->by_id[id];
        struct vm_pager *vp = vm ? vm->pager : NULL;
        if (!vp || !vp->waiting_addr)
            continue;
        uint64_t addr = vp->waiting_addr;
        if (!serve_fault(pg, vm, addr - vp->addr_base, addr)) {
            /* No room yet: this one and every later one keep their turn. */
            break;
        }
        vp->waiting_addr = 0;
    }
    for (; i < pg->waiting_count; i++)
        pg->waiting[kept++] = pg->waiting[i];
    pg->waiting_count = kept;
    pthread_mutex_unlock(&pg->lock);
}

static void *fault_thread(void *arg)
{
    struct pager *pg = arg;
    for (;;) {
        struct epoll_event events[32];
        pthread_mutex_lock(&pg->lock);
        bool waiting = pg->waiting_count > 0;
        pthread_mutex_unlock(&pg->lock);
        int n = epoll_wait(pg->epoll_fd, events, 32, waiting ? ROOM_POLL_MS : -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return NULL;
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 == UINT64_MAX)
                return NULL;
            serve_vm(pg, (uint32_t)events[i].data.u64);
        }
        if (waiting)
            serve_waiting(pg);
    }
}

int pager_init(struct pager *pg, struct platform *platform, struct ram_pool *pool, int swap_fd,
               uint32_t count, char *err, size_t errlen)
{
    memset(pg, 0, sizeof(*pg));
    pg->platform = platform;
    pg->pool = pool;
    pg->swap_fd = swap_fd;
    pg->count = count;
    pg->by_id = calloc(count, sizeof(*pg->by_id));
    pg->waiting = calloc(count, sizeof(*pg->waiting));
    pg->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    pg->stop_fd = eventfd(0, EFD_CLOEXEC);
    struct epoll_event stop = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (!pg->by_id || !pg->waiting || pg->epoll_fd < 0 || pg->stop_fd < 0 ||
        epoll_ctl(pg->epoll_fd, EPOLL_CTL_ADD, pg->stop_fd, &stop) < 0 ||
        pthread_mutex_init(&pg->lock, NULL) != 0 ||
        pthread_create(&pg->thread, NULL, fault_thread, pg) != 0) {
        snprintf(err, errlen, "paging: cannot start the pager: %s", strerror(errno));
        free(pg->by_id);
        free(pg->waiting);
        if (pg->epoll_fd >= 0)
            close(pg->epoll_fd);
        if (pg->stop_fd >= 0)
            close(pg->stop_fd);
        return -1;
    }
    return 0;
}

void pager_close(struct pager *pg)
{
    uint64_t one = 1;
    if (write(pg->stop_fd, &one, sizeof(one)) == sizeof(one))
        pthread_join(pg->thread, NULL);
    close(pg->stop_fd);
    close(pg->epoll_fd);
    free(pg->by_id);
    free(pg->waiting);
    pthread_mutex_destroy(&pg->lock);
}

struct pager_counts pager_counts(const struct pager *pg)
{
    struct pager_counts c = {0};
    if (pg) {
        c.pages_out = atomic_load(&pg->pages_out);
        c.pages_in = atomic_load(&pg->pages_in);
        c.zero_fills = atomic_load(&pg->zero_fills);
        c.swapped_peak = atomic_load(&pg->swapped_peak);
        c.failures = atomic_load(&pg->failures);
        c.fault_waits = atomic_load(&pg->fault_waits);
        c.limit_overruns = atomic_load(&pg->limit_overruns);
    }
    return c;
}

static void free_state(struct vm_pager *vp)
{
    if (vp->uffd >= 0)
        close(vp->uffd);
    free(vp->age);
    free(vp->swapped);
    free(vp->hash);
    free(vp->filled);
    free(vp);
}

/* Starts paging vm: its memory registered for faults, the fault thread listening (lock held). */
static int start(struct pager *pg, struct vm *vm, char *err, size_t errlen)
{
    const struct platform_ops *ops = pg->platform->ops;
    if (!ops->pager_start) {
        snprintf(err, errlen, "paging: not on the %s platform", ops->name);
        return -1;
    }
    struct vm_pager *vp = calloc(1, sizeof(*vp));
    if (!vp) {
        snprintf(err, errlen, "paging: out of memory");
        return -1;
    }
    vp->uffd = -1;
    vp->pages = vm->mem.layout->mem_size / PAGE;
    vp->age = calloc(vp->pages, 1);
    vp->swapped = calloc(vp->pages, 1);
    vp->hash = calloc(vp->pages, sizeof(*vp->hash));
    vp->filled = calloc(vp->pages, 1);
    if (!vp->age || !vp->swapped || !vp->hash || !vp->filled) {
        snprintf(err, errlen, "paging: out of memory");
        free_state(vp);
        return -1;
    }
    vp->uffd = ops->pager_start(vm->vcpu, &vp->addr_base, err, errlen);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = vm->id};
    if (vp->uffd < 0 || epoll_ctl(pg->epoll_fd, EPOLL_CTL_ADD, vp->uffd, &ev) < 0) {
        if (vp->uffd >= 0)
            snprintf(err, errlen, "paging: epoll: %s", strerror(errno));
        free_state(vp);
        return -1;
    }
    vm->pager = vp;
    pg->by_id[vm->id] = vm;
    return 0;
}

/* Guest pages the pager never takes: below DENALI_LOW_LIMIT, the vregs, the device's windows. */
static void never_paged(struct vm *vm, struct platform_snapshot *windows)
{
    memset(windows, 0, sizeof(*windows));
    vm_devices_add_windows(vm->devices, vm, windows);
    if (windows->window_count < PLATFORM_WINDOWS_MAX) {
        windows->windows[windows->window_count].start = DENALI_VREGS_ADDR;
        windows->windows[windows->window_count].end = DENALI_VREGS_ADDR + PAGE;
        windows->window_count++;
    }
}

struct scan {
    struct vm *vm;
    const uint8_t *referenced;
    const unsigned char *in_memory;
    uint64_t count_by_age[AGE_MAX + 1];
    uint64_t resident;
    bool pass_two; /* the second pass evicts; the first ages and counts */
    unsigned threshold;
    uint64_t want, evicted;
    struct pager *pg;
    int error;
    uint64_t reappeared; /* 1 + the first swapped page found in memory, or 0 */
};

/* Copies pages [first, first + n) of the VM to its swap slots and frees them; lock held. */
static int evict_run(struct scan *s, uint64_t first, uint64_t n)
{
    struct vm *vm = s->vm;
    struct vm_pager *vp = vm->pager;
    static _Alignas(4096) uint8_t buf[RUN_PAGES_MAX * PAGE];
    uint64_t gpa = first * PAGE, len = n * PAGE;
    uint64_t slot = ram_pool_offset(s->pg->pool, vm->mem.ram);
    if (pread(s->pg->pool->memfd, buf, len, (off_t)(slot + gpa)) != (ssize_t)len ||
        pwrite(s->pg->swap_fd, buf, len, (off_t)(swap_region(vm) + gpa)) != (ssize_t)len) {
        s->error = errno ? errno : EIO;
        return -1;
    }
    for (uint64_t i = 0; i < n; i++)
        vp->hash[first + i] = page_hash(buf + i * PAGE, gpa + i * PAGE);
    /*
     * Written back from now on, without waiting: the copy in the page cache
     * is the kernel's to drop under pressure (clean, once written), and
     * until then a fault reads it from memory rather than from the disk.
     */
    sync_file_range(s->pg->swap_fd, (off_t)(swap_region(vm) + gpa), (off_t)len,
                    SYNC_FILE_RANGE_WRITE);
    if (ram_pool_release(s->pg->pool, vm->mem.ram, gpa, len) < 0) {
        s->error = EIO;
        return -1;
    }
    for (uint64_t i = 0; i < n; i++)
        vp->swapped[first + i] = 1;
    vp->swapped_count += n;
    s->evicted += n;
    uint64_t now = atomic_fetch_add(&s->pg->swapped_now, n) + n;
    atomic_fetch_add(&s->pg->pages_out, n);
    uint64_t peak = atomic_load(&s->pg->swapped_peak);
    while (now > peak && !atomic_compare_exchange_weak(&s->pg->swapped_peak, &peak, now))
        ;
    return 0;
}

/* WSClock over one pageable range: first pass ages its pages, second evicts the oldest. */
static int scan_range(void *ctx, uint64_t gpa, uint64_t len)
{
    struct scan *s = ctx;
    struct vm_pager *vp = s->vm->pager;
    uint64_t first = gpa / PAGE, end = (gpa + len) / PAGE, run = 0, run_start = 0;
    for (uint64_t p = first; p < end; p++) {
        bool candidate = s->in_memory[p] & 1 && !vp->swapped[p];
        if (!s->pass_two) {
            /* In memory although its copy is in the swap file: written behind the pager's back. */
            if ((s->in_memory[p] & 1) && vp->swapped[p] && !s->reappeared)
                s->reappeared = p * PAGE + 1;
            if (!candidate)
                continue;
            s->resident++;
            if (s->referenced[p])
                vp->age[p] = 0;
            else if (vp->age[p] < AGE_MAX)
                vp->age[p]++;
            s->count_by_age[vp->age[p]]++;
            continue;
        }
        bool take = candidate && vp->age[p] >= s->threshold && s->evicted + run < s->want;
        if (take) {
            if (run++ == 0)
                run_start = p;
            if (run < RUN_PAGES_MAX)
                continue;
        }
        if (run && evict_run(s, run_start, run) < 0)
            return -1;
        run = 0;
    }
    if (s->pass_two && run && evict_run(s, run_start, run) < 0)
        return -1;
    return 0;
}

/* pager_page_out with the lock held. */
static long page_out_locked(struct pager *pg, struct vm *vm, uint64_t want, bool even_used,
                            char *err, size_t errlen)
{
    const struct platform_ops *ops = pg->platform->ops;
    uint64_t size = vm->mem.layout->mem_size, pages = size / PAGE;
    if (!vm->pager && start(pg, vm, err, errlen) < 0)
        return -1;
    /* A VM scanned for the first time has no reference bits yet: its pages go by address. */
    bool first_visit = !vm->pager->scanned;
    vm->pager->scanned = true;
    uint8_t *referenced = calloc(pages, 1);
    unsigned char *in_memory = calloc(pages, 1);
    struct scan *s = calloc(1, sizeof(*s));
    struct platform_snapshot *windows = calloc(1, sizeof(*windows));
    long result = -1;
    if (!referenced || !in_memory || !s || !windows) {
        snprintf(err, errlen, "paging: out of memory");
        goto out;
    }
    if (mincore(vm->mem.ram, size, in_memory) < 0) {
        snprintf(err, errlen, "paging: mincore: %s", strerror(errno));
        goto out;
    }
    /* Without reference bits every page ages alike: the clock degrades to first-in first-out. */
    if (ops->referenced(vm->vcpu, 0, pages, referenced) < 0)
        memset(referenced, 0, pages);
    never_paged(vm, windows);
    *s = (struct scan){.vm = vm, .referenced = referenced, .in_memory = in_memory, .pg = pg};
    hibernate_each_range(windows, size, scan_range, s);
    if (s->reappeared) {
        /* The guest may already have run on it: it must not run on. */
        fail_reappeared(pg, vm, s->reappeared - 1);
        snprintf(err, errlen, "page 0x%lx was in memory while its copy was in the swap file",
                 (unsigned long)(s->reappeared - 1));
        goto out;
    }
    s->want = want < s->resident ? want : s->resident;
    s->threshold = pager_age_threshold(s->count_by_age, s->want);
    /* A page the guest touched since the last scan stays, unless the limit cannot wait. */
    if (s->threshold == 0 && !even_used && !first_visit)
        s->threshold = 1;
    s->pass_two = true;
    if (s->want && hibernate_each_range(windows, size, scan_range, s) < 0)
        snprintf(err, errlen, "paging: writing to the swap file: %s", strerror(s->error));
    else
        result = (long)s->evicted;
    vm->resident_guess = s->resident > s->evicted ? s->resident - s->evicted : 1;
    ops->forget_references(vm->vcpu);
out:
    free(referenced);
    free(in_memory);
    free(s);
    free(windows);
    return result;
}

long pager_page_out(struct pager *pg, struct vm *vm, uint64_t want, bool even_used, char *err,
                    size_t errlen)
{
    pthread_mutex_lock(&pg->lock);
    long result = page_out_locked(pg, vm, want, even_used, err, errlen);
    pthread_mutex_unlock(&pg->lock);
    return result;
}

void pager_set_want_room(struct pager *pg, void (*want_room)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&pg->lock);
    pg->want_room = want_room;
    pg->want_room_ctx = ctx;
    pthread_mutex_unlock(&pg->lock);
}

bool pager_waiting(struct pager *pg)
{
    pthread_mutex_lock(&pg->lock);
    bool waiting = pg->waiting_count > 0;
    pthread_mutex_unlock(&pg->lock);
    return waiting;
}

int pager_attach(struct pager *pg, struct vm *vm, char *err, size_t errlen)
{
    pthread_mutex_lock(&pg->lock);
    int rc = vm->pager ? 0 : start(pg, vm, err, errlen);
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

int pager_make_resident(struct pager *pg, struct vm *vm, uint64_t gpa, uint64_t len)
{
    if (!vm->pager || vm->pager->swapped_count == 0)
        return pager_failure(vm) ? -1 : 0;
    static _Thread_local _Alignas(4096) uint8_t buf[PAGE];
    int rc = 0;
    pthread_mutex_lock(&pg->lock);
    struct vm_pager *vp = vm->pager;
    uint64_t slot = ram_pool_offset(pg->pool, vm->mem.ram);
    uint64_t end = gpa + len < gpa || gpa + len > vp->pages * PAGE ? vp->pages * PAGE : gpa + len;
    for (uint64_t at = gpa & ~(uint64_t)(PAGE - 1); at < end && rc == 0; at += PAGE) {
        if (!vp->swapped[at / PAGE])
            continue;
        /* Through the memfd, not a mapping: the guest's next touch then finds it there. */
        if (read_swapped(pg, vm, at, 1, buf) < 0 ||
            pwrite(pg->pool->memfd, buf, PAGE, (off_t)(slot + at)) != PAGE) {
            if (!pager_failure(vm))
                fail_vm(pg, vm, "paging: page 0x%lx could not be put back: %s", at,
                        strerror(errno));
            rc = -1;
        } else {
            note_back(pg, vm, at);
        }
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

void pager_forget(struct pager *pg, struct vm *vm, uint64_t gpa, uint64_t len)
{
    if (!vm->pager)
        return;
    pthread_mutex_lock(&pg->lock);
    struct vm_pager *vp = vm->pager;
    for (uint64_t p = gpa / PAGE; p < (gpa + len) / PAGE && p < vp->pages; p++) {
        /* Given back: it reads as zero when next touched, as it should. */
        vp->filled[p] = 0;
        if (!vp->swapped[p])
            continue;
        unswap(pg, vp, p);
        fallocate(pg->swap_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)(swap_region(vm) + p * PAGE), PAGE);
    }
    pthread_mutex_unlock(&pg->lock);
}

void pager_detach(struct pager *pg, struct vm *vm)
{
    if (!vm->pager)
        return;
    pthread_mutex_lock(&pg->lock);
    struct vm_pager *vp = vm->pager;
    epoll_ctl(pg->epoll_fd, EPOLL_CTL_DEL, vp->uffd, NULL);
    pg->by_id[vm->id] = NULL;
    /* Off the list of faults waiting for room, or a VM coming back could be on it twice. */
    uint32_t kept = 0;
    for (uint32_t i = 0; i < pg->waiting_count; i++)
        if (pg->waiting[i] != vm->id)
            pg->waiting[kept++] = pg->waiting[i];
    pg->waiting_count = kept;
    if (vp->swapped_count) {
        atomic_fetch_sub(&pg->swapped_now, vp->swapped_count);
        fallocate(pg->swap_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)swap_region(vm),
                  (off_t)(vp->pages * PAGE));
    }
    vm->pager = NULL;
    pthread_mutex_unlock(&pg->lock);
    free_state(vp);
}

int pager_resident_hook(void *ctx, uint64_t gpa, uint64_t len)
{
    struct vm *vm = ctx;
    return pager_make_resident(vm->paged_by, vm, gpa, len);
}
