/* Guest RAM for all VMs carved from one lazily-backed reservation, recycled as VMs end. */
#ifndef DENALI_RAM_POOL_H
#define DENALI_RAM_POOL_H

#include <pthread.h>
#include <stdint.h>

struct ram_pool {
    uint8_t *base;
    uint64_t slot_size;
    unsigned slot_count;
    unsigned free_count;
    unsigned *free_slots;
    pthread_mutex_t lock;
};

int ram_pool_init(struct ram_pool *pool, uint64_t slot_size, unsigned slot_count);
/* Returns a zeroed slot's host address, or NULL when every slot is in use. */
uint8_t *ram_pool_get(struct ram_pool *pool);
/* Gives the memory back to the host and the slot back to the pool. */
void ram_pool_put(struct ram_pool *pool, uint8_t *ram);
void ram_pool_destroy(struct ram_pool *pool);

#endif
