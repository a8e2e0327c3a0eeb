/* Unit tests for util/vm_name.c: the names the daemon and the client commands accept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/vm_name.h"

static void test_well_formed_names(void **state)
{
    (void)state;
    assert_true(vm_name_valid("a"));
    assert_true(vm_name_valid("web"));
    assert_true(vm_name_valid("Web_server-2"));
    char longest[VM_NAME_MAX + 1], too_long[VM_NAME_MAX + 2];
    memset(longest, 'a', VM_NAME_MAX);
    longest[VM_NAME_MAX] = '\0';
    memset(too_long, 'a', VM_NAME_MAX + 1);
    too_long[VM_NAME_MAX + 1] = '\0';
    assert_true(vm_name_valid(longest));
    assert_false(vm_name_valid(too_long));
}

static void test_malformed_names(void **state)
{
    (void)state;
    assert_false(vm_name_valid(""));
    assert_false(vm_name_valid("-web"));
    assert_false(vm_name_valid("_web"));
    assert_false(vm_name_valid("web.1"));
    assert_false(vm_name_valid("web server"));
    assert_false(vm_name_valid("w\xc3\xa9"));
}

static void test_fleet_ids_are_not_names(void **state)
{
    (void)state;
    assert_true(vm_name_is_fleet_id("f12"));
    assert_false(vm_name_valid("f12"));
    assert_false(vm_name_valid("f0"));
    assert_false(vm_name_is_fleet_id("f"));
    assert_true(vm_name_valid("f"));
    assert_true(vm_name_valid("f1x"));
    assert_true(vm_name_valid("F12"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed_names),
        cmocka_unit_test(test_malformed_names),
        cmocka_unit_test(test_fleet_ids_are_not_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
