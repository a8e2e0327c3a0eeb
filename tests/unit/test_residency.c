/* Unit tests for how many VMs may be in memory at once (residency_limit), without KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sched/residency.h"

/* This project's machine: pid_max 32,768, threads-max 192,725, ~100 tasks, root. */
static const struct host_limits here = {.pid_max = 32768, .threads_max = 192725, .tasks = 100};

static void test_count_when_nothing_binds(void **state)
{
    (void)state;
    const char *bound = NULL;
    assert_int_equal(residency_limit(1000, 0, 1, &here, &bound), 1000);
    assert_string_equal(bound, "count");
    /* kvm: no pid a VM, so the host's pids do not bound it */
    assert_int_equal(residency_limit(50000, 0, 0, &here, &bound), 50000);
    assert_string_equal(bound, "count");
}

static void test_pids_bound_a_long_tail(void **state)
{
    (void)state;
    const char *bound = NULL;
    /* 32,768 less the 100 tasks there are and an eighth (4,096) for everything else */
    assert_int_equal(residency_limit(50000, 0, 1, &here, &bound), 32768 - 100 - 4096);
    assert_string_equal(bound, "kernel.pid_max");
    /* two pids a VM: half as many */
    assert_int_equal(residency_limit(50000, 0, 2, &here, &bound), (32768 - 100 - 4096) / 2);
    /* a raised pid_max leaves threads-max to bind */
    struct host_limits raised = here;
    raised.pid_max = 4194304;
    assert_int_equal(residency_limit(1000000, 0, 1, &raised, &bound), 192725 - 100 - 192725 / 8);
    assert_string_equal(bound, "kernel.threads-max");
    /* not root: RLIMIT_NPROC counts too */
    struct host_limits user = here;
    user.nproc = 4096;
    assert_int_equal(residency_limit(50000, 0, 1, &user, &bound), 4096 - 100 - 512);
    assert_string_equal(bound, "RLIMIT_NPROC");
}

static void test_asked_is_a_ceiling(void **state)
{
    (void)state;
    const char *bound = NULL;
    assert_int_equal(residency_limit(50000, 12000, 1, &here, &bound), 12000);
    assert_string_equal(bound, "--max-resident");
    /* asking for more than the host allows gets what it allows */
    assert_int_equal(residency_limit(50000, 30000, 1, &here, &bound), 32768 - 100 - 4096);
    assert_string_equal(bound, "kernel.pid_max");
    /* asking for more than there are VMs changes nothing */
    assert_int_equal(residency_limit(10, 12000, 1, &here, &bound), 10);
    assert_string_equal(bound, "count");
}

static void test_at_least_one(void **state)
{
    (void)state;
    const char *bound = NULL;
    /* a host already full still lets VMs through one at a time */
    struct host_limits full = {.pid_max = 32768, .tasks = 32000};
    assert_int_equal(residency_limit(100, 0, 1, &full, &bound), 1);
    assert_string_equal(bound, "kernel.pid_max");
    /* unknown limits (0) bound nothing */
    struct host_limits unknown = {0};
    assert_int_equal(residency_limit(100, 0, 1, &unknown, &bound), 100);
}

static void test_reserve_counts_and_waits(void **state)
{
    (void)state;
    static struct monitor m;
    memset(&m, 0, sizeof(m));
    m.max_resident = 2;
    m.resident_bound = "--max-resident";
    assert_true(residency_reserve(&m));
    assert_true(residency_reserve(&m));
    assert_false(residency_reserve(&m)); /* full: creation waits (said once, on stderr) */
    assert_false(residency_reserve(&m));
    assert_true(atomic_load(&m.resident_waited));
    residency_enter(&m); /* a wake never waits, so the count may pass the limit */
    assert_int_equal(atomic_load(&m.resident), 3);
    assert_int_equal(atomic_load(&m.resident_peak), 3);
    residency_leave(&m);
    residency_leave(&m);
    assert_true(residency_reserve(&m));
    assert_int_equal(atomic_load(&m.resident), 2);
    assert_int_equal(atomic_load(&m.resident_peak), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_when_nothing_binds),
        cmocka_unit_test(test_pids_bound_a_long_tail),
        cmocka_unit_test(test_asked_is_a_ceiling),
        cmocka_unit_test(test_at_least_one),
        cmocka_unit_test(test_reserve_counts_and_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
