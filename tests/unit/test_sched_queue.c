/* Unit tests for the scheduler's run queue (FIFO) and deadline timer heap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sched/sched_queue.h"

#define MANY 1000

/* Checks the heap property and every entity's back-pointer. */
static void assert_heap_valid(const struct timer_heap *h)
{
    for (size_t i = 0; i < h->length; i++) {
        assert_int_equal(h->items[i]->heap_index, i);
        if (i > 0)
            assert_true(h->items[(i - 1) / 2]->deadline <= h->items[i]->deadline);
    }
}

/* A fixed-seed generator, so every run sees the same deadlines. */
static uint64_t next_random(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return *seed >> 33;
}

static void test_run_queue_fifo(void **state)
{
    (void)state;
    struct run_queue q = {0};
    struct sched_entity e[5];
    for (int i = 0; i < 5; i++) {
        sched_entity_init(&e[i]);
        run_queue_push(&q, &e[i]);
        assert_true(e[i].on_run_queue);
    }
    assert_int_equal(q.length, 5);
    for (int i = 0; i < 5; i++) {
        struct sched_entity *got = run_queue_pop(&q);
        assert_ptr_equal(got, &e[i]);
        assert_false(got->on_run_queue);
    }
    assert_int_equal(q.length, 0);
    assert_null(q.head);
    assert_null(q.tail);
}

static void test_run_queue_interleaved(void **state)
{
    (void)state;
    struct sched_entity *top;
    struct run_queue q = {0};
    struct sched_entity a, b, c;
    sched_entity_init(&a);
    sched_entity_init(&b);
    sched_entity_init(&c);
    run_queue_push(&q, &a);
    run_queue_push(&q, &b);
    top = run_queue_pop(&q);
    assert_ptr_equal(top, &a);
    /* a goes back on behind b, and c behind a. */
    run_queue_push(&q, &a);
    run_queue_push(&q, &c);
    top = run_queue_pop(&q);
    assert_ptr_equal(top, &b);
    top = run_queue_pop(&q);
    assert_ptr_equal(top, &a);
    top = run_queue_pop(&q);
    assert_ptr_equal(top, &c);
    top = run_queue_pop(&q);
    assert_null(top);
    /* The queue works again after being emptied. */
    run_queue_push(&q, &b);
    assert_ptr_equal(q.head, &b);
    assert_ptr_equal(q.tail, &b);
    top = run_queue_pop(&q);
    assert_ptr_equal(top, &b);
}

static void test_run_queue_double_push(void **state)
{
    (void)state;
    struct sched_entity *top;
    struct run_queue q = {0};
    struct sched_entity a, b;
    sched_entity_init(&a);
    sched_entity_init(&b);
    run_queue_push(&q, &a);
    run_queue_push(&q, &b);
    run_queue_push(&q, &a);
    run_queue_push(&q, &b);
    assert_int_equal(q.length, 2);
    top = run_queue_pop(&q);
    assert_ptr_equal(top, &a);
    top = run_queue_pop(&q);
    assert_ptr_equal(top, &b);
    top = run_queue_pop(&q);
    assert_null(top);
    assert_int_equal(q.length, 0);
}

static void test_run_queue_pop_empty(void **state)
{
    (void)state;
    struct sched_entity *top;
    struct run_queue q = {0};
    top = run_queue_pop(&q);
    assert_null(top);
    top = run_queue_pop(&q);
    assert_null(top);
    assert_int_equal(q.length, 0);
}

static void test_entity_init(void **state)
{
    (void)state;
    struct sched_entity e;
    memset(&e, 0xab, sizeof(e));
    sched_entity_init(&e);
    assert_null(e.next);
    assert_false(e.on_run_queue);
    assert_int_equal(e.heap_index, SCHED_NOT_QUEUED);
}

static void test_timer_heap_orders_deadlines(void **state)
{
    (void)state;
    int rc;
    struct sched_entity *top;
    struct timer_heap h = {0};
    struct sched_entity *e = calloc(MANY, sizeof(*e));
    assert_non_null(e);
    uint64_t seed = 42;
    for (int i = 0; i < MANY; i++) {
        sched_entity_init(&e[i]);
        /* A small range, so equal deadlines occur too. */
        uint64_t deadline = next_random(&seed) % 5000;
        rc = timer_heap_insert(&h, &e[i], deadline);
        assert_int_equal(rc, 0);
    }
    assert_int_equal(h.length, MANY);
    assert_heap_valid(&h);
    uint64_t last = 0;
    for (int i = 0; i < MANY; i++) {
        struct sched_entity *got = timer_heap_pop_expired(&h, UINT64_MAX);
        assert_non_null(got);
        assert_true(got->deadline >= last);
        assert_int_equal(got->heap_index, SCHED_NOT_QUEUED);
        last = got->deadline;
    }
    assert_null(timer_heap_peek(&h));
    top = timer_heap_pop_expired(&h, UINT64_MAX);
    assert_null(top);
    timer_heap_free(&h);
    free(e);
}

static void test_timer_heap_remove_middle(void **state)
{
    (void)state;
    int rc;
    struct timer_heap h = {0};
    struct sched_entity *e = calloc(MANY, sizeof(*e));
    assert_non_null(e);
    uint64_t seed = 7;
    for (int i = 0; i < MANY; i++) {
        sched_entity_init(&e[i]);
        rc = timer_heap_insert(&h, &e[i], next_random(&seed));
        assert_int_equal(rc, 0);
    }
    /* Remove every third entity, wherever it sits in the heap. */
    size_t expected = MANY;
    for (int i = 0; i < MANY; i += 3) {
        timer_heap_remove(&h, &e[i]);
        expected--;
        assert_int_equal(e[i].heap_index, SCHED_NOT_QUEUED);
        assert_int_equal(h.length, expected);
        assert_heap_valid(&h);
    }
    /* Removing an entity that is not in the heap changes nothing. */
    timer_heap_remove(&h, &e[0]);
    assert_int_equal(h.length, expected);
    uint64_t last = 0;
    size_t popped = 0;
    struct sched_entity *got;
    while ((got = timer_heap_pop_expired(&h, UINT64_MAX)) != NULL) {
        assert_int_not_equal((got - e) % 3, 0);
        assert_true(got->deadline >= last);
        last = got->deadline;
        popped++;
    }
    assert_int_equal(popped, expected);
    timer_heap_free(&h);
    free(e);
}

static void test_timer_heap_remove_last_and_only(void **state)
{
    (void)state;
    int rc;
    struct timer_heap h = {0};
    struct sched_entity a, b;
    sched_entity_init(&a);
    sched_entity_init(&b);
    rc = timer_heap_insert(&h, &a, 10);
    assert_int_equal(rc, 0);
    timer_heap_remove(&h, &a);
    assert_int_equal(h.length, 0);
    assert_null(timer_heap_peek(&h));
    rc = timer_heap_insert(&h, &a, 10);
    assert_int_equal(rc, 0);
    rc = timer_heap_insert(&h, &b, 20);
    assert_int_equal(rc, 0);
    timer_heap_remove(&h, &b);
    assert_int_equal(h.length, 1);
    assert_ptr_equal(timer_heap_peek(&h), &a);
    timer_heap_free(&h);
    assert_int_equal(h.length, 0);
    assert_null(h.items);
}

static void test_timer_heap_reinsert_moves(void **state)
{
    (void)state;
    int rc;
    struct sched_entity *top;
    struct timer_heap h = {0};
    struct sched_entity e[4];
    for (int i = 0; i < 4; i++) {
        sched_entity_init(&e[i]);
        rc = timer_heap_insert(&h, &e[i], 100 * (uint64_t)(i + 1));
        assert_int_equal(rc, 0);
    }
    assert_ptr_equal(timer_heap_peek(&h), &e[0]);
    /* The latest becomes the earliest. */
    rc = timer_heap_insert(&h, &e[3], 50);
    assert_int_equal(rc, 0);
    assert_int_equal(h.length, 4);
    assert_heap_valid(&h);
    assert_ptr_equal(timer_heap_peek(&h), &e[3]);
    assert_int_equal(e[3].deadline, 50);
    /* The earliest becomes the latest. */
    rc = timer_heap_insert(&h, &e[3], 1000);
    assert_int_equal(rc, 0);
    assert_int_equal(h.length, 4);
    assert_heap_valid(&h);
    const struct sched_entity *order[] = {&e[0], &e[1], &e[2], &e[3]};
    for (int i = 0; i < 4; i++) {
        top = timer_heap_pop_expired(&h, UINT64_MAX);
        assert_ptr_equal(top, order[i]);
    }
    timer_heap_free(&h);
}

static void test_timer_heap_reschedule_moves_both_ways(void **state)
{
    (void)state;
    struct timer_heap h = {0};
    struct sched_entity e[6], outside;
    for (int i = 0; i < 6; i++) {
        sched_entity_init(&e[i]);
        assert_int_equal(timer_heap_insert(&h, &e[i], 100 * (uint64_t)(i + 1)), 0);
    }
    timer_heap_reschedule(&h, &e[5], 10); /* the latest becomes the earliest */
    assert_heap_valid(&h);
    assert_ptr_equal(timer_heap_peek(&h), &e[5]);
    timer_heap_reschedule(&h, &e[5], 5000); /* and the latest again */
    timer_heap_reschedule(&h, &e[0], 450);  /* the earliest moves to the middle */
    assert_heap_valid(&h);
    assert_int_equal(h.length, 6);
    /* An entity that is not in the heap is left alone. */
    sched_entity_init(&outside);
    timer_heap_reschedule(&h, &outside, 1);
    assert_int_equal(h.length, 6);
    assert_ptr_equal(timer_heap_peek(&h), &e[1]);
    const struct sched_entity *order[] = {&e[1], &e[2], &e[3], &e[0], &e[4], &e[5]};
    for (int i = 0; i < 6; i++)
        assert_ptr_equal(timer_heap_pop_expired(&h, UINT64_MAX), order[i]);
    timer_heap_free(&h);
}

static void test_timer_heap_pop_expired_respects_now(void **state)
{
    (void)state;
    int rc;
    struct sched_entity *top;
    struct timer_heap h = {0};
    struct sched_entity a, b, c;
    sched_entity_init(&a);
    sched_entity_init(&b);
    sched_entity_init(&c);
    rc = timer_heap_insert(&h, &b, 200);
    assert_int_equal(rc, 0);
    rc = timer_heap_insert(&h, &a, 100);
    assert_int_equal(rc, 0);
    rc = timer_heap_insert(&h, &c, 300);
    assert_int_equal(rc, 0);
    top = timer_heap_pop_expired(&h, 0);
    assert_null(top);
    top = timer_heap_pop_expired(&h, 99);
    assert_null(top);
    assert_int_equal(h.length, 3);
    /* A deadline equal to now has expired. */
    top = timer_heap_pop_expired(&h, 100);
    assert_ptr_equal(top, &a);
    top = timer_heap_pop_expired(&h, 100);
    assert_null(top);
    top = timer_heap_pop_expired(&h, 250);
    assert_ptr_equal(top, &b);
    top = timer_heap_pop_expired(&h, 250);
    assert_null(top);
    assert_ptr_equal(timer_heap_peek(&h), &c);
    top = timer_heap_pop_expired(&h, 300);
    assert_ptr_equal(top, &c);
    top = timer_heap_pop_expired(&h, UINT64_MAX);
    assert_null(top);
    timer_heap_free(&h);
}

static void test_timer_heap_deadline_none(void **state)
{
    (void)state;
    int rc;
    struct sched_entity *top;
    struct timer_heap h = {0};
    struct sched_entity a, b;
    sched_entity_init(&a);
    sched_entity_init(&b);
    rc = timer_heap_insert(&h, &a, UINT64_MAX);
    assert_int_equal(rc, 0);
    rc = timer_heap_insert(&h, &b, 0);
    assert_int_equal(rc, 0);
    top = timer_heap_pop_expired(&h, 0);
    assert_ptr_equal(top, &b);
    top = timer_heap_pop_expired(&h, UINT64_MAX - 1);
    assert_null(top);
    top = timer_heap_pop_expired(&h, UINT64_MAX);
    assert_ptr_equal(top, &a);
    timer_heap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_queue_fifo),
        cmocka_unit_test(test_run_queue_interleaved),
        cmocka_unit_test(test_run_queue_double_push),
        cmocka_unit_test(test_run_queue_pop_empty),
        cmocka_unit_test(test_entity_init),
        cmocka_unit_test(test_timer_heap_orders_deadlines),
        cmocka_unit_test(test_timer_heap_remove_middle),
        cmocka_unit_test(test_timer_heap_remove_last_and_only),
        cmocka_unit_test(test_timer_heap_reinsert_moves),
        cmocka_unit_test(test_timer_heap_reschedule_moves_both_ways),
        cmocka_unit_test(test_timer_heap_pop_expired_respects_now),
        cmocka_unit_test(test_timer_heap_deadline_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
