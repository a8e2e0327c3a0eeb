/* Unit tests for the client commands' pure parts: tables, status wording, ports, sizes, signals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/signal_name.h"
#include "cli/stats_view.h"
#include "cli/table.h"
#include "cli/vm_view.h"
#include "test_util.h"

/* 2026-12-01T21:00:00Z */
#define T0 ((time_t)1796158800)

/* What table_print writes, as a malloc'd string. */
static char *printed(const struct table *t)
{
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    assert_non_null(out);
    table_print(t, out);
    fclose(out);
    return text;
}

static void test_table_pads_columns(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, (const char *const[]){"ID", "NAME", "STATE", NULL});
    table_add_row(&t, (const char *const[]){"f1.0", "web", "running"});
    table_add_row(&t, (const char *const[]){"f10.12", "a-longer-name", "exited"});
    char *text = printed(&t);
    assert_string_equal(text, "ID       NAME            STATE\n"
                              "f1.0     web             running\n"
                              "f10.12   a-longer-name   exited\n");
    free(text);
    table_free(&t);
}

static void test_table_empty_cells_and_no_trailing_blanks(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, (const char *const[]){"ID", "NAME", "PORTS", NULL});
    table_add_row(&t, (const char *const[]){"f1.0", NULL, "127.0.0.1:80->80/tcp"});
    table_add_row(&t, (const char *const[]){"f2.0", "db", ""});
    char *text = printed(&t);
    assert_string_equal(text, "ID     NAME   PORTS\n"
                              "f1.0          127.0.0.1:80->80/tcp\n"
                              "f2.0   db\n");
    free(text);
    table_free(&t);
}

static void test_table_header_only(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, (const char *const[]){"ID", "STATE", NULL});
    char *text = printed(&t);
    assert_string_equal(text, "ID   STATE\n");
    free(text);
    table_free(&t);
}

static void test_table_many_rows(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, (const char *const[]){"N", NULL});
    char cell[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(cell, sizeof(cell), "%d", i);
        table_add_row(&t, (const char *const[]){cell});
    }
    assert_int_equal(t.rows, 1000);
    char *text = printed(&t);
    assert_contains(text, "\n999\n");
    assert_int_equal(t.width[0], 3);
    free(text);
    table_free(&t);
}

static void test_parse_time(void **state)
{
    (void)state;
    time_t t;
    assert_int_equal(vm_parse_time("2026-12-01T21:00:00Z", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(vm_parse_time("2026-12-01T21:00:00.123456Z", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(vm_parse_time("2026-12-01T22:30:00+01:30", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(vm_parse_time("2026-12-01T19:00:00-02:00", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(vm_parse_time("2026-12-01 21:00:00z", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(vm_parse_time("2026-12-01T21:00:00", &t), -1);
    assert_int_equal(vm_parse_time("2026-13-01T21:00:00Z", &t), -1);
    assert_int_equal(vm_parse_time("2026-12-01T21:00Z", &t), -1);
    assert_int_equal(vm_parse_time("2026-12-01T21:00:00Zjunk", &t), -1);
    assert_int_equal(vm_parse_time("", &t), -1);
    assert_int_equal(vm_parse_time(NULL, &t), -1);
}

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        double seconds;
        const char *words;
    } cases[] = {
        {0, "Less than a second"},  {0.5, "Less than a second"}, {1, "1 second"},
        {59, "59 seconds"},         {60, "About a minute"},      {89, "About a minute"},
        {150, "3 minutes"},         {3540, "59 minutes"},        {3600, "About an hour"},
        {7200, "2 hours"},          {47 * 3600, "47 hours"},     {3 * 86400, "3 days"},
        {21 * 86400, "3 weeks"},    {90 * 86400, "3 months"},    {800 * 86400, "2 years"},
        {-5, "Less than a second"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vm_format_duration(cases[i].seconds, out, sizeof(out));
        assert_string_equal(out, cases[i].words);
    }
}

/* The STATUS column of a VM given as JSON text, at T0. */
static void expect_status(const char *vm_json, const char *expected)
{
    json_object *vm = json_tokener_parse(vm_json);
    assert_non_null(vm);
    char out[256];
    vm_status(vm, T0, out, sizeof(out));
    assert_string_equal(out, expected);
    json_object_put(vm);
}

static void test_status_wording(void **state)
{
    (void)state;
    expect_status("{\"state\": \"created\", \"started\": null}", "Created");
    expect_status("{\"state\": \"running\", \"started\": \"2026-12-01T20:55:00Z\"}",
                  "Up 5 minutes");
    expect_status("{\"state\": \"running\", \"started\": null}", "Up");
    expect_status("{\"state\": \"paused\", \"started\": \"2026-12-01T20:59:58Z\"}",
                  "Up 2 seconds (Paused)");
    expect_status("{\"state\": \"hibernated\", \"started\": \"2026-12-01T18:00:00Z\"}",
                  "Up 3 hours (Hibernated)");
    expect_status("{\"state\": \"exited\", \"exit_status\": 0,"
                  " \"finished\": \"2026-12-01T20:00:00Z\"}",
                  "Exited (0) About an hour ago");
    expect_status("{\"state\": \"exited\", \"exit_status\": 3, \"finished\": null}", "Exited (3)");
    expect_status("{\"state\": \"stopped\", \"exit_status\": 137, \"stop_reason\": \"killed\","
                  " \"finished\": \"2026-12-01T20:59:59Z\"}",
                  "Stopped (137) 1 second ago: killed");
    expect_status("{\"state\": \"stopped\", \"exit_status\": null,"
                  " \"stop_reason\": \"monitor exited with status 1\", \"finished\": null}",
                  "Stopped: monitor exited with status 1");
    expect_status("{\"state\": \"migrating\"}", "Migrating");
    expect_status("{}", "Unknown");
}

static void test_live_states(void **state)
{
    (void)state;
    assert_true(vm_state_is_live("running"));
    assert_true(vm_state_is_live("paused"));
    assert_true(vm_state_is_live("hibernated"));
    assert_false(vm_state_is_live("created"));
    assert_false(vm_state_is_live("exited"));
    assert_false(vm_state_is_live("stopped"));
    assert_false(vm_state_is_live(NULL));
}

static void expect_ports(const char *vm_json, const char *expected)
{
    json_object *vm = json_tokener_parse(vm_json);
    assert_non_null(vm);
    char out[256];
    vm_ports(vm, out, sizeof(out));
    assert_string_equal(out, expected);
    json_object_put(vm);
}

static void test_ports(void **state)
{
    (void)state;
    expect_ports("{\"index\": 0, \"network\": {\"publish\": [\"8080:80\"]}}",
                 "127.0.0.1:8080->80/tcp");
    /* A single port is VM 0's only. */
    expect_ports("{\"index\": 1, \"network\": {\"publish\": [\"8080:80\"]}}", "");
    /* A range gives VM i its host port first + i. */
    expect_ports("{\"index\": 2, \"network\": {\"publish\": [\"8000-8009:80\", \"9000:22\"]}}",
                 "127.0.0.1:8002->80/tcp");
    expect_ports("{\"index\": 0, \"network\": {\"publish\": [\"8000-8009:80\", \"9000:22\"]}}",
                 "127.0.0.1:8000->80/tcp, 127.0.0.1:9000->22/tcp");
    expect_ports("{\"index\": 10, \"network\": {\"publish\": [\"8000-8009:80\"]}}", "");
    expect_ports("{\"index\": 0, \"network\": {\"mode\": \"none\"}}", "");
    expect_ports("{\"index\": 0, \"network\": null}", "");
    expect_ports("{\"index\": 0, \"network\": {\"publish\": [\"garbage\"]}}", "");
}

static void test_image_name(void **state)
{
    (void)state;
    assert_string_equal(vm_image_name("/abs/build/guests/httpd.elf"), "httpd.elf");
    assert_string_equal(vm_image_name("httpd.elf"), "httpd.elf");
    assert_string_equal(vm_image_name(NULL), "");
}

static void test_bytes(void **state)
{
    (void)state;
    char out[32];
    vm_format_bytes(0, out, sizeof(out));
    assert_string_equal(out, "0B");
    vm_format_bytes(900, out, sizeof(out));
    assert_string_equal(out, "900B");
    vm_format_bytes(1536, out, sizeof(out));
    assert_string_equal(out, "1.5KiB");
    vm_format_bytes(4u << 20, out, sizeof(out));
    assert_string_equal(out, "4MiB");
    vm_format_bytes(1052672, out, sizeof(out));
    assert_string_equal(out, "1.0MiB");
    vm_format_bytes(3ull << 40, out, sizeof(out));
    assert_string_equal(out, "3TiB");
}

static void test_signal_names(void **state)
{
    (void)state;
    assert_string_equal(signal_name_for_api("SIGTERM"), "SIGTERM");
    assert_string_equal(signal_name_for_api("term"), "SIGTERM");
    assert_string_equal(signal_name_for_api("SigKill"), "SIGKILL");
    assert_string_equal(signal_name_for_api("9"), "SIGKILL");
    assert_string_equal(signal_name_for_api("15"), "SIGTERM");
    assert_string_equal(signal_name_for_api("USR2"), "SIGUSR2");
    assert_null(signal_name_for_api("SIGSTOP"));
    assert_null(signal_name_for_api("19"));
    assert_null(signal_name_for_api("15x"));
    assert_null(signal_name_for_api("SIG"));
    assert_null(signal_name_for_api(""));
}

static void test_stats_rows_and_rates(void **state)
{
    (void)state;
    json_object *first = json_tokener_parse(
        "[{\"id\": \"f1.0\", \"state\": \"running\", \"exits\": 1000, \"memory_bytes\": 1048576,"
        " \"rx_frames\": 10, \"tx_frames\": 12, \"rx_bytes\": 900, \"tx_bytes\": 1536,"
        " \"disk_requests\": 1, \"disk_read_bytes\": 4096, \"disk_written_bytes\": 0}]");
    json_object *second = json_tokener_parse(
        "[{\"id\": \"f1.0\", \"state\": \"running\", \"exits\": 1500, \"memory_bytes\": 1048576,"
        " \"rx_frames\": 11, \"tx_frames\": 13, \"rx_bytes\": 1000, \"tx_bytes\": 2048},"
        " {\"id\": \"f1.1\", \"state\": \"paused\", \"exits\": 7, \"memory_bytes\": 0,"
        " \"rx_frames\": 0, \"tx_frames\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0}]");
    assert_non_null(first);
    assert_non_null(second);
    struct table t;
    stats_table_init(&t);
    stats_table_add(&t, first, NULL, 0);
    char *text = printed(&t);
    assert_string_equal(text, "ID     STATE     EXITS   EXITS/S   MEMORY   NET I/O         "
                              "FRAMES I/O   BLOCK I/O\n"
                              "f1.0   running   1000    --        1MiB     900B / 1.5KiB   "
                              "10 / 12      4KiB / 0B\n");
    free(text);
    table_free(&t);
    /* Half a second later: 500 more exits is 1000 a second; a new VM has no rate yet. */
    json_object *previous = stats_exits_by_id(first);
    stats_table_init(&t);
    stats_table_add(&t, second, previous, 0.5);
    text = printed(&t);
    assert_contains(text, "f1.0   running   1500    1000      1MiB");
    assert_contains(text, "f1.1   paused    7       --        0B");
    free(text);
    table_free(&t);
    json_object_put(previous);
    json_object_put(first);
    json_object_put(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_pads_columns),
        cmocka_unit_test(test_table_empty_cells_and_no_trailing_blanks),
        cmocka_unit_test(test_table_header_only),
        cmocka_unit_test(test_table_many_rows),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_status_wording),
        cmocka_unit_test(test_live_states),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_image_name),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_signal_names),
        cmocka_unit_test(test_stats_rows_and_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
