/* Unit tests for `--publish` rules: publish_parse, publish_check and publish_format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "net/publish.h"
#include "test_util.h"

static char err[512];

static int parse(const char *spec, struct publish_rule *rule)
{
    memset(err, 0, sizeof(err));
    return publish_parse(spec, rule, err, sizeof(err));
}

/* Expects spec to parse into exactly first-last:guest. */
static void expect_rule(const char *spec, unsigned first, unsigned last, unsigned guest)
{
    struct publish_rule rule;
    int r = parse(spec, &rule);
    if (r != 0)
        fail_msg("'%s' refused: %s", spec, err);
    assert_int_equal(rule.host_first, first);
    assert_int_equal(rule.host_last, last);
    assert_int_equal(rule.guest_port, guest);
}

/* Expects spec to be refused with a one-line reason containing needle, leaving out untouched. */
static void expect_refused(const char *spec, const char *needle)
{
    struct publish_rule rule = {1, 2, 3};
    int r = parse(spec, &rule);
    if (r != -1)
        fail_msg("'%s' accepted", spec);
    assert_contains(err, needle);
    assert_null(strchr(err, '\n'));
    assert_int_equal(rule.host_first, 1);
    assert_int_equal(rule.host_last, 2);
    assert_int_equal(rule.guest_port, 3);
}

static int check(const struct publish_rule *rules, size_t n, unsigned vms)
{
    memset(err, 0, sizeof(err));
    return publish_check(rules, n, vms, err, sizeof(err));
}

static void test_single_port(void **state)
{
    (void)state;
    expect_rule("8080:80", 8080, 8080, 80);
    expect_rule("1:1", 1, 1, 1);
    expect_rule("65535:65535", 65535, 65535, 65535);
    expect_rule("080:0080", 80, 80, 80);
}

static void test_range(void **state)
{
    (void)state;
    expect_rule("8000-8999:80", 8000, 8999, 80);
    expect_rule("8000-8000:80", 8000, 8000, 80);
    expect_rule("1-65535:22", 1, 65535, 22);
}

static void test_missing_parts(void **state)
{
    (void)state;
    expect_refused("", "empty rule");
    expect_refused("8080", "missing ':GUESTPORT'");
    expect_refused("8000-8010", "missing ':GUESTPORT'");
    expect_refused(":80", "missing host port");
    expect_refused("8080:", "missing guest port");
    expect_refused("-8010:80", "missing host port");
    expect_refused("8000-:80", "missing host range end");
    expect_refused(":", "missing host port");
    expect_refused("-:", "missing host port");
}

static void test_not_numbers(void **state)
{
    (void)state;
    expect_refused("http:80", "host port 'http' is not a number");
    expect_refused("8080:http", "guest port 'http' is not a number");
    expect_refused("80a:80", "host port '80a' is not a number");
    expect_refused("8000-80x0:80", "host range end '80x0' is not a number");
    expect_refused("+80:80", "host port '+80' is not a number");
    expect_refused("80:-80", "guest port '-80' is not a number");
    expect_refused(" 80:80", "host port ' 80' is not a number");
    expect_refused("80:80 ", "guest port '80 ' is not a number");
    expect_refused("0x50:80", "host port '0x50' is not a number");
    expect_refused("8080:80:90", "guest port '80:90' is not a number");
    expect_refused("8000-8001-8002:80", "host range end '8001-8002' is not a number");
    expect_refused("80.0:80", "not a number");
    expect_refused("127.0.0.1:8080:80", "host port '127.0.0.1' is not a number");
    expect_refused("8080:80/tcp", "guest port '80/tcp' is not a number");
}

static void test_out_of_range(void **state)
{
    (void)state;
    expect_refused("0:80", "host port '0' is out of range 1..65535");
    expect_refused("80:0", "guest port '0' is out of range");
    expect_refused("65536:80", "host port '65536' is out of range");
    expect_refused("80:65536", "guest port '65536' is out of range");
    expect_refused("8000-65536:80", "host range end '65536' is out of range");
    expect_refused("0-10:80", "host port '0' is out of range");
    expect_refused("99999999999999999999999:80", "out of range");
    expect_refused("80:18446744073709551697", "guest port '18446744073709551697' is out of range");
    expect_refused("000:80", "out of range");
}

static void test_backwards_range(void **state)
{
    (void)state;
    expect_refused("9000-8000:80", "host range end 8000 is below its start 9000");
    expect_refused("2-1:80", "below its start");
}

static void test_message_names_the_spec(void **state)
{
    (void)state;
    expect_refused("80a:80", "publish '80a:80':");
    expect_refused("8080", "expected HOSTPORT[-HOSTPORT_END]:GUESTPORT");
}

static void test_message_stays_one_short_line(void **state)
{
    (void)state;
    expect_refused("80\n80:80", "'80?80'");
    char long_spec[300];
    memset(long_spec, '9', sizeof(long_spec) - 1);
    long_spec[sizeof(long_spec) - 1] = '\0';
    expect_refused(long_spec, "...");
    assert_true(strlen(err) < 200);
}

static void test_format(void **state)
{
    (void)state;
    char text[PUBLISH_TEXT_MAX];
    publish_format(&(struct publish_rule){8080, 8080, 80}, text);
    assert_string_equal(text, "8080:80");
    publish_format(&(struct publish_rule){65534, 65535, 65535}, text);
    assert_string_equal(text, "65534-65535:65535");
    publish_format(&(struct publish_rule){1, 65535, 65535}, text);
    assert_string_equal(text, "1-65535:65535");
    assert_int_equal(publish_port_count(&(struct publish_rule){1, 65535, 80}), 65535);
    assert_int_equal(publish_port_count(&(struct publish_rule){7, 7, 80}), 1);
}

static void test_check_accepts_fitting_rules(void **state)
{
    (void)state;
    const struct publish_rule rules[] = {
        {8000, 8009, 80},
        {9000, 9000, 22},
        {8010, 8019, 443},
    };
    assert_int_equal(check(rules, 3, 10), 0);
    assert_int_equal(check(rules, 0, 0), 0);
    assert_int_equal(check(&(struct publish_rule){1, 65535, 80}, 1, 65535), 0);
}

static void test_check_range_larger_than_fleet(void **state)
{
    (void)state;
    assert_int_equal(check(&(struct publish_rule){8000, 8999, 80}, 1, 10), -1);
    assert_string_equal(err, "publish 8000-8999:80 maps 1000 host ports but only 10 VMs run");
    assert_int_equal(check(&(struct publish_rule){8000, 8001, 80}, 1, 1), -1);
    assert_string_equal(err, "publish 8000-8001:80 maps 2 host ports but only 1 VM runs");
    assert_int_equal(check(&(struct publish_rule){8000, 8000, 80}, 1, 0), -1);
    assert_contains(err, "maps 1 host port but only 0 VMs run");
    const struct publish_rule later[] = {{7000, 7000, 80}, {8000, 8010, 80}};
    assert_int_equal(check(later, 2, 10), -1);
    assert_contains(err, "8000-8010:80 maps 11 host ports");
}

static void test_check_overlaps(void **state)
{
    (void)state;
    const struct publish_rule same[] = {{8080, 8080, 80}, {8080, 8080, 81}};
    assert_int_equal(check(same, 2, 10), -1);
    assert_string_equal(err, "publish 8080:80 and 8080:81 both use host port 8080");

    const struct publish_rule inside[] = {{8000, 8009, 80}, {8005, 8005, 81}};
    assert_int_equal(check(inside, 2, 10), -1);
    assert_string_equal(err, "publish 8000-8009:80 and 8005:81 both use host port 8005");

    const struct publish_rule tail[] = {{8005, 8014, 80}, {9000, 9000, 1}, {8000, 8005, 81}};
    assert_int_equal(check(tail, 3, 10), -1);
    assert_contains(err, "8005-8014:80 and 8000-8005:81 both use host port 8005");

    const struct publish_rule touching[] = {{8000, 8004, 80}, {8005, 8009, 80}};
    assert_int_equal(check(touching, 2, 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_port),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_missing_parts),
        cmocka_unit_test(test_not_numbers),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_backwards_range),
        cmocka_unit_test(test_message_names_the_spec),
        cmocka_unit_test(test_message_stays_one_short_line),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_check_accepts_fitting_rules),
        cmocka_unit_test(test_check_range_larger_than_fleet),
        cmocka_unit_test(test_check_overlaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
