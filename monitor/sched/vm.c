/* One VM's context: its vCPU, memory, virtual registers, scheduling state and console line. */
#include "sched/vm.h"

#include "image/ram_pool.h"
#include "util/full_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static void write_vregs(struct vm *vm, const struct guest_image *image, uint32_t id, uint32_t count)
{
    struct denali_vregs *v = vm->vregs;
    v->abi_version = DENALI_ABI_VERSION;
    v->vm_id = id;
    v->vm_count = count;
    v->argc = image->argc;
    v->mem_size = image->layout.mem_size;
    v->image_end = image->elf.image_end;
    v->args_len = image->args_len;
    memcpy(v->args, image->args, image->args_len);
    /* Fresh at every boot and every clone, so that no two VMs share a random stream. */
    uint32_t entropy[2] = {0, 0};
    if (getrandom(entropy, sizeof(entropy), GRND_NONBLOCK) != (ssize_t)sizeof(entropy))
        entropy[0] = (uint32_t)(uintptr_t)vm ^ id, entropy[1] = (uint32_t)time(NULL);
    memcpy(v->entropy, entropy, sizeof(entropy));
}

static void copy_writable_segments(uint8_t *ram, const struct guest_image *image)
{
    for (unsigned i = 0; i < image->elf.segment_count; i++) {
        const struct elf_segment *s = &image->elf.segments[i];
        /* Fresh RAM is zero, which is the bss; only file bytes need copying. */
        if (s->writable && s->filesz)
            memcpy(ram + s->vaddr, image->file + s->offset, s->filesz);
    }
}

static void prepare(struct vm *vm, const struct guest_image *image, uint32_t id, uint32_t count,
                    uint8_t *ram)
{
    vm->id = id;
    vm->mem = (struct guest_memory){.layout = &image->layout, .ram = ram, .file = image->file};
    vm->vregs = (struct denali_vregs *)(ram + DENALI_VREGS_ADDR);
    sched_entity_init(&vm->sched);
    write_vregs(vm, image, id, count);
}

int vm_boot(struct vm *vm, struct platform *platform, const struct guest_image *image, uint32_t id,
            uint32_t count, uint8_t *ram, char *err, size_t errlen)
{
    prepare(vm, image, id, count, ram);
    copy_writable_segments(ram, image);
    vm->vcpu = platform->ops->vcpu_create(platform, image, ram, id, err, errlen);
    return vm->vcpu ? 0 : -1;
}

/* True when the page holds only zeroes: most of a booted guest's RAM, never stored. */
static bool page_is_zero(const uint8_t *page)
{
    const uint64_t *words = (const uint64_t *)page;
    for (size_t i = 0; i < DENALI_PAGE_SIZE / sizeof(uint64_t); i++)
        if (words[i])
            return false;
    return true;
}

/* Calls fn for each run of [at, end) where the snapshot holds data (its holes read as zero). */
static int each_snapshot_run(const struct platform_snapshot *snap, uint64_t at, uint64_t end,
                             int (*fn)(void *ctx, uint64_t gpa, uint64_t len), void *ctx)
{
    while (at < end) {
        off_t data = lseek(snap->memfd, (off_t)at, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            return 0;
        off_t hole = data < 0 ? -1 : lseek(snap->memfd, data, SEEK_HOLE);
        if (data < 0 || hole < 0)
            return -1;
        if ((uint64_t)data >= end)
            return 0;
        uint64_t stop = (uint64_t)hole < end ? (uint64_t)hole : end;
        if (fn(ctx, (uint64_t)data, stop - (uint64_t)data) < 0)
            return -1;
        at = stop;
    }
    return 0;
}

struct snapshot_copy {
    const struct platform_snapshot *snap;
    uint8_t *ram;
    int fd;
    uint64_t base;
};

static int read_into_ram(void *ctx, uint64_t gpa, uint64_t len)
{
    struct snapshot_copy *c = ctx;
    return pread_full(c->snap->memfd, c->ram + gpa, len, gpa);
}

int vm_copy_snapshot_data(const struct platform_snapshot *snap, uint8_t *ram, uint64_t at,
                          uint64_t end, char *err, size_t errlen)
{
    struct snapshot_copy c = {.snap = snap, .ram = ram};
    if (each_snapshot_run(snap, at, end, read_into_ram, &c) == 0)
        return 0;
    snprintf(err, errlen, "cannot read the snapshot: %s", strerror(errno));
    return -1;
}

#define SNAPSHOT_COPY_CHUNK (64u * 1024u)

static int copy_into_fd(void *ctx, uint64_t gpa, uint64_t len)
{
    struct snapshot_copy *c = ctx;
    uint8_t chunk[SNAPSHOT_COPY_CHUNK];
    for (uint64_t done = 0; done < len;) {
        size_t n = len - done < sizeof(chunk) ? (size_t)(len - done) : sizeof(chunk);
        if (pread_full(c->snap->memfd, chunk, n, gpa + done) < 0 ||
            pwrite_full(c->fd, chunk, n, c->base + gpa + done) < 0)
            return -1;
        done += n;
    }
    return 0;
}

int vm_copy_snapshot_to_fd(const struct platform_snapshot *snap, int fd, uint64_t base, uint64_t at,
                           uint64_t end, char *err, size_t errlen)
{
    struct snapshot_copy c = {.snap = snap, .fd = fd, .base = base};
    if (each_snapshot_run(snap, at, end, copy_into_fd, &c) == 0)
        return 0;
    snprintf(err, errlen, "copying the snapshot into a clone's slot: %s", strerror(errno));
    return -1;
}

int vm_clone(struct vm *vm, struct platform *platform, const struct guest_image *image,
             const struct platform_snapshot *snap, uint32_t id, uint32_t count, uint8_t *ram,
             char *err, size_t errlen)
{
    prepare(vm, image, id, count, ram);
    /*
     * The monitor's own view of the windows starts as the template left
     * them. Only the snapshot's data is read (it holds holes where the
     * template had zeroes), so a NIC's mostly empty rings cost a read or
     * two, and the pages of the slot stay untouched where they are zero.
     */
    for (unsigned w = 0; w < snap->window_count; w++)
        if (vm_copy_snapshot_data(snap, ram, snap->windows[w].start, snap->windows[w].end, err,
                                  errlen) < 0)
            return -1;
    vm->clone_of = snap;
    vm->vcpu = platform->ops->vcpu_clone(platform, image, ram, id, snap, err, errlen);
    return vm->vcpu ? 0 : -1;
}

void vm_become_clone(struct vm *vm, struct platform *platform, const struct guest_image *image,
                     const struct platform_snapshot *snap, uint32_t count, char *err, size_t errlen)
{
    vm_destroy(vm, platform);
    write_vregs(vm, image, vm->id, count);
    vm->vcpu = platform->ops->vcpu_clone(platform, image, vm->mem.ram, vm->id, snap, err, errlen);
    vm->clone_of = snap;
}

/*
 * The guest's non-zero pages into the snapshot's memfd, with pwrite (its
 * pages are allocated by the kernel without a fault each in the monitor).
 * Below DENALI_LOW_LIMIT the slot holds the platform's own pages, not the
 * guest's. A slot in a shared memfd is read through the file, from its data
 * runs only: reading its holes through the mapping would give each of them
 * a page (shared memory allocates on a read fault), the whole slot.
 */
static int copy_ram(struct vm *vm, struct platform *platform, struct platform_snapshot *snap,
                    char *err, size_t errlen)
{
    uint64_t size = vm->mem.layout->mem_size;
    const uint8_t *ram = vm->mem.ram;
    int fd = platform->ram ? platform->ram->memfd : -1;
    uint64_t base = fd >= 0 ? ram_pool_offset(platform->ram, ram) : 0;
    for (uint64_t at = DENALI_LOW_LIMIT; at < size;) {
        uint64_t end = size;
        if (fd >= 0) {
            off_t data = lseek(fd, (off_t)(base + at), SEEK_DATA);
            if (data < 0 || (uint64_t)data >= base + size)
                break;
            off_t hole = lseek(fd, data, SEEK_HOLE);
            at = (uint64_t)data - base;
            if (hole >= 0 && (uint64_t)hole - base < size)
                end = (uint64_t)hole - base;
        }
        /* Within the run, only non-zero pages, in runs of their own. */
        while (at < end) {
            if (page_is_zero(ram + at)) {
                at += DENALI_PAGE_SIZE;
                continue;
            }
            uint64_t stop = at + DENALI_PAGE_SIZE;
            while (stop < end && !page_is_zero(ram + stop))
                stop += DENALI_PAGE_SIZE;
            errno = 0;
            if (pwrite_full(snap->memfd, ram + at, stop - at, at) < 0) {
                snprintf(err, errlen, "snapshot: cannot write its memory: %s",
                         errno ? strerror(errno) : "no progress");
                return -1;
            }
            at = stop;
        }
    }
    return 0;
}

int vm_snapshot_take(struct vm *vm, struct platform *platform, struct platform_snapshot *snap,
                     char *err, size_t errlen)
{
    memset(snap, 0, sizeof(*snap));
    uint64_t size = vm->mem.layout->mem_size;
    snap->mem_size = size;
    snap->memfd = memfd_create("denali-snapshot", MFD_CLOEXEC);
    if (snap->memfd < 0 || ftruncate(snap->memfd, (off_t)size) < 0) {
        snprintf(err, errlen, "snapshot: cannot make its memory: %s", strerror(errno));
        goto failed;
    }
    if (platform->ops->vcpu_capture(vm->vcpu, snap, err, errlen) < 0)
        goto failed;
    if (copy_ram(vm, platform, snap, err, errlen) < 0)
        goto failed;
    vm_devices_add_windows(vm->devices, vm, snap);
    if (vm_devices_snapshot_taken(vm->devices, vm, err, errlen) < 0)
        goto failed;
    return 0;
failed:
    if (snap->memfd >= 0)
        close(snap->memfd);
    snap->memfd = -1;
    return -1;
}

void vm_destroy(struct vm *vm, struct platform *platform)
{
    if (vm->vcpu)
        platform->ops->vcpu_destroy(platform, vm->vcpu);
    vm->vcpu = NULL;
}

uint64_t vm_resident_bytes(const struct vm *vm)
{
    if (vm->hibernated || !vm->mem.ram || !vm->mem.layout)
        return 0;
    uint64_t pages = vm->mem.layout->mem_size / 4096;
    unsigned char in_memory[4096];
    uint64_t resident = 0;
    /* In chunks, so that no VM size needs a large vector on the stack. */
    for (uint64_t first = 0; first < pages; first += sizeof(in_memory)) {
        uint64_t n = pages - first < sizeof(in_memory) ? pages - first : sizeof(in_memory);
        if (mincore(vm->mem.ram + first * 4096, n * 4096, in_memory) < 0)
            return 0;
        for (uint64_t i = 0; i < n; i++)
            resident += in_memory[i] & 1;
    }
    return resident * 4096;
}
