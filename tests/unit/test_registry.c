/* Unit tests for the daemon's registry (ids, names, states, deletion) and its event log (the ring
 * of the last 1,000 events, replay, totals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/registry.h"

static struct event_log events;
static struct registry registry;

static int set_up(void **state)
{
    (void)state;
    event_log_init(&events);
    registry_init(&registry, &events);
    return 0;
}

static int tear_down(void **state)
{
    (void)state;
    registry_destroy(&registry);
    event_log_destroy(&events);
    return 0;
}

static struct fleet *add(const char *name, unsigned count)
{
    struct create_request request = {.count = count, .start = false};
    request.image = strdup("/g/hello.elf");
    request.name = name ? strdup(name) : NULL;
    struct fleet *fleet = registry_add_fleet(&registry, &request);
    assert_non_null(fleet);
    fleet->platform = "process";
    registry_announce_fleet(&registry, fleet);
    return fleet;
}

static void test_ids_and_names(void **state)
{
    (void)state;
    struct fleet *web = add("web", 3);
    struct fleet *db = add("db", 1);
    struct fleet *anonymous = add(NULL, 2);
    assert_string_equal(web->id, "f1");
    assert_string_equal(anonymous->id, "f3");
    assert_ptr_equal(registry_find(&registry, "f1.2"), &web->vms[2]);
    assert_ptr_equal(registry_find(&registry, "web.2"), &web->vms[2]);
    assert_ptr_equal(registry_find(&registry, "db"), &db->vms[0]);
    assert_ptr_equal(registry_find(&registry, "f2.0"), &db->vms[0]);
    assert_ptr_equal(registry_find(&registry, "f3.1"), &anonymous->vms[1]);
    /* A fleet of several is found only with an index; one of one only without. */
    assert_null(registry_find(&registry, "web"));
    assert_null(registry_find(&registry, "db.0"));
    assert_null(registry_find(&registry, "f1.3"));
    assert_null(registry_find(&registry, "f1.01"));
    assert_null(registry_find(&registry, "f1.-1"));
    assert_null(registry_find(&registry, "f1."));
    assert_null(registry_find(&registry, "f9.0"));
    assert_null(registry_find(&registry, ""));
    assert_true(registry_name_taken(&registry, "web"));
    assert_false(registry_name_taken(&registry, "www"));
}

static void test_states_and_final_ones(void **state)
{
    (void)state;
    struct fleet *fleet = add(NULL, 2);
    struct vm *vm = &fleet->vms[0];
    assert_int_equal(vm->state, VM_CREATED);
    assert_false(vm_is_live(vm));
    fleet->started = true;
    assert_true(vm_is_live(vm));
    vm_set_state(&registry, vm, VM_RUNNING, EVENT_STARTED);
    assert_int_not_equal(vm->started, 0);
    vm_set_stopped(&registry, vm, 137, "killed");
    assert_int_equal(vm->state, VM_STOPPED);
    assert_true(vm->has_exit_status);
    assert_int_equal(vm->exit_status, 137);
    assert_string_equal(vm->stop_reason, "killed");
    /* A final state is final: a late event does not revive the VM or change its status. */
    vm_set_exited(&registry, vm, 0);
    vm_set_state(&registry, vm, VM_RUNNING, EVENT_RESUMED);
    assert_int_equal(vm->state, VM_STOPPED);
    assert_int_equal(vm->exit_status, 137);
    assert_false(vm_is_live(vm));
    enum vm_state parsed;
    assert_true(vm_state_parse("hibernated", &parsed));
    assert_int_equal(parsed, VM_HIBERNATED);
    assert_false(vm_state_parse("zombie", &parsed));
}

static void test_delete_frees_the_name_and_the_fleet(void **state)
{
    (void)state;
    struct fleet *fleet = add("web", 2);
    registry_delete_vm(&registry, &fleet->vms[0]);
    assert_null(registry_find(&registry, "web.0"));
    assert_non_null(registry_find(&registry, "web.1"));
    assert_true(registry_name_taken(&registry, "web"));
    registry_delete_vm(&registry, &fleet->vms[1]);
    /* The fleet is gone (freed): nothing finds it and its name is free. */
    assert_null(registry.fleets);
    assert_false(registry_name_taken(&registry, "web"));
    assert_string_equal(add("web", 1)->id, "f2");
}

static void test_a_running_fleet_outlives_its_deleted_vms(void **state)
{
    (void)state;
    struct fleet *fleet = add(NULL, 1);
    fleet->started = true;
    registry_delete_vm(&registry, &fleet->vms[0]);
    assert_ptr_equal(registry.fleets, fleet);
    assert_null(registry_find(&registry, "f1.0"));
    fleet->monitor_done = true;
    assert_true(registry_release_fleet(&registry, fleet));
    assert_null(registry.fleets);
}

static void test_vm_json(void **state)
{
    (void)state;
    struct fleet *fleet = add("web", 2);
    fleet->memory_bytes = 4u << 20;
    json_object *o = vm_to_json(&fleet->vms[1]);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    assert_non_null(
        strstr(text, "\"id\":\"f1.1\",\"name\":\"web.1\",\"fleet\":\"f1\",\"index\":1"));
    assert_non_null(strstr(text, "\"state\":\"created\""));
    assert_non_null(strstr(text, "\"started\":null"));
    assert_non_null(strstr(text, "\"exit_status\":null"));
    assert_non_null(strstr(text, "\"memory\":4194304"));
    json_object_put(o);
}

static void test_event_log_keeps_the_last_thousand(void **state)
{
    (void)state;
    for (unsigned i = 0; i < EVENT_LOG_KEEP + 5; i++)
        event_log_add(&events, i % 2 ? EVENT_STOPPED : EVENT_EXITED, "f1.0", true, 7, "why");
    uint64_t totals[EVENT_TYPE_COUNT];
    event_log_totals(&events, totals);
    assert_int_equal(totals[EVENT_EXITED], (EVENT_LOG_KEEP + 5 + 1) / 2);
    assert_int_equal(totals[EVENT_STOPPED], (EVENT_LOG_KEEP + 5) / 2);
    uint64_t cursor = event_log_start(&events, true);
    assert_int_equal(cursor, 5);
    char *line = event_log_next(&events, &cursor, 0);
    assert_non_null(line);
    assert_non_null(
        strstr(line, "\"type\":\"stopped\",\"id\":\"f1.0\",\"status\":7,\"reason\":\"why\"}\n"));
    free(line);
    /* A reader that fell behind the ring skips to the oldest kept. */
    uint64_t behind = 0;
    line = event_log_next(&events, &behind, 0);
    assert_int_equal(behind, 6);
    free(line);
    uint64_t live = event_log_start(&events, false);
    assert_null(event_log_next(&events, &live, 0));
    event_log_add(&events, EVENT_DELETED, "f1.0", false, 0, NULL);
    line = event_log_next(&events, &live, 0);
    assert_non_null(line);
    assert_non_null(strstr(line, "\"type\":\"deleted\",\"id\":\"f1.0\"}"));
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids_and_names, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_states_and_final_ones, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_delete_frees_the_name_and_the_fleet, set_up,
                                        tear_down),
        cmocka_unit_test_setup_teardown(test_a_running_fleet_outlives_its_deleted_vms, set_up,
                                        tear_down),
        cmocka_unit_test_setup_teardown(test_vm_json, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_event_log_keeps_the_last_thousand, set_up, tear_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
