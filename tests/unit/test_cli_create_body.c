/* Unit tests for `denali run -d`'s command line made into the create body (create_body_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cli/create_body.h"
#include "test_util.h"

#define CWD "/home/user/work"

static char err[512];
static struct create_request request;

static enum create_result parse_argv(char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    memset(err, 0, sizeof(err));
    json_object_put(request.body);
    return create_body_parse(argc, argv, CWD, &request, err, sizeof(err));
}

#define PARSE(...) parse_argv((char *[]){"run", __VA_ARGS__, NULL})

/* The body parsed by `denali run -d ARGS...` must equal the JSON text expected. */
#define EXPECT_BODY(expected, ...)                                                                 \
    do {                                                                                           \
        assert_int_equal(PARSE(__VA_ARGS__), CREATE_OK);                                           \
        json_object *want_ = json_tokener_parse(expected);                                         \
        assert_non_null(want_);                                                                    \
        if (!json_object_equal(want_, request.body))                                               \
            fail_msg("body %s, expected %s", json_object_to_json_string(request.body), expected);  \
        json_object_put(want_);                                                                    \
    } while (0)

/* Expects `denali run ARGS...` to be refused with one line containing needle. */
#define EXPECT_ERROR(needle, ...)                                                                  \
    do {                                                                                           \
        assert_int_equal(PARSE(__VA_ARGS__), CREATE_ERROR);                                        \
        assert_null(request.body);                                                                 \
        assert_contains(err, needle);                                                              \
        assert_null(strchr(err, '\n'));                                                            \
    } while (0)

static int teardown(void **state)
{
    (void)state;
    json_object_put(request.body);
    request.body = NULL;
    return 0;
}

static void test_minimal_body(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"/abs/hello.elf\", \"args\": [], \"count\": 1}", "-d",
                "/abs/hello.elf");
    assert_int_equal(request.count, 1);
    assert_null(request.api);
}

static void test_image_made_absolute(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"" CWD "/build/guests/hello.elf\", \"args\": [], \"count\": 1}", "-d",
                "build/guests/hello.elf");
    EXPECT_BODY("{\"image\": \"" CWD "/hello.elf\", \"args\": [], \"count\": 1}", "--detach",
                "./hello.elf");
}

static void test_every_option(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"/g/httpd.elf\", \"args\": [\"--port\", \"80\"], \"count\": 3,"
                " \"name\": \"web\", \"memory\": 8388608, \"platform\": \"process\","
                " \"net\": \"user\", \"publish\": [\"8000-8002:80\", \"9000:22\"],"
                " \"quantum_ms\": 5, \"time_limit\": 2.5, \"workers\": 2,"
                " \"mem_limit\": 67108864}",
                "-d", "-n", "3", "--name", "web", "-m", "8M", "--platform", "process", "--net",
                "user", "-p", "8000-8002:80", "--publish=9000:22", "-q", "5", "--time-limit", "2.5",
                "-j", "2", "--mem-limit", "64M", "/g/httpd.elf", "--port", "80");
    assert_int_equal(request.count, 3);
}

static void test_clustered_short_options(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"/g/idle.elf\", \"args\": [\"9\"], \"count\": 4}", "-dn4",
                "/g/idle.elf", "9");
    assert_int_equal(request.count, 4);
}

static void test_detach_anywhere_before_image(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"/g/a.elf\", \"args\": [\"-d\"], \"count\": 2}", "-n", "2", "-d",
                "/g/a.elf", "-d");
}

static void test_api_taken_out_of_body(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"/g/a.elf\", \"args\": [], \"count\": 1}", "--api", "/tmp/x.sock",
                "-d", "/g/a.elf");
    assert_string_equal(request.api, "/tmp/x.sock");
}

static void test_clone_swap_restore(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"/g/a.elf\", \"args\": [], \"count\": 5, \"clone\": true}", "-d",
                "--clone", "-n", "5", "/g/a.elf");
    EXPECT_BODY("{\"args\": [], \"count\": 1, \"restore\": \"" CWD "/snap.img\"}", "-d",
                "--restore", "snap.img");
    EXPECT_BODY("{\"image\": \"/g/a.elf\", \"args\": [], \"count\": 1,"
                " \"swap\": \"/var/swap\", \"hibernate_after\": 0.5}",
                "-d", "--swap", "/var/swap", "--hibernate-after", "0.5", "/g/a.elf");
}

static void test_run_parser_errors_kept(void **state)
{
    (void)state;
    EXPECT_ERROR("--mem: '3M'", "-d", "--mem", "3M", "/g/a.elf");
    EXPECT_ERROR("--count", "-d", "-n", "0", "/g/a.elf");
    EXPECT_ERROR("no IMAGE", "-d", "-n", "2");
    EXPECT_ERROR("--hibernate-after needs --swap", "-d", "--hibernate-after", "1", "/g/a.elf");
    EXPECT_ERROR("--platform", "-d", "--platform", "vax", "/g/a.elf");
    EXPECT_ERROR("--publish needs --net user", "-d", "--net", "none", "-p", "80:80", "/g/a.elf");
}

static void test_attached_only_options_refused(void **state)
{
    (void)state;
    EXPECT_ERROR("--console", "-d", "--console", "null", "/g/a.elf");
    EXPECT_ERROR("--stats", "-d", "--stats", "/g/a.elf");
    EXPECT_ERROR("--progress", "-d", "--no-progress", "/g/a.elf");
    EXPECT_ERROR("--max-resident", "-d", "--max-resident", "4", "/g/a.elf");
    EXPECT_ERROR("snapshot", "-d", "-o", "x.snap", "/g/a.elf");
    EXPECT_ERROR("--control-fd", "-d", "--control-fd", "3", "/g/a.elf");
}

static void test_disks_made_absolute(void **state)
{
    (void)state;
    EXPECT_BODY("{\"image\": \"/g/a.elf\", \"args\": [], \"count\": 1,"
                " \"disks\": [\"" CWD "/www.img,ro\", \"/var/d.img\"],"
                " \"overlay_dir\": \"" CWD "/ov\", \"keep_overlays\": true, \"ksm\": true}",
                "-d", "--disk", "www.img,ro", "--disk", "/var/d.img", "--overlay-dir", "ov",
                "--keep-overlays", "--ksm", "/g/a.elf");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    EXPECT_ERROR("unknown option '--bogus'", "-d", "--bogus", "/g/a.elf");
    EXPECT_ERROR("needs a value", "-d", "--name");
    EXPECT_ERROR("--name: 'a b'", "-d", "--name", "a b", "/g/a.elf");
    EXPECT_ERROR("--name: '-x'", "-d", "--name=-x", "/g/a.elf");
    EXPECT_ERROR("--name: 'f12'", "-d", "--name", "f12", "/g/a.elf");
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-d", "--help"), CREATE_HELP);
    assert_null(request.body);
}

static void test_is_detached(void **state)
{
    (void)state;
    assert_true(create_body_is_detached(3, (char *[]){"run", "-d", "x.elf", NULL}));
    assert_true(create_body_is_detached(4, (char *[]){"run", "-n2", "--detach", "x.elf", NULL}));
    assert_true(create_body_is_detached(3, (char *[]){"run", "-dn2", "x.elf", NULL}));
    /* After IMAGE, -d is the guest's. */
    assert_false(create_body_is_detached(3, (char *[]){"run", "x.elf", "-d", NULL}));
    assert_false(create_body_is_detached(4, (char *[]){"run", "-n", "2", "x.elf", NULL}));
    /* How the daemon starts a fleet's monitor: not detached. */
    assert_false(create_body_is_detached(
        7, (char *[]){"run", "--control-fd", "3", "-n", "2", "x.elf", "-d", NULL}));
    /* --name's value is not an option, even when it reads like one. */
    assert_false(create_body_is_detached(4, (char *[]){"run", "--name", "-d", "x.elf", NULL}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_minimal_body, teardown),
        cmocka_unit_test_teardown(test_image_made_absolute, teardown),
        cmocka_unit_test_teardown(test_every_option, teardown),
        cmocka_unit_test_teardown(test_clustered_short_options, teardown),
        cmocka_unit_test_teardown(test_detach_anywhere_before_image, teardown),
        cmocka_unit_test_teardown(test_api_taken_out_of_body, teardown),
        cmocka_unit_test_teardown(test_clone_swap_restore, teardown),
        cmocka_unit_test_teardown(test_run_parser_errors_kept, teardown),
        cmocka_unit_test_teardown(test_attached_only_options_refused, teardown),
        cmocka_unit_test_teardown(test_disks_made_absolute, teardown),
        cmocka_unit_test_teardown(test_bad_arguments, teardown),
        cmocka_unit_test_teardown(test_help, teardown),
        cmocka_unit_test(test_is_detached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
