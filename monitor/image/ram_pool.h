/* Guest RAM for all VMs carved from one lazily-backed reservation, recycled as VMs end. */
#ifndef DENALI_RAM_POOL_H
#define DENALI_RAM_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct ram_pool {
    uint8_t *base;
    uint64_t slot_size;
    unsigned slot_count;
    unsigned free_count;
    unsigned *free_slots;
    /* Shared pools are one memfd (-1 otherwise) that VM processes map their own slices of. */
    int memfd;
    pthread_mutex_t lock;
};

/*
 * shared: back the pool with one memfd, mapped MAP_SHARED, so that another
 * process can map a slot; otherwise private anonymous memory.
 */
int ram_pool_init(struct ram_pool *pool, uint64_t slot_size, unsigned slot_count, bool shared);
/* Returns a zeroed slot's host address, or NULL when every slot is in use. */
uint8_t *ram_pool_get(struct ram_pool *pool);
/* The slot's offset in the pool (for a shared pool: in its memfd). */
uint64_t ram_pool_offset(const struct ram_pool *pool, const uint8_t *ram);
/*
 * Frees the slot's memory back to the host, zeroed for the next VM, and the
 * slot back to the pool. No other process may still map it.
 */
void ram_pool_put(struct ram_pool *pool, uint8_t *ram);
void ram_pool_destroy(struct ram_pool *pool);
/*
 * Gives [gpa, gpa + len) of the slot at ram back to the host: it reads as
 * zero when next touched (a ballooned guest's free pages). 0 or -errno.
 */
int ram_pool_release(struct ram_pool *pool, uint8_t *ram, uint64_t gpa, uint64_t len);
/*
 * Maps a shared pool's slot at ram afresh, so that the page tables behind
 * the monitor's view of it are freed (a hibernated VM's slot is all holes
 * but a few pages; its page tables would cost 8 KiB for 4 MiB). The slot's
 * contents do not change. 0 or -errno; a private pool has nothing to do.
 */
int ram_pool_drop_page_tables(struct ram_pool *pool, uint8_t *ram);
/*
 * Maps the slot at ram afresh as the pool's own memory (its memfd's pages,
 * or anonymous memory for a private pool), replacing whatever a platform
 * mapped over it (a kvm clone's copy-on-write view of a snapshot). A
 * private slot reads as zero afterwards. 0 or -errno.
 */
int ram_pool_remap(struct ram_pool *pool, uint8_t *ram);
/*
 * Host memory all slots hold now: a shared pool's memfd's allocated blocks;
 * for a private pool the monitor's resident set, which includes it.
 */
uint64_t ram_pool_resident_bytes(const struct ram_pool *pool);

#endif
