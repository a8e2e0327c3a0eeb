/* Scheduling policy data structures: a round-robin run queue and a deadline timer heap (no KVM, no
 * threads). */
#ifndef DENALI_SCHED_QUEUE_H
#define DENALI_SCHED_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_NOT_QUEUED ((size_t)-1)

/* Embedded in each VM; a VM is on the run queue, in the timer heap, or neither. */
struct sched_entity {
    struct sched_entity *next;
    bool on_run_queue;
    uint64_t deadline;
    size_t heap_index;
};

struct run_queue {
    struct sched_entity *head;
    struct sched_entity *tail;
    size_t length;
};

struct timer_heap {
    struct sched_entity **items;
    size_t length;
    size_t capacity;
};

void sched_entity_init(struct sched_entity *e);

void run_queue_push(struct run_queue *q, struct sched_entity *e);
/* Queues e to run next (for events delivered immediately). */
void run_queue_push_front(struct run_queue *q, struct sched_entity *e);
struct sched_entity *run_queue_pop(struct run_queue *q);

/* Returns -1 if memory runs out. */
int timer_heap_insert(struct timer_heap *h, struct sched_entity *e, uint64_t deadline);
void timer_heap_remove(struct timer_heap *h, struct sched_entity *e);
/* Moves e, already in the heap, to a new deadline; never allocates. */
void timer_heap_reschedule(struct timer_heap *h, struct sched_entity *e, uint64_t deadline);
/* The entity with the earliest deadline, or NULL. */
struct sched_entity *timer_heap_peek(const struct timer_heap *h);
/* Removes and returns the earliest entity if its deadline is <= now, else NULL. */
struct sched_entity *timer_heap_pop_expired(struct timer_heap *h, uint64_t now);
void timer_heap_free(struct timer_heap *h);

#endif
