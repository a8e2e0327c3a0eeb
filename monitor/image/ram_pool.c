/* Guest RAM for all VMs carved from one lazily-backed reservation, recycled as VMs end. */
#include "image/ram_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ram_pool_init(struct ram_pool *pool, uint64_t slot_size, unsigned slot_count, bool shared)
{
    memset(pool, 0, sizeof(*pool));
    pool->memfd = -1;
    pool->slot_size = slot_size;
    pool->slot_count = slot_count;
    pool->free_slots = malloc(sizeof(unsigned) * slot_count);
    if (!pool->free_slots)
        return -1;
    uint64_t total = slot_size * slot_count;
    void *base;
    if (shared) {
        /* One descriptor for every VM: 20,000 VMs must not cost 20,000 descriptors. */
        pool->memfd = memfd_create("denali-guest-ram", MFD_CLOEXEC);
        if (pool->memfd < 0 || ftruncate(pool->memfd, (off_t)total) < 0)
            goto fail;
        base =
            mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, pool->memfd, 0);
    } else {
        /* One mapping, not one per VM: thousands of VMs must not exhaust the map count. */
        base = mmap(NULL, total, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    if (base == MAP_FAILED)
        goto fail;
    /* Huge pages would charge a whole 2 MiB to a VM that touched a few pages. */
    madvise(base, total, MADV_NOHUGEPAGE);
    pool->base = base;
    /* Hand out low slots first so a small run touches little address space. */
    for (unsigned i = 0; i < slot_count; i++)
        pool->free_slots[i] = slot_count - 1 - i;
    pool->free_count = slot_count;
    pthread_mutex_init(&pool->lock, NULL);
    return 0;
fail:
    if (pool->memfd >= 0)
        close(pool->memfd);
    pool->memfd = -1;
    free(pool->free_slots);
    pool->free_slots = NULL;
    return -1;
}

uint8_t *ram_pool_get(struct ram_pool *pool)
{
    uint8_t *ram = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->free_count > 0)
        ram = pool->base + pool->free_slots[--pool->free_count] * pool->slot_size;
    pthread_mutex_unlock(&pool->lock);
    return ram;
}

uint64_t ram_pool_offset(const struct ram_pool *pool, const uint8_t *ram)
{
    return (uint64_t)(ram - pool->base);
}

void ram_pool_put(struct ram_pool *pool, uint8_t *ram)
{
    if (pool->memfd >= 0) {
        /*
         * MADV_DONTNEED on a shared mapping only drops this process's view:
         * the memfd keeps the pages, and the next VM would read the last
         * one's bytes. Punching a hole frees and zeroes them.
         */
        if (fallocate(pool->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)ram_pool_offset(pool, ram), (off_t)pool->slot_size) < 0) {
            /* Never hand out a slot that may hold another VM's bytes. */
            perror("denali: cannot free guest RAM (slot retired)");
            return;
        }
    } else {
        madvise(ram, pool->slot_size, MADV_DONTNEED);
    }
    unsigned slot = (unsigned)(ram_pool_offset(pool, ram) / pool->slot_size);
    pthread_mutex_lock(&pool->lock);
    pool->free_slots[pool->free_count++] = slot;
    pthread_mutex_unlock(&pool->lock);
}

void ram_pool_destroy(struct ram_pool *pool)
{
    if (pool->base)
        munmap(pool->base, pool->slot_size * pool->slot_count);
    if (pool->memfd >= 0)
        close(pool->memfd);
    free(pool->free_slots);
    pool->base = NULL;
    pool->free_slots = NULL;
    pool->memfd = -1;
    pthread_mutex_destroy(&pool->lock);
}

int ram_pool_release(struct ram_pool *pool, uint8_t *ram, uint64_t gpa, uint64_t len)
{
    if (gpa > pool->slot_size || len > pool->slot_size - gpa)
        return -EINVAL;
    /* A shared memfd keeps its pages through MADV_DONTNEED: only a hole frees them. */
    int rc = pool->memfd >= 0 ? fallocate(pool->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                          (off_t)(ram_pool_offset(pool, ram) + gpa), (off_t)len)
                              : madvise(ram + gpa, len, MADV_DONTNEED);
    return rc < 0 ? -errno : 0;
}

int ram_pool_drop_page_tables(struct ram_pool *pool, uint8_t *ram)
{
    return pool->memfd < 0 ? 0 : ram_pool_remap(pool, ram);
}

int ram_pool_remap(struct ram_pool *pool, uint8_t *ram)
{
    /* MAP_FIXED replaces the old mapping in one step: no moment where the address is unmapped. */
    void *again = pool->memfd >= 0
                      ? mmap(ram, pool->slot_size, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_FIXED | MAP_NORESERVE, pool->memfd,
                             (off_t)ram_pool_offset(pool, ram))
                      : mmap(ram, pool->slot_size, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (again == MAP_FAILED)
        return -errno;
    madvise(ram, pool->slot_size, MADV_NOHUGEPAGE);
    return 0;
}

uint64_t ram_pool_resident_bytes(const struct ram_pool *pool)
{
    if (pool->memfd >= 0) {
        struct stat st;
        return fstat(pool->memfd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
    }
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}
