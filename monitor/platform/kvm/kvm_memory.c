/* Guest memory for the kvm platform's clones and paging, all in the monitor's own address space. */
#include "platform/kvm/kvm_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "denali/abi.h"
#include "image/ram_pool.h"
#include "platform/platform.h"
#include "util/full_io.h"
#include "util/pagemap.h"

#define PAGE DENALI_PAGE_SIZE

struct kept_range {
    uint64_t start, end;
};

/* The pages of the slot that stay the VM's own: its virtual registers and the snapshot's windows.
 */
static int kept_ranges(uint64_t mem_size, const struct platform_snapshot *snap,
                       struct kept_range keep[PLATFORM_WINDOWS_MAX + 1], char *err, size_t errlen)
{
    unsigned n = 0;
    keep[n++] = (struct kept_range){DENALI_VREGS_ADDR, DENALI_VREGS_ADDR + PAGE};
    if (snap->window_count > PLATFORM_WINDOWS_MAX) {
        snprintf(err, errlen, "the snapshot names %u windows", snap->window_count);
        return -1;
    }
    for (unsigned w = 0; w < snap->window_count; w++) {
        uint64_t start = snap->windows[w].start, end = snap->windows[w].end;
        if (start < DENALI_LOW_LIMIT || end > mem_size || start >= end || start % PAGE ||
            end % PAGE) {
            snprintf(err, errlen, "the snapshot's window 0x%lx-0x%lx is outside its memory",
                     (unsigned long)start, (unsigned long)end);
            return -1;
        }
        keep[n++] = (struct kept_range){start, end};
    }
    return (int)n;
}

/* [DENALI_LOW_LIMIT, mem_size) of the slot becomes a copy-on-write view of the snapshot. */
static int map_view(uint8_t *ram, uint64_t mem_size, const struct platform_snapshot *snap,
                    char *err, size_t errlen)
{
    void *view = mmap(ram + DENALI_LOW_LIMIT, mem_size - DENALI_LOW_LIMIT, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, snap->memfd, DENALI_LOW_LIMIT);
    if (view == MAP_FAILED) {
        snprintf(err, errlen, "mapping the snapshot copy-on-write: %s", strerror(errno));
        return -1;
    }
    /* Huge pages would copy 2 MiB for the first byte a clone writes. */
    madvise(view, mem_size - DENALI_LOW_LIMIT, MADV_NOHUGEPAGE);
    return 0;
}

/* Orders the kept ranges by start, for walking the gaps between them (a handful: insertion). */
static void sort_kept(struct kept_range *keep, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && keep[j - 1].start > keep[j].start; j--) {
            struct kept_range t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
}

/*
 * A shared pool: the kept ranges go back to being the slot's own memfd
 * pages, and the slot's other pages, which the view hides from now on, are
 * given back.
 */
static int share_kept_ranges(uint8_t *ram, uint64_t mem_size, struct ram_pool *pool,
                             struct kept_range *keep, int n, char *err, size_t errlen)
{
    uint64_t slot = ram_pool_offset(pool, ram);
    for (int i = 0; i < n; i++) {
        uint64_t len = keep[i].end - keep[i].start;
        void *at = mmap(ram + keep[i].start, len, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_FIXED | MAP_NORESERVE, pool->memfd,
                        (off_t)(slot + keep[i].start));
        if (at == MAP_FAILED) {
            snprintf(err, errlen, "mapping a clone's window: %s", strerror(errno));
            return -1;
        }
        /* As the pool's own mapping is: the vregs page then merges with it. */
        madvise(at, len, MADV_NOHUGEPAGE);
    }
    sort_kept(keep, n);
    uint64_t from = DENALI_LOW_LIMIT;
    for (int i = 0; i <= n; i++) {
        uint64_t to = i < n ? keep[i].start : mem_size;
        if (to > from)
            ram_pool_release(pool, ram, from, to - from);
        if (i < n && keep[i].end > from)
            from = keep[i].end;
    }
    return 0;
}

/* A private pool: the kept ranges' bytes are copied into the view. */
static int carry_kept_ranges(uint8_t *ram, uint64_t mem_size, const struct platform_snapshot *snap,
                             const struct kept_range *keep, int n, char *err, size_t errlen)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += keep[i].end - keep[i].start;
    uint8_t *saved = malloc(total);
    if (!saved) {
        snprintf(err, errlen, "out of memory for a clone's windows");
        return -1;
    }
    for (uint64_t i = 0, at = 0; i < (uint64_t)n; at += keep[i].end - keep[i].start, i++)
        memcpy(saved + at, ram + keep[i].start, keep[i].end - keep[i].start);
    if (map_view(ram, mem_size, snap, err, errlen) < 0) {
        free(saved);
        return -1;
    }
    for (uint64_t i = 0, at = 0; i < (uint64_t)n; at += keep[i].end - keep[i].start, i++)
        memcpy(ram + keep[i].start, saved + at, keep[i].end - keep[i].start);
    free(saved);
    return 0;
}

int kvm_memory_map_clone(uint8_t *ram, uint64_t mem_size, const struct platform_snapshot *snap,
                         struct ram_pool *pool, char *err, size_t errlen)
{
    if (snap->mem_size != mem_size || mem_size <= DENALI_LOW_LIMIT || mem_size % PAGE) {
        snprintf(err, errlen, "the snapshot holds %lu KiB of memory, the VM has %lu KiB",
                 (unsigned long)(snap->mem_size >> 10), (unsigned long)(mem_size >> 10));
        return -1;
    }
    struct kept_range keep[PLATFORM_WINDOWS_MAX + 1];
    int n = kept_ranges(mem_size, snap, keep, err, errlen);
    if (n < 0)
        return -1;
    if (pool->memfd < 0)
        return carry_kept_ranges(ram, mem_size, snap, keep, n, err, errlen);
    if (map_view(ram, mem_size, snap, err, errlen) < 0)
        return -1;
    if (share_kept_ranges(ram, mem_size, pool, keep, n, err, errlen) < 0) {
        ram_pool_remap(pool, ram);
        return -1;
    }
    return 0;
}

struct private_copy {
    const uint8_t *ram;
    uint64_t gpa;
    int memfd;
    uint64_t slot_offset;
};

static int write_private_run(void *ctx, uint64_t offset, uint64_t len)
{
    struct private_copy *c = ctx;
    uint64_t gpa = c->gpa + offset;
    return pwrite_full(c->memfd, c->ram + gpa, len, c->slot_offset + gpa);
}

int kvm_memory_copy_private(int pagemap_fd, const uint8_t *ram, uint64_t gpa, uint64_t len,
                            int memfd, uint64_t slot_offset, char *err, size_t errlen)
{
    struct private_copy c = {.ram = ram, .gpa = gpa, .memfd = memfd, .slot_offset = slot_offset};
    if (pagemap_each_private_run(pagemap_fd, (uint64_t)(uintptr_t)(ram + gpa), len,
                                 write_private_run, &c) != 0) {
        snprintf(err, errlen, "copying a clone's own pages into its slot: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int kvm_memory_userfault(uint8_t *ram, uint64_t mem_size, char *err, size_t errlen)
{
    /* Not user-mode only: KVM meets a missing page inside the kernel, on the guest's behalf. */
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "paging: userfaultfd: %s%s", strerror(errno),
                 errno == EPERM ? " (kvm paging needs root, or vm.unprivileged_userfaultfd=1)"
                                : "");
        return -1;
    }
    struct uffdio_api api = {.api = UFFD_API};
    struct uffdio_register reg = {.range = {.start = (uint64_t)(uintptr_t)(ram + DENALI_LOW_LIMIT),
                                            .len = mem_size - DENALI_LOW_LIMIT},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(fd, UFFDIO_API, &api) < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
        snprintf(err, errlen, "paging: registering guest memory with a userfaultfd: %s",
                 strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int kvm_memory_referenced(int pagemap_fd, const uint8_t *ram, uint64_t gpa, uint64_t pages,
                          uint8_t *bits)
{
    return pagemap_present(pagemap_fd, ((uint64_t)(uintptr_t)ram + gpa) / PAGE, pages, bits);
}

void kvm_memory_forget_references(uint8_t *ram, uint64_t mem_size)
{
    madvise(ram + DENALI_LOW_LIMIT, mem_size - DENALI_LOW_LIMIT, MADV_DONTNEED);
}
