/* Unit tests for create_request_parse: the body of POST /vms, every field, type and error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/create_request.h"

static char err[512];

static int parse(const char *body, struct create_request *out)
{
    err[0] = '\0';
    return create_request_parse(body, strlen(body), out, err, sizeof(err));
}

/* The body must be refused with a message containing expected. */
static void refused(const char *body, const char *expected)
{
    struct create_request request;
    if (parse(body, &request) == 0) {
        create_request_free(&request);
        fail_msg("accepted: %s", body);
    }
    if (!strstr(err, expected))
        fail_msg("for %s: message '%s' lacks '%s'", body, err, expected);
}

static void test_minimal_body_gets_defaults(void **state)
{
    (void)state;
    struct create_request r;
    assert_int_equal(parse("{\"image\": \"/g/hello.elf\"}", &r), 0);
    assert_string_equal(r.image, "/g/hello.elf");
    assert_int_equal(r.count, 1);
    assert_true(r.start);
    assert_false(r.clone);
    assert_int_equal(r.arg_count, 0);
    assert_null(r.name);
    assert_null(r.memory);
    assert_null(r.platform);
    assert_null(r.net);
    create_request_free(&r);
}

static void test_every_field(void **state)
{
    (void)state;
    struct create_request r;
    const char *body =
        "{\"image\": \"/g/httpd.elf\", \"args\": [\"--port\", \"80\", \"\"], \"count\": 3,"
        " \"name\": \"web-1_a\", \"memory\": 8388608, \"platform\": \"process\", \"net\": \"user\","
        " \"publish\": [\"8080-8082:80\"], \"clone\": true, \"mem_limit\": \"64M\","
        " \"quantum_ms\": 5, \"time_limit\": 2.5, \"workers\": 2, \"start\": false}";
    assert_int_equal(parse(body, &r), 0);
    assert_int_equal(r.arg_count, 3);
    assert_string_equal(r.args[0], "--port");
    assert_string_equal(r.args[2], "");
    assert_int_equal(r.count, 3);
    assert_string_equal(r.name, "web-1_a");
    assert_string_equal(r.memory, "8388608");
    assert_string_equal(r.platform, "process");
    assert_string_equal(r.net, "user");
    assert_int_equal(r.publish_count, 1);
    assert_string_equal(r.publish[0], "8080-8082:80");
    assert_true(r.clone);
    assert_string_equal(r.mem_limit, "64M");
    assert_string_equal(r.quantum_ms, "5");
    assert_string_equal(r.time_limit, "2.5");
    assert_string_equal(r.workers, "2");
    assert_false(r.start);
    create_request_free(&r);
}

static void test_restore_needs_no_image(void **state)
{
    (void)state;
    struct create_request r;
    assert_int_equal(
        parse("{\"restore\": \"/tmp/s.snap\", \"swap\": \"/tmp/swap\", \"hibernate_after\": 1}",
              &r),
        0);
    assert_null(r.image);
    assert_string_equal(r.restore, "/tmp/s.snap");
    assert_string_equal(r.hibernate_after, "1");
    create_request_free(&r);
    refused("{\"restore\": \"/s\", \"image\": \"/x\"}", "restore");
    refused("{\"count\": 2}", "image: required");
}

static void test_malformed_json(void **state)
{
    (void)state;
    refused("", "malformed JSON");
    refused("{\"image\": \"/x\"", "malformed JSON");
    refused("{image: \"/x\"}", "malformed JSON");
    refused("{\"image\": \"/x\"} {}", "malformed JSON");
    refused("{\"image\": '/x'}", "malformed JSON");
    refused("[\"image\"]", "must be a JSON object");
    refused("\"image\"", "must be a JSON object");
    refused("null", "must be a JSON object");
    struct create_request r;
    const char with_nul[] = "{\"image\": \"/x\"}\0garbage";
    assert_int_equal(create_request_parse(with_nul, sizeof(with_nul) - 1, &r, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "NUL"));
}

static void test_body_need_not_end_in_nul(void **state)
{
    (void)state;
    const char text[] = "{\"image\": \"/x\"}XXXX";
    struct create_request r;
    assert_int_equal(create_request_parse(text, 15, &r, err, sizeof(err)), 0);
    assert_string_equal(r.image, "/x");
    create_request_free(&r);
}

static void test_unknown_field(void **state)
{
    (void)state;
    refused("{\"image\": \"/x\", \"imag\": \"/y\"}", "unknown field 'imag'");
    refused("{\"image\": \"/x\", \"Count\": 1}", "unknown field 'Count'");
}

static void test_wrong_types(void **state)
{
    (void)state;
    refused("{\"image\": 3}", "image: expected a string");
    refused("{\"image\": \"\"}", "image: expected a non-empty string");
    refused("{\"image\": \"/x\\u0000y\"}", "NUL");
    refused("{\"image\": \"/x\", \"args\": \"a b\"}", "args: expected an array");
    refused("{\"image\": \"/x\", \"args\": [1]}", "args[0]: expected a string");
    refused("{\"image\": \"/x\", \"count\": \"2\"}", "count: expected an integer");
    refused("{\"image\": \"/x\", \"count\": 1.5}", "count: expected an integer");
    refused("{\"image\": \"/x\", \"memory\": true}", "memory: expected an integer");
    refused("{\"image\": \"/x\", \"memory\": 4.5}", "memory: expected an integer");
    refused("{\"image\": \"/x\", \"clone\": 1}", "clone: expected true or false");
    refused("{\"image\": \"/x\", \"start\": \"false\"}", "start: expected true or false");
    refused("{\"image\": \"/x\", \"time_limit\": \"5\"}", "time_limit: expected a number");
    refused("{\"image\": \"/x\", \"publish\": [\"\"]}", "publish[0]");
    refused("{\"image\": \"/x\", \"name\": null}", "name: expected a string");
}

static void test_values_out_of_range(void **state)
{
    (void)state;
    refused("{\"image\": \"/x\", \"count\": 0}", "count: expected an integer from 1 to 100000");
    refused("{\"image\": \"/x\", \"count\": 100001}", "count");
    refused("{\"image\": \"/x\", \"count\": 99999999999999999999}", "count");
    refused("{\"image\": \"/x\", \"quantum_ms\": 0}", "quantum_ms");
    refused("{\"image\": \"/x\", \"workers\": 257}", "workers");
    refused("{\"image\": \"/x\", \"time_limit\": 0}", "time_limit: expected a positive");
    refused("{\"image\": \"/x\", \"hibernate_after\": -1}", "hibernate_after");
    refused("{\"image\": \"/x\", \"memory\": -4}", "memory");
    refused("{\"image\": \"/x\", \"platform\": \"xen\"}", "platform: expected one of");
    refused("{\"image\": \"/x\", \"net\": \"tap:denali0\"}", "net: expected one of");
}

static void test_names(void **state)
{
    (void)state;
    refused("{\"image\": \"/x\", \"name\": \"a.b\"}", "name: 'a.b' is not");
    refused("{\"image\": \"/x\", \"name\": \"f12\"}", "looks like a fleet id");
    struct create_request r;
    assert_int_equal(parse("{\"image\": \"/x\", \"name\": \"f12x\"}", &r), 0);
    create_request_free(&r);
}

static void test_disks(void **state)
{
    (void)state;
    struct create_request r;
    const char *body =
        "{\"image\": \"/g/httpd.elf\", \"disks\": [\"/d/www.img,ro\", \"/d/data.img\"],"
        " \"overlay_dir\": \"/var/tmp/ov\", \"keep_overlays\": true, \"ksm\": true}";
    assert_int_equal(parse(body, &r), 0);
    assert_int_equal(r.disk_count, 2);
    assert_string_equal(r.disks[0], "/d/www.img,ro");
    assert_string_equal(r.disks[1], "/d/data.img");
    assert_string_equal(r.overlay_dir, "/var/tmp/ov");
    assert_true(r.keep_overlays);
    assert_true(r.ksm);
    create_request_free(&r);
    refused("{\"image\": \"/x\", \"ksm\": 1}", "ksm");
    refused("{\"image\": \"/x\", \"disks\": \"/d.img\"}", "disks");
    refused("{\"image\": \"/x\", \"disks\": [3]}", "disks");
    refused("{\"image\": \"/x\", \"keep_overlays\": \"yes\"}", "keep_overlays");
    char many[512] = "{\"image\": \"/x\", \"disks\": [";
    for (int i = 0; i < 9; i++)
        strcat(many, i ? ", \"/d\"" : "\"/d\"");
    strcat(many, "]}");
    refused(many, "disks: at most 8");
}

static void test_too_many_entries(void **state)
{
    (void)state;
    char body[512] = "{\"image\": \"/x\", \"publish\": [";
    for (int i = 0; i < 17; i++)
        strcat(body, i ? ", \"1:1\"" : "\"1:1\"");
    strcat(body, "]}");
    refused(body, "publish: at most 16");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_body_gets_defaults),
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_restore_needs_no_image),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_body_need_not_end_in_nul),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_values_out_of_range),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_too_many_entries),
        cmocka_unit_test(test_disks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
