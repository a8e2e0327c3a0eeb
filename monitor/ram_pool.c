/* Guest RAM for all VMs carved from one lazily-backed reservation, recycled as VMs end. */
#include "ram_pool.h"

#include <stdlib.h>
#include <sys/mman.h>

int ram_pool_init(struct ram_pool *pool, uint64_t slot_size, unsigned slot_count)
{
    pool->slot_size = slot_size;
    pool->slot_count = slot_count;
    pool->free_slots = malloc(sizeof(unsigned) * slot_count);
    if (!pool->free_slots)
        return -1;
    /* One mapping, not one per VM: thousands of VMs must not exhaust the map count. */
    void *base = mmap(NULL, slot_size * slot_count, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        free(pool->free_slots);
        return -1;
    }
    /* Huge pages would charge a whole 2 MiB to a VM that touched a few pages. */
    madvise(base, slot_size * slot_count, MADV_NOHUGEPAGE);
    pool->base = base;
    /* Hand out low slots first so a small run touches little address space. */
    for (unsigned i = 0; i < slot_count; i++)
        pool->free_slots[i] = slot_count - 1 - i;
    pool->free_count = slot_count;
    pthread_mutex_init(&pool->lock, NULL);
    return 0;
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

void ram_pool_put(struct ram_pool *pool, uint8_t *ram)
{
    madvise(ram, pool->slot_size, MADV_DONTNEED);
    unsigned slot = (unsigned)((uint64_t)(ram - pool->base) / pool->slot_size);
    pthread_mutex_lock(&pool->lock);
    pool->free_slots[pool->free_count++] = slot;
    pthread_mutex_unlock(&pool->lock);
}

void ram_pool_destroy(struct ram_pool *pool)
{
    if (pool->base)
        munmap(pool->base, pool->slot_size * pool->slot_count);
    free(pool->free_slots);
    pool->base = NULL;
    pool->free_slots = NULL;
    pthread_mutex_destroy(&pool->lock);
}
