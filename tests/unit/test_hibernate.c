/* Unit tests for hibernation's ranges: guest memory above 0x10000 less the monitor's windows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sched/hibernate.h"

#define MIB (1ull << 20)

struct ranges {
    uint64_t gpa[8], len[8];
    unsigned n;
    unsigned fail_at; /* the call that fails, 0: none */
};

static int collect(void *ctx, uint64_t gpa, uint64_t len)
{
    struct ranges *r = ctx;
    if (r->n >= 8)
        fail_msg("more than 8 ranges");
    r->gpa[r->n] = gpa;
    r->len[r->n] = len;
    r->n++;
    return r->fail_at == r->n ? -1 : 0;
}

static struct ranges run(const struct platform_snapshot *s, uint64_t size)
{
    struct ranges r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(hibernate_each_range(s, size, collect, &r), 0);
    return r;
}

static void window(struct platform_snapshot *s, uint64_t start, uint64_t end)
{
    s->windows[s->window_count].start = start;
    s->windows[s->window_count].end = end;
    s->window_count++;
}

static void test_no_window(void **state)
{
    (void)state;
    struct platform_snapshot s = {0};
    struct ranges r = run(&s, 4 * MIB);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.gpa[0], DENALI_LOW_LIMIT);
    assert_int_equal(r.len[0], 4 * MIB - DENALI_LOW_LIMIT);
}

static void test_window_in_the_middle(void **state)
{
    (void)state;
    struct platform_snapshot s = {0};
    window(&s, 2 * MIB, 2 * MIB + 0x61000);
    struct ranges r = run(&s, 4 * MIB);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.gpa[0], DENALI_LOW_LIMIT);
    assert_int_equal(r.len[0], 2 * MIB - DENALI_LOW_LIMIT);
    assert_int_equal(r.gpa[1], 2 * MIB + 0x61000);
    assert_int_equal(r.len[1], 2 * MIB - 0x61000);
}

static void test_windows_at_the_edges(void **state)
{
    (void)state;
    struct platform_snapshot s = {0};
    window(&s, DENALI_LOW_LIMIT, DENALI_LOW_LIMIT + 0x1000);
    window(&s, 4 * MIB - 0x2000, 4 * MIB);
    struct ranges r = run(&s, 4 * MIB);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.gpa[0], DENALI_LOW_LIMIT + 0x1000);
    assert_int_equal(r.len[0], 4 * MIB - 0x2000 - DENALI_LOW_LIMIT - 0x1000);
}

static void test_two_windows_out_of_order(void **state)
{
    (void)state;
    struct platform_snapshot s = {0};
    window(&s, 3 * MIB, 3 * MIB + 0x1000);
    window(&s, 1 * MIB, 1 * MIB + 0x1000);
    struct ranges r = run(&s, 4 * MIB);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.gpa[0], DENALI_LOW_LIMIT);
    assert_int_equal(r.gpa[0] + r.len[0], 1 * MIB);
    assert_int_equal(r.gpa[1], 1 * MIB + 0x1000);
    assert_int_equal(r.gpa[1] + r.len[1], 3 * MIB);
    assert_int_equal(r.gpa[2], 3 * MIB + 0x1000);
    assert_int_equal(r.gpa[2] + r.len[2], 4 * MIB);
}

static void test_failure_stops(void **state)
{
    (void)state;
    struct platform_snapshot s = {0};
    window(&s, 2 * MIB, 2 * MIB + 0x1000);
    struct ranges r;
    memset(&r, 0, sizeof(r));
    r.fail_at = 1;
    assert_int_equal(hibernate_each_range(&s, 4 * MIB, collect, &r), -1);
    assert_int_equal(r.n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_window),
        cmocka_unit_test(test_window_in_the_middle),
        cmocka_unit_test(test_windows_at_the_edges),
        cmocka_unit_test(test_two_windows_out_of_order),
        cmocka_unit_test(test_failure_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
