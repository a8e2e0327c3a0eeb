/* Scheduling policy data structures: a round-robin run queue and a deadline timer heap (no KVM, no
 * threads). */
#include "sched/sched_queue.h"

#include <stdlib.h>

void sched_entity_init(struct sched_entity *e)
{
    e->next = NULL;
    e->on_run_queue = false;
    e->deadline = 0;
    e->heap_index = SCHED_NOT_QUEUED;
}

void run_queue_push(struct run_queue *q, struct sched_entity *e)
{
    if (e->on_run_queue)
        return;
    e->next = NULL;
    e->on_run_queue = true;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->length++;
}

void run_queue_push_front(struct run_queue *q, struct sched_entity *e)
{
    if (e->on_run_queue)
        return;
    e->on_run_queue = true;
    e->next = q->head;
    q->head = e;
    if (!q->tail)
        q->tail = e;
    q->length++;
}

struct sched_entity *run_queue_pop(struct run_queue *q)
{
    struct sched_entity *e = q->head;
    if (!e)
        return NULL;
    q->head = e->next;
    if (!q->head)
        q->tail = NULL;
    e->next = NULL;
    e->on_run_queue = false;
    q->length--;
    return e;
}

static void heap_set(struct timer_heap *h, size_t i, struct sched_entity *e)
{
    h->items[i] = e;
    e->heap_index = i;
}

static void sift_up(struct timer_heap *h, size_t i)
{
    struct sched_entity *e = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->deadline <= e->deadline)
            break;
        heap_set(h, i, h->items[parent]);
        i = parent;
    }
    heap_set(h, i, e);
}

static void sift_down(struct timer_heap *h, size_t i)
{
    struct sched_entity *e = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->length)
            break;
        if (child + 1 < h->length && h->items[child + 1]->deadline < h->items[child]->deadline)
            child++;
        if (e->deadline <= h->items[child]->deadline)
            break;
        heap_set(h, i, h->items[child]);
        i = child;
    }
    heap_set(h, i, e);
}

int timer_heap_insert(struct timer_heap *h, struct sched_entity *e, uint64_t deadline)
{
    if (e->heap_index != SCHED_NOT_QUEUED)
        timer_heap_remove(h, e);
    if (h->length == h->capacity) {
        size_t capacity = h->capacity ? h->capacity * 2 : 64;
        struct sched_entity **items = realloc(h->items, capacity * sizeof(*items));
        if (!items)
            return -1;
        h->items = items;
        h->capacity = capacity;
    }
    e->deadline = deadline;
    heap_set(h, h->length++, e);
    sift_up(h, h->length - 1);
    return 0;
}

void timer_heap_remove(struct timer_heap *h, struct sched_entity *e)
{
    size_t i = e->heap_index;
    if (i == SCHED_NOT_QUEUED || i >= h->length || h->items[i] != e)
        return;
    e->heap_index = SCHED_NOT_QUEUED;
    h->length--;
    if (i == h->length)
        return;
    heap_set(h, i, h->items[h->length]);
    sift_down(h, i);
    sift_up(h, h->items[i]->heap_index);
}

void timer_heap_reschedule(struct timer_heap *h, struct sched_entity *e, uint64_t deadline)
{
    size_t i = e->heap_index;
    if (i == SCHED_NOT_QUEUED || i >= h->length || h->items[i] != e)
        return;
    uint64_t old = e->deadline;
    e->deadline = deadline;
    if (deadline < old)
        sift_up(h, i);
    else if (deadline > old)
        sift_down(h, i);
}

struct sched_entity *timer_heap_peek(const struct timer_heap *h)
{
    return h->length ? h->items[0] : NULL;
}

struct sched_entity *timer_heap_pop_expired(struct timer_heap *h, uint64_t now)
{
    struct sched_entity *e = timer_heap_peek(h);
    if (!e || e->deadline > now)
        return NULL;
    timer_heap_remove(h, e);
    return e;
}

void timer_heap_free(struct timer_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->length = h->capacity = 0;
}
