/* Unit tests for denali-oci's pure parts: ids and VM names, the image's resolution inside the
 * rootfs, the org.denali annotations, and bundles (a pod sandbox's included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "oci/annotations.h"
#include "oci/bundle.h"
#include "oci/oci_state.h"
#include "test_util.h"

static char rootfs[256];
static char bundle_dir[256];

/* A bundle directory holding rootfs/ with img.elf, sub/, and links in and out of it. */
static int set_up(void **state)
{
    (void)state;
    char template[] = "/tmp/denali-test-oci.XXXXXX";
    assert_non_null(mkdtemp(template));
    snprintf(bundle_dir, sizeof(bundle_dir), "%s", template);
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", template);
    char path[512];
    assert_int_equal(mkdir(rootfs, 0755), 0);
    snprintf(path, sizeof(path), "%s/sub", rootfs);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/img.elf", rootfs);
    FILE *image = fopen(path, "w");
    assert_non_null(image);
    fputs("not really an ELF", image);
    fclose(image);
    snprintf(path, sizeof(path), "%s/inside.elf", rootfs);
    assert_int_equal(symlink("sub/../img.elf", path), 0);
    snprintf(path, sizeof(path), "%s/absolute.elf", rootfs);
    assert_int_equal(symlink("/bin/true", path), 0);
    snprintf(path, sizeof(path), "%s/sub/up.elf", rootfs);
    assert_int_equal(symlink("../../../../../../../../../bin/true", path), 0);
    return 0;
}

static int tear_down(void **state)
{
    (void)state;
    char command[600];
    snprintf(command, sizeof(command), "rm -rf '%s'", bundle_dir);
    assert_int_equal(system(command), 0);
    return 0;
}

static void test_container_ids(void **state)
{
    (void)state;
    assert_true(container_id_is_valid("web"));
    assert_true(container_id_is_valid("a.b+c_d-e9"));
    assert_false(container_id_is_valid(""));
    assert_false(container_id_is_valid("."));
    assert_false(container_id_is_valid(".."));
    assert_false(container_id_is_valid("a/b"));
    assert_false(container_id_is_valid("../x"));
    assert_false(container_id_is_valid("with space"));
}

/* A name the daemon accepts: [A-Za-z0-9][A-Za-z0-9_-]{0,62}. */
static void assert_daemon_name(const char *name)
{
    size_t length = strlen(name);
    assert_true(length >= 1 && length <= 63);
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        assert_true(alnum || (i > 0 && (c == '_' || c == '-')));
    }
}

static void test_vm_names(void **state)
{
    (void)state;
    char name[64], other[64];
    container_vm_name("web", name);
    assert_string_equal(name, "web");
    container_vm_name("a.b+c", name);
    assert_daemon_name(name);
    assert_true(strncmp(name, "ca-b-c-", 7) == 0);
    char long_id[80];
    memset(long_id, 'f', 64);
    long_id[64] = '\0';
    container_vm_name(long_id, name);
    assert_daemon_name(name);
    long_id[63] = 'e'; /* differs only past the part of the id the name keeps */
    container_vm_name(long_id, other);
    assert_daemon_name(other);
    assert_string_not_equal(name, other);
    container_vm_name("_leading", name);
    assert_daemon_name(name);
    /* The daemon keeps f and digits for fleet ids. */
    container_vm_name("f12", name);
    assert_daemon_name(name);
    assert_string_not_equal(name, "f12");
    container_vm_name("f12x", name);
    assert_string_equal(name, "f12x");
}

/* Resolves guest_path under the test's rootfs; NULL (with err) when refused. */
static char *resolve(const char *cwd, const char *guest_path, char *err, size_t errlen)
{
    return bundle_resolve_in_rootfs(rootfs, cwd, guest_path, err, errlen);
}

static void test_image_inside_the_rootfs(void **state)
{
    (void)state;
    char err[512], expected[512];
    snprintf(expected, sizeof(expected), "%s/img.elf", rootfs);
    const char *cases[][2] = {
        {"/", "/img.elf"},    {"/", "img.elf"},         {"/sub", "../img.elf"},
        {"/", "/inside.elf"}, {"/", "/sub/../img.elf"}, {"/sub", "/img.elf"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *resolved = resolve(cases[i][0], cases[i][1], err, sizeof(err));
        if (!resolved)
            fail_msg("cwd %s, %s: %s", cases[i][0], cases[i][1], err);
        assert_string_equal(resolved, expected);
        free(resolved);
    }
}

static void test_image_outside_the_rootfs(void **state)
{
    (void)state;
    char err[512];
    const char *escapes[][2] = {
        {"/", "/../img.elf"},     {"/", "../rootfs/img.elf"}, {"/sub", "../../img.elf"},
        {"/", "/absolute.elf"},   {"/", "/sub/up.elf"},       {"/..", "rootfs/img.elf"},
        {"/", "/../../bin/true"},
    };
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        char *resolved = resolve(escapes[i][0], escapes[i][1], err, sizeof(err));
        if (resolved)
            fail_msg("cwd %s, %s: accepted as %s", escapes[i][0], escapes[i][1], resolved);
        assert_contains(err, "leads outside the rootfs");
    }
    assert_null(resolve("/", "/missing.elf", err, sizeof(err)));
    assert_contains(err, "No such file");
    assert_null(resolve("/", "/sub", err, sizeof(err)));
    assert_contains(err, "not a regular file");
    assert_null(resolve("/", "", err, sizeof(err)));
    assert_contains(err, "empty");
}

static json_object *annotations(const char *json)
{
    json_object *object = json_tokener_parse(json);
    assert_non_null(object);
    return object;
}

static void test_annotations(void **state)
{
    (void)state;
    char err[512];
    json_object *given = annotations(
        "{\"org.denali.memory\": \"16M\", \"org.denali.publish\": \"8080:80, 8443:443,\","
        " \"org.denali.hibernate-after\": \"2.5\", \"org.denali.quantum-ms\": \"5\","
        " \"io.kubernetes.cri.container-type\": \"container\"}");
    json_object *body = json_object_new_object();
    assert_int_equal(annotations_to_create_body(given, body, err, sizeof(err)), 0);
    assert_string_equal(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
                        "{\"memory\":\"16M\",\"publish\":[\"8080:80\",\"8443:443\"],"
                        "\"hibernate_after\":2.5,\"quantum_ms\":5}");
    json_object_put(body);
    json_object_put(given);

    const char *refused[][2] = {
        {"{\"org.denali.memroy\": \"16M\"}", "unknown annotation org.denali.memroy"},
        {"{\"org.denali.quantum-ms\": \"5ms\"}", "not an integer"},
        {"{\"org.denali.time-limit\": \"soon\"}", "not a number"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        given = annotations(refused[i][0]);
        body = json_object_new_object();
        assert_int_equal(annotations_to_create_body(given, body, err, sizeof(err)), -1);
        assert_contains(err, refused[i][1]);
        json_object_put(body);
        json_object_put(given);
    }
}

static void write_config(const char *json)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/config.json", bundle_dir);
    FILE *config = fopen(path, "w");
    assert_non_null(config);
    fputs(json, config);
    fclose(config);
}

static void test_bundles(void **state)
{
    (void)state;
    char err[512], expected[512];
    struct bundle bundle;
    snprintf(expected, sizeof(expected), "%s/img.elf", rootfs);

    write_config("{\"process\": {\"args\": [\"/img.elf\", \"a\", \"b c\"], \"cwd\": \"/\"},"
                 " \"root\": {\"path\": \"rootfs\"}}");
    assert_int_equal(bundle_load(bundle_dir, &bundle, err, sizeof(err)), 0);
    assert_string_equal(bundle.image, expected);
    assert_string_equal(json_object_to_json_string_ext(bundle.args, JSON_C_TO_STRING_PLAIN),
                        "[\"a\",\"b c\"]");
    assert_false(bundle.sandbox);
    bundle_free(&bundle);

    /* A pod's sandbox runs the pause program, which is no guest: it is not looked for. */
    write_config("{\"process\": {\"args\": [\"/pause\"]}, \"root\": {\"path\": \"rootfs\"},"
                 " \"annotations\": {\"io.kubernetes.cri.container-type\": \"sandbox\"}}");
    assert_int_equal(bundle_load(bundle_dir, &bundle, err, sizeof(err)), 0);
    assert_true(bundle.sandbox);
    assert_null(bundle.image);
    bundle_free(&bundle);

    const char *refused[][2] = {
        {"{\"process\": {\"args\": [\"/img.elf\"], \"terminal\": true},"
         " \"root\": {\"path\": \"rootfs\"}}",
         "not a TTY"},
        {"{\"process\": {\"args\": []}, \"root\": {\"path\": \"rootfs\"}}", "process.args"},
        {"{\"process\": {\"args\": [\"/img.elf\", 3]}, \"root\": {\"path\": \"rootfs\"}}",
         "process.args[1] is not a string"},
        {"{\"process\": {\"args\": [\"/img.elf\"]}}", "root.path"},
        {"{\"process\": {\"args\": [\"/img.elf\"]}, \"root\": {\"path\": \"rootfs\"},"
         " \"annotations\": {\"org.denali.memory\": 16}}",
         "is not a string"},
        {"[1, 2]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        write_config(refused[i][0]);
        if (bundle_load(bundle_dir, &bundle, err, sizeof(err)) == 0)
            fail_msg("accepted: %s", refused[i][0]);
        assert_contains(err, refused[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_ids),
        cmocka_unit_test(test_vm_names),
        cmocka_unit_test_setup_teardown(test_image_inside_the_rootfs, set_up, tear_down),
        cmocka_unit_test_setup_teardown(test_image_outside_the_rootfs, set_up, tear_down),
        cmocka_unit_test(test_annotations),
        cmocka_unit_test_setup_teardown(test_bundles, set_up, tear_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
