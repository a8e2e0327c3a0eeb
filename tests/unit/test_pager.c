/* Unit tests for the pager's WSClock choice: how old a page must be to go when want pages must. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sched/pager.h"

static uint64_t ages[256];

static void clear(void)
{
    memset(ages, 0, sizeof(ages));
}

static void test_oldest_first(void **state)
{
    (void)state;
    clear();
    ages[0] = 100; /* touched since the last scan */
    ages[3] = 10;
    ages[7] = 5;
    assert_int_equal(pager_age_threshold(ages, 5), 7);
    assert_int_equal(pager_age_threshold(ages, 6), 3);
    assert_int_equal(pager_age_threshold(ages, 15), 3);
    /* One more than the unreferenced pages: a page in use must go too. */
    assert_int_equal(pager_age_threshold(ages, 16), 0);
}

static void test_too_few_takes_everything(void **state)
{
    (void)state;
    clear();
    ages[2] = 4;
    assert_int_equal(pager_age_threshold(ages, 1000), 0);
}

static void test_oldest_age_counts(void **state)
{
    (void)state;
    clear();
    ages[255] = 1;
    ages[1] = 1;
    assert_int_equal(pager_age_threshold(ages, 1), 255);
    assert_int_equal(pager_age_threshold(ages, 2), 1);
}

static void test_nothing_wanted(void **state)
{
    (void)state;
    clear();
    ages[9] = 3;
    /* Any page qualifies for none: the highest age is as good as any. */
    assert_int_equal(pager_age_threshold(ages, 0), 255);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oldest_first),
        cmocka_unit_test(test_too_few_takes_everything),
        cmocka_unit_test(test_oldest_age_counts),
        cmocka_unit_test(test_nothing_wanted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
