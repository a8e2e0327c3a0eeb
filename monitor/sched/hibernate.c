/* Hibernation: an idle VM's memory to the swap file and its process released, and back on demand.
 */
#include "sched/hibernate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/ram_pool.h"
#include "image/snapshot_file.h"

#define COPY_CHUNK (256u * 1024u)

int swap_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        snprintf(err, errlen, "--swap %s: %s", path, strerror(errno));
    return fd;
}

uint64_t swap_region(const struct vm *vm)
{
    return (uint64_t)vm->id * vm->mem.layout->mem_size;
}

/* What went to or came back from the swap file: its bytes and a hash of them, chunk by chunk. */
struct swap_tally {
    uint64_t bytes;
    uint64_t hash;
    /* Going out: the runs written, by guest address, so that exactly they come back. */
    struct swap_run *runs;
    unsigned run_count, run_capacity;
};

static int record_run(struct swap_tally *t, uint64_t gpa, uint64_t len)
{
    if (t->run_count == t->run_capacity) {
        unsigned capacity = t->run_capacity ? 2 * t->run_capacity : 8;
        struct swap_run *runs = realloc(t->runs, capacity * sizeof(*runs));
        if (!runs)
            return -1;
        t->runs = runs;
        t->run_capacity = capacity;
    }
    t->runs[t->run_count++] = (struct swap_run){.gpa = gpa, .len = len};
    return 0;
}

/*
 * Copies one run of guest memory (gpa, len) between the pool's memfd and the
 * swap file with pread and pwrite, so no page is faulted into the monitor,
 * and adds it to the tally. The hash is keyed by guest address: a slot and
 * its swap region differ in offset. 0, or -1 with errno (0 when a side was
 * shorter than the run).
 */
static int copy_run(int from, uint64_t from_pos, int to, uint64_t to_pos, uint64_t gpa,
                    uint64_t len, struct swap_tally *t)
{
    static _Thread_local char buf[COPY_CHUNK];
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < COPY_CHUNK ? (size_t)(len - done) : COPY_CHUNK;
        errno = 0;
        ssize_t got = pread(from, buf, n, (off_t)(from_pos + done));
        if (got <= 0 || pwrite(to, buf, (size_t)got, (off_t)(to_pos + done)) != got)
            return -1;
        t->bytes += (uint64_t)got;
        t->hash = (t->hash ^ snapshot_hash(buf, (size_t)got) ^ (gpa + done)) * 0x100000001b3ull;
        done += (uint64_t)got;
    }
    return 0;
}

/*
 * The guest memory that goes to the swap file: [DENALI_LOW_LIMIT, size)
 * but the windows the monitor itself writes (a NIC's rings), which stay in
 * memory so that frames for a hibernated VM land where it will find them.
 * Calls fn for each range in turn; stops at the first failure.
 */
int hibernate_each_range(const struct platform_snapshot *state, uint64_t size,
                         int (*fn)(void *ctx, uint64_t gpa, uint64_t len), void *ctx)
{
    uint64_t at = DENALI_LOW_LIMIT;
    while (at < size) {
        uint64_t stop = size, next = size;
        for (unsigned w = 0; w < state->window_count; w++) {
            if (state->windows[w].end <= at)
                continue;
            if (state->windows[w].start <= at) {
                at = state->windows[w].end; /* inside a window: skip past it */
                stop = next = at;
                break;
            }
            if (state->windows[w].start < stop) {
                stop = state->windows[w].start;
                next = state->windows[w].end;
            }
        }
        if (stop > at && fn(ctx, at, stop - at) < 0)
            return -1;
        at = next > at ? next : stop;
    }
    return 0;
}

struct swap_copy {
    struct vm *vm;
    struct ram_pool *pool;
    int swap_fd;
    struct swap_tally tally;
    char *err;
    size_t errlen;
};

/*
 * Saves a range of guest memory: the data runs the slot holds in it
 * (SEEK_DATA: holes stay holes), each recorded and copied to the same
 * guest address in the VM's swap region.
 */
static int save_range(void *ctx, uint64_t gpa, uint64_t len)
{
    struct swap_copy *c = ctx;
    int memfd = c->pool->memfd;
    uint64_t slot = ram_pool_offset(c->pool, c->vm->mem.ram), swap = swap_region(c->vm);
    uint64_t at = slot + gpa, end = slot + gpa + len;
    while (at < end) {
        off_t data = lseek(memfd, (off_t)at, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            return 0;
        off_t hole = data < 0 ? -1 : lseek(memfd, data, SEEK_HOLE);
        if (data < 0 || hole < 0) {
            snprintf(c->err, c->errlen, "swap file: %s", strerror(errno));
            return -1;
        }
        if ((uint64_t)data >= end)
            return 0;
        uint64_t stop = (uint64_t)hole < end ? (uint64_t)hole : end;
        uint64_t run_gpa = (uint64_t)data - slot, run_len = stop - (uint64_t)data;
        if (record_run(&c->tally, run_gpa, run_len) < 0) {
            snprintf(c->err, c->errlen, "swap file: out of memory");
            return -1;
        }
        if (copy_run(memfd, slot + run_gpa, c->swap_fd, swap + run_gpa, run_gpa, run_len,
                     &c->tally) < 0) {
            snprintf(c->err, c->errlen, "swap file: %s", errno ? strerror(errno) : "short");
            return -1;
        }
        at = stop;
    }
    return 0;
}

/*
 * A clone's memory is the snapshot's, but for the pages it wrote, which live
 * where only the platform reaches them: both go into its slot first, so that
 * it hibernates, and later wakes, as a VM of its own.
 */
static int release_range(void *ctx, uint64_t gpa, uint64_t len);

struct clone_copy {
    struct vm *vm;
    struct platform *platform;
    struct ram_pool *pool;
    char *err;
    size_t errlen;
};

static int gather_clone_run(struct clone_copy *c, uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return 0;
    /* Through the memfd: on kvm the clone's own view, not the slot's pages, is mapped at ram. */
    if (vm_copy_snapshot_to_fd(c->vm->clone_of, c->pool->memfd,
                               ram_pool_offset(c->pool, c->vm->mem.ram), gpa, gpa + len, c->err,
                               c->errlen) < 0)
        return -1;
    return c->platform->ops->vcpu_copy_private(c->vm->vcpu, c->vm->mem.ram, gpa, len, c->err,
                                               c->errlen);
}

/*
 * The virtual registers are the slot's own page on every platform, and
 * the clone's identity: the template's copy in the snapshot must not
 * cover them.
 */
static int gather_clone_range(void *ctx, uint64_t gpa, uint64_t len)
{
    struct clone_copy *c = ctx;
    const uint64_t vregs = DENALI_VREGS_ADDR, vregs_end = vregs + DENALI_PAGE_SIZE;
    if (vregs_end <= gpa || vregs >= gpa + len)
        return gather_clone_run(c, gpa, len);
    if (gather_clone_run(c, gpa, vregs > gpa ? vregs - gpa : 0) < 0)
        return -1;
    return vregs_end < gpa + len ? gather_clone_run(c, vregs_end, gpa + len - vregs_end) : 0;
}

static int release_range(void *ctx, uint64_t gpa, uint64_t len)
{
    struct swap_copy *c = ctx;
    return ram_pool_release(c->pool, c->vm->mem.ram, gpa, len);
}

int vm_hibernate(struct vm *vm, struct platform *platform, struct ram_pool *pool, int swap_fd,
                 char *err, size_t errlen)
{
    if (pool->memfd < 0 || !platform->ops->vcpu_resume) {
        snprintf(err, errlen,
                 "hibernation needs guest RAM in a memfd and a platform that can resume");
        return -1;
    }
    struct platform_snapshot *state = calloc(1, sizeof(*state));
    if (!state) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t size = vm->mem.layout->mem_size;
    state->memfd = -1;
    state->mem_size = size;
    if (platform->ops->vcpu_capture(vm->vcpu, state, err, errlen) < 0) {
        free(state);
        return -1;
    }
    vm_devices_add_windows(vm->devices, vm, state);
    struct swap_copy c = {.vm = vm, .pool = pool, .swap_fd = swap_fd, .err = err, .errlen = errlen};
    if (vm->clone_of) {
        struct clone_copy cc = {
            .vm = vm, .platform = platform, .pool = pool, .err = err, .errlen = errlen};
        if (!platform->ops->vcpu_copy_private) {
            snprintf(err, errlen, "the %s platform cannot hibernate a clone", platform->ops->name);
            free(state);
            return -1;
        }
        if (hibernate_each_range(state, size, gather_clone_range, &cc) < 0) {
            /* Its slot goes back to holding only what a clone's holds. */
            hibernate_each_range(state, size, release_range, &c);
            free(state);
            return -1;
        }
    }
    /* The pages below DENALI_LOW_LIMIT are the platform's, made anew when it wakes. */
    if (hibernate_each_range(state, size, save_range, &c) < 0) {
        free(c.tally.runs);
        free(state);
        return -1;
    }
    /*
     * Out of the page cache as well: written back and dropped, or the
     * "hibernated" memory would still be RAM, only the kernel's instead.
     */
    sync_file_range(swap_fd, (off_t)swap_region(vm), (off_t)size,
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                        SYNC_FILE_RANGE_WAIT_AFTER);
    posix_fadvise(swap_fd, (off_t)swap_region(vm), (off_t)size, POSIX_FADV_DONTNEED);
    vm->swapped_bytes = c.tally.bytes;
    vm->swapped_hash = c.tally.hash;
    free(vm->swap_runs);
    vm->swap_runs = c.tally.runs;
    vm->swap_run_count = c.tally.run_count;
    vm_destroy(vm, platform);
    ram_pool_release(pool, vm->mem.ram, 0, DENALI_LOW_LIMIT);
    hibernate_each_range(state, size, release_range, &c);
    ram_pool_drop_page_tables(pool, vm->mem.ram);
    vm->hibernated = state;
    vm->clone_of = NULL; /* it wakes from its own slot */
    return 0;
}

int vm_wake(struct vm *vm, struct platform *platform, struct ram_pool *pool,
            const struct guest_image *image, int swap_fd, char *err, size_t errlen)
{
    struct platform_snapshot *state = vm->hibernated;
    uint64_t size = vm->mem.layout->mem_size;
    /* Exactly the runs that went out come back: nothing the file may have grown elsewhere. */
    uint64_t slot = ram_pool_offset(pool, vm->mem.ram), swap = swap_region(vm);
    struct swap_tally back = {0};
    int rc = 0;
    for (unsigned i = 0; i < vm->swap_run_count && rc == 0; i++) {
        const struct swap_run *r = &vm->swap_runs[i];
        rc = copy_run(swap_fd, swap + r->gpa, pool->memfd, slot + r->gpa, r->gpa, r->len, &back);
        if (rc < 0)
            snprintf(err, errlen, "reading its memory back from the swap file: %s",
                     errno ? strerror(errno) : "the file is shorter than what was saved");
    }
    /* Whatever happened to the file meanwhile, only the very bytes that went out come back. */
    if (rc == 0 && (back.bytes != vm->swapped_bytes || back.hash != vm->swapped_hash)) {
        snprintf(err, errlen,
                 "the swap file gave back other bytes than were saved (%lu read, %lu saved)",
                 (unsigned long)back.bytes, (unsigned long)vm->swapped_bytes);
        rc = -1;
    }
    /* Keeps the swap file no bigger than what is hibernated now (where punching works). */
    fallocate(swap_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)swap_region(vm),
              (off_t)size);
    if (rc < 0)
        return -1;
    vm->vcpu = platform->ops->vcpu_resume(platform, image, vm->mem.ram, vm->id, state, err, errlen);
    if (!vm->vcpu)
        return -1;
    free(state);
    vm->hibernated = NULL;
    free(vm->swap_runs);
    vm->swap_runs = NULL;
    vm->swap_run_count = 0;
    return 0;
}
