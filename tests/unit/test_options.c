/* Unit tests for `denali run` command-line parsing (options_parse_run, options_parse_size). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "denali/abi.h"
#include "options.h"
#include "test_util.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static char err[512];

/* Parses a NULL-terminated argv that starts with "run". */
static enum options_result parse_argv(char **argv, struct run_options *o)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    memset(err, 0, sizeof(err));
    return options_parse_run(argc, argv, o, err, sizeof(err));
}

#define PARSE(o, ...) parse_argv((char *[]){"run", __VA_ARGS__, NULL}, (o))

/* Expects the arguments after "run" to be refused with a reason containing needle. */
#define EXPECT_ERROR(needle, ...)                                                                  \
    do {                                                                                           \
        struct run_options o_;                                                                     \
        enum options_result r_ = PARSE(&o_, __VA_ARGS__);                                          \
        assert_int_equal(r_, OPTIONS_ERROR);                                                       \
        assert_contains(err, needle);                                                              \
        assert_null(strchr(err, '\n'));                                                            \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    enum options_result res;
    struct run_options o;
    res = PARSE(&o, "guest.elf");
    assert_int_equal(res, OPTIONS_OK);
    assert_string_equal(o.image_path, "guest.elf");
    assert_int_equal(o.guest_argc, 0);
    assert_null(o.guest_argv[0]);
    assert_int_equal(o.count, 1);
    assert_int_equal(o.mem_size, OPTIONS_DEFAULT_MEM);
    assert_int_equal(o.workers, 0);
    assert_int_equal(o.console, CONSOLE_STDOUT);
    assert_null(o.console_dir);
    assert_int_equal(o.quantum_ms, OPTIONS_DEFAULT_QUANTUM_MS);
    assert_true(o.time_limit_s == 0);
    assert_false(o.stats);
    assert_false(o.progress_set);
}

static void test_short_options(void **state)
{
    (void)state;
    struct run_options o;
    enum options_result r =
        PARSE(&o, "-n", "5", "-m", "64M", "-j", "3", "-q", "20", "-t", "2.5", "img", "a", "b");
    assert_int_equal(r, OPTIONS_OK);
    assert_int_equal(o.count, 5);
    assert_int_equal(o.mem_size, 64 * MIB);
    assert_int_equal(o.workers, 3);
    assert_int_equal(o.quantum_ms, 20);
    assert_true(o.time_limit_s == 2.5);
    assert_string_equal(o.image_path, "img");
    assert_int_equal(o.guest_argc, 2);
    assert_string_equal(o.guest_argv[0], "a");
    assert_string_equal(o.guest_argv[1], "b");
}

static void test_short_options_attached(void **state)
{
    (void)state;
    enum options_result res;
    struct run_options o;
    res = PARSE(&o, "-n12", "-m8M", "-j1", "-t3", "img");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.count, 12);
    assert_int_equal(o.mem_size, 8 * MIB);
    assert_int_equal(o.workers, 1);
    assert_true(o.time_limit_s == 3);
}

static void test_long_options(void **state)
{
    (void)state;
    struct run_options o;
    enum options_result r =
        PARSE(&o, "--count", "7", "--mem", "2M", "--workers", "2", "--console", "null", "--quantum",
              "5", "--time-limit", "10", "--stats", "--progress", "img");
    assert_int_equal(r, OPTIONS_OK);
    assert_int_equal(o.count, 7);
    assert_int_equal(o.mem_size, 2 * MIB);
    assert_int_equal(o.workers, 2);
    assert_int_equal(o.console, CONSOLE_NULL);
    assert_int_equal(o.quantum_ms, 5);
    assert_true(o.time_limit_s == 10);
    assert_true(o.stats);
    assert_true(o.progress_set);
    assert_true(o.progress);
    assert_string_equal(o.image_path, "img");
    assert_int_equal(o.guest_argc, 0);
}

static void test_long_options_with_equals(void **state)
{
    (void)state;
    struct run_options o;
    enum options_result r = PARSE(&o, "--count=1000", "--mem=1G", "--console=dir:/tmp/denali-logs",
                                  "--no-progress", "img");
    assert_int_equal(r, OPTIONS_OK);
    assert_int_equal(o.count, 1000);
    assert_int_equal(o.mem_size, GIB);
    assert_int_equal(o.console, CONSOLE_DIR);
    assert_string_equal(o.console_dir, "/tmp/denali-logs");
    assert_true(o.progress_set);
    assert_false(o.progress);
}

static void test_console_modes(void **state)
{
    (void)state;
    enum options_result res;
    struct run_options o;
    res = PARSE(&o, "--console", "stdout", "img");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.console, CONSOLE_STDOUT);
    res = PARSE(&o, "--console", "dir:logs", "img");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.console, CONSOLE_DIR);
    assert_string_equal(o.console_dir, "logs");
    /* The last --console wins. */
    res = PARSE(&o, "--console", "dir:logs", "--console", "null", "img");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.console, CONSOLE_NULL);
}

static void test_limits_accepted(void **state)
{
    (void)state;
    enum options_result res;
    struct run_options o;
    res = PARSE(&o, "-n", "1000000", "-j", "256", "-m", "4G", "img");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.count, OPTIONS_MAX_COUNT);
    assert_int_equal(o.workers, OPTIONS_MAX_WORKERS);
    assert_int_equal(o.mem_size, DENALI_MEM_MAX);
    res = PARSE(&o, "-m", "2048K", "img");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.mem_size, DENALI_MEM_MIN);
    res = PARSE(&o, "-m", "4194304", "img");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.mem_size, 4 * MIB);
}

static void test_guest_arguments_look_like_options(void **state)
{
    (void)state;
    struct run_options o;
    enum options_result r = PARSE(&o, "-n", "2", "img", "-n", "5", "--help", "--bogus", "-m");
    assert_int_equal(r, OPTIONS_OK);
    assert_int_equal(o.count, 2);
    assert_string_equal(o.image_path, "img");
    assert_int_equal(o.guest_argc, 5);
    assert_string_equal(o.guest_argv[0], "-n");
    assert_string_equal(o.guest_argv[1], "5");
    assert_string_equal(o.guest_argv[2], "--help");
    assert_string_equal(o.guest_argv[3], "--bogus");
    assert_string_equal(o.guest_argv[4], "-m");
    assert_null(o.guest_argv[5]);
}

static void test_double_dash(void **state)
{
    (void)state;
    enum options_result res;
    struct run_options o;
    res = PARSE(&o, "-n", "3", "--", "-image-", "-x");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.count, 3);
    assert_string_equal(o.image_path, "-image-");
    assert_int_equal(o.guest_argc, 1);
    assert_string_equal(o.guest_argv[0], "-x");
}

static void test_parses_again(void **state)
{
    (void)state;
    enum options_result res;
    /* getopt keeps global state; a second parse must start afresh. */
    struct run_options o;
    res = PARSE(&o, "-n", "4", "img", "x");
    assert_int_equal(res, OPTIONS_OK);
    res = PARSE(&o, "-j", "2", "other");
    assert_int_equal(res, OPTIONS_OK);
    assert_int_equal(o.count, 1);
    assert_int_equal(o.workers, 2);
    assert_string_equal(o.image_path, "other");
    assert_int_equal(o.guest_argc, 0);
}

static void test_help(void **state)
{
    (void)state;
    enum options_result res;
    struct run_options o;
    res = PARSE(&o, "--help");
    assert_int_equal(res, OPTIONS_HELP);
    res = PARSE(&o, "-h");
    assert_int_equal(res, OPTIONS_HELP);
    res = PARSE(&o, "-n", "3", "--help", "img");
    assert_int_equal(res, OPTIONS_HELP);
    res = PARSE(&o, "--help", "img");
    assert_int_equal(res, OPTIONS_HELP);
    assert_contains(options_run_usage, "usage: denali run");
    const char *documented[] = {"--count",       "--mem",        "--workers", "--console",
                                "--quantum",     "--time-limit", "--stats",   "--progress",
                                "--no-progress", "--help"};
    for (size_t i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
        assert_contains(options_run_usage, documented[i]);
}

static void test_bad_count(void **state)
{
    (void)state;
    EXPECT_ERROR("--count", "-n", "0", "img");
    EXPECT_ERROR("--count", "-n", "-1", "img");
    EXPECT_ERROR("--count", "--count", "-5", "img");
    EXPECT_ERROR("--count", "-n", "1000001", "img");
    EXPECT_ERROR("--count", "-n", "99999999999999999999999", "img");
    EXPECT_ERROR("--count", "-n", "18446744073709551617", "img");
    EXPECT_ERROR("--count", "-n", "abc", "img");
    EXPECT_ERROR("--count", "-n", "5x", "img");
    EXPECT_ERROR("--count", "-n", "", "img");
    EXPECT_ERROR("--count", "-n", " 5", "img");
    EXPECT_ERROR("'garbage'", "--count=garbage", "img");
}

static void test_bad_mem(void **state)
{
    (void)state;
    EXPECT_ERROR("--mem", "-m", "3M", "img");
    EXPECT_ERROR("multiple of 2M", "-m", "3M", "img");
    EXPECT_ERROR("--mem", "-m", "1M", "img");
    EXPECT_ERROR("--mem", "-m", "0", "img");
    EXPECT_ERROR("--mem", "-m", "8G", "img");
    EXPECT_ERROR("--mem", "-m", "4098M", "img");
    EXPECT_ERROR("--mem", "-m", "garbage", "img");
    EXPECT_ERROR("cannot parse", "-m", "2X", "img");
    EXPECT_ERROR("'2X'", "--mem", "2X", "img");
    EXPECT_ERROR("--mem", "-m", "-2M", "img");
    EXPECT_ERROR("--mem", "-m", "", "img");
    EXPECT_ERROR("--mem", "-m", "99999999999999999999G", "img");
}

static void test_bad_workers(void **state)
{
    (void)state;
    EXPECT_ERROR("--workers", "-j", "0", "img");
    EXPECT_ERROR("--workers", "-j", "257", "img");
    EXPECT_ERROR("--workers", "--workers", "many", "img");
    EXPECT_ERROR("--workers", "-j", "-1", "img");
}

static void test_max_resident(void **state)
{
    (void)state;
    struct run_options o;
    assert_int_equal(PARSE(&o, "img"), OPTIONS_OK);
    assert_int_equal(o.max_resident, 0); /* what the host allows */
    assert_int_equal(PARSE(&o, "-n", "50000", "--max-resident", "12000", "img"), OPTIONS_OK);
    assert_int_equal(o.max_resident, 12000);
    assert_int_equal(PARSE(&o, "--max-resident=1", "img"), OPTIONS_OK);
    assert_int_equal(o.max_resident, 1);
    EXPECT_ERROR("--max-resident", "--max-resident", "0", "img");
    EXPECT_ERROR("--max-resident", "--max-resident", "1000001", "img");
    EXPECT_ERROR("'lots'", "--max-resident", "lots", "img");
}

static void test_bad_console(void **state)
{
    (void)state;
    EXPECT_ERROR("--console", "--console", "bogus", "img");
    EXPECT_ERROR("'bogus'", "--console", "bogus", "img");
    EXPECT_ERROR("--console", "--console", "dir:", "img");
    EXPECT_ERROR("--console", "--console", "dir", "img");
    EXPECT_ERROR("--console", "--console", "", "img");
    EXPECT_ERROR("--console", "--console", "STDOUT", "img");
}

static void test_bad_time_limit(void **state)
{
    (void)state;
    EXPECT_ERROR("--time-limit", "-t", "0", "img");
    EXPECT_ERROR("--time-limit", "-t", "-1", "img");
    EXPECT_ERROR("--time-limit", "-t", "abc", "img");
    EXPECT_ERROR("--time-limit", "-t", "5s", "img");
    EXPECT_ERROR("--time-limit", "-t", "nan", "img");
    EXPECT_ERROR("--time-limit", "-t", "inf", "img");
    EXPECT_ERROR("--time-limit", "-t", "1e7", "img");
    EXPECT_ERROR("--time-limit", "--time-limit", "", "img");
}

static void test_bad_quantum(void **state)
{
    (void)state;
    EXPECT_ERROR("--quantum", "-q", "0", "img");
    EXPECT_ERROR("--quantum", "-q", "10001", "img");
    EXPECT_ERROR("--quantum", "--quantum", "fast", "img");
}

static void test_unknown_option(void **state)
{
    (void)state;
    EXPECT_ERROR("unknown option '--bogus'", "--bogus", "img");
    EXPECT_ERROR("unknown option '-x'", "-x", "img");
    EXPECT_ERROR("unknown option", "--count-all", "img");
    /* A flag given a value it does not take. */
    EXPECT_ERROR("--stats", "--stats=yes", "img");
}

static void test_missing_value(void **state)
{
    (void)state;
    EXPECT_ERROR("needs a value", "-n");
    EXPECT_ERROR("'-n'", "-n");
    EXPECT_ERROR("needs a value", "--mem");
    EXPECT_ERROR("'--mem'", "--mem");
    EXPECT_ERROR("needs a value", "-n", "2", "--console");
    /* The option swallows the image name as its value, which is then not a count. */
    EXPECT_ERROR("--count", "-n", "img");
}

static void test_no_image(void **state)
{
    (void)state;
    enum options_result res;
    struct run_options o;
    res = parse_argv((char *[]){"run", NULL}, &o);
    assert_int_equal(res, OPTIONS_ERROR);
    assert_contains(err, "no IMAGE");
    EXPECT_ERROR("no IMAGE", "-n", "2");
    EXPECT_ERROR("no IMAGE", "--stats", "--");
}

/* --restore and `denali snapshot -o`. */
static void test_restore_and_snapshot(void **state)
{
    (void)state;
    struct run_options o;
    assert_int_equal(PARSE(&o, "-n", "3", "--restore", "s.snap"), OPTIONS_OK);
    assert_string_equal(o.restore_path, "s.snap");
    assert_int_equal(o.count, 3);
    assert_false(o.mem_set);
    EXPECT_ERROR("come from the snapshot", "--restore", "s.snap", "img");
    EXPECT_ERROR("a restore already starts clones", "--clone", "--restore", "s.snap");
    EXPECT_ERROR("is for `denali snapshot`", "-o", "f", "img");
    assert_int_equal(
        parse_argv((char *[]){"snapshot", "-o", "f", "-m", "2M", "img", "a", NULL}, &o),
        OPTIONS_OK);
    assert_string_equal(o.snapshot_out, "f");
    assert_string_equal(o.image_path, "img");
    assert_int_equal(o.guest_argc, 1);
    assert_true(o.mem_set);
    assert_int_equal(parse_argv((char *[]){"snapshot", "img", NULL}, &o), OPTIONS_ERROR);
    assert_contains(err, "-o FILE is required");
    assert_int_equal(parse_argv((char *[]){"snapshot", "-o", "f", "-n", "2", "img", NULL}, &o),
                     OPTIONS_ERROR);
    assert_contains(err, "one VM is snapshotted");
    assert_int_equal(PARSE(&o, "--clone", "img"), OPTIONS_OK);
    assert_true(o.clone);
    assert_int_equal(PARSE(&o, "--mem-limit", "64M", "img"), OPTIONS_OK);
    assert_int_equal(o.mem_limit, 64ull << 20);
    EXPECT_ERROR("--mem-limit", "--mem-limit", "100", "img");
    EXPECT_ERROR("--mem-limit", "--mem-limit", "lots", "img");
}

/* options_parse_size. */

static void expect_size(const char *text, uint64_t expected)
{
    uint64_t value = 0;
    if (options_parse_size(text, &value) != 0)
        fail_msg("'%s' was refused", text);
    assert_int_equal(value, expected);
}

static void expect_bad_size(const char *text)
{
    uint64_t value = 12345;
    if (options_parse_size(text, &value) != -1)
        fail_msg("'%s' was accepted as %llu", text ? text : "(null)", (unsigned long long)value);
    assert_int_equal(value, 12345);
}

static void test_size_plain_and_suffixes(void **state)
{
    (void)state;
    expect_size("0", 0);
    expect_size("4096", 4096);
    expect_size("64K", 64 << 10);
    expect_size("64k", 64 << 10);
    expect_size("2M", 2 * MIB);
    expect_size("2m", 2 * MIB);
    expect_size("1G", GIB);
    expect_size("1g", GIB);
    expect_size("4G", 4 * GIB);
    expect_size("18446744073709551615", UINT64_MAX);
}

static void test_size_long_suffixes(void **state)
{
    (void)state;
    expect_size("4KiB", 4 << 10);
    expect_size("4KB", 4 << 10);
    expect_size("2MB", 2 * MIB);
    expect_size("2MiB", 2 * MIB);
    expect_size("1GB", GIB);
    expect_size("1GiB", GIB);
}

static void test_size_overflow(void **state)
{
    (void)state;
    expect_bad_size("18446744073709551616");
    expect_bad_size("99999999999999999999999");
    expect_bad_size("17179869184G");
    expect_bad_size("17592186044416M");
    expect_bad_size("18014398509481984K");
    /* The largest values that still fit. */
    expect_size("17179869183G", 17179869183ull * GIB);
    expect_size("18014398509481983K", 18014398509481983ull << 10);
}

static void test_size_garbage(void **state)
{
    (void)state;
    expect_bad_size(NULL);
    expect_bad_size("");
    expect_bad_size("-1");
    expect_bad_size("-2M");
    expect_bad_size("+2M");
    expect_bad_size("abc");
    expect_bad_size("M");
    expect_bad_size("2X");
    expect_bad_size("2T");
    expect_bad_size("2Mb");
    expect_bad_size("2MiBs");
    expect_bad_size("2M ");
    expect_bad_size("2 M");
    expect_bad_size("1.5M");
    expect_bad_size("0x10");
    expect_bad_size("2KK");
}

/* Regression: strtoull skips leading blanks and then accepts a minus sign, wrapping to 2^64 - 1. */
static void test_size_leading_blank_negative(void **state)
{
    (void)state;
    expect_bad_size(" -1");
    expect_bad_size("\t-2M");
}

static void test_net_defaults(void **state)
{
    (void)state;
    struct run_options o;
    assert_int_equal(PARSE(&o, "img"), OPTIONS_OK);
    assert_int_equal(o.net, NET_USER);
    assert_null(o.tap_name);
    assert_false(o.net_immediate);
    assert_int_equal(o.publish_count, 0);
}

static void test_net_modes(void **state)
{
    (void)state;
    struct run_options o;
    assert_int_equal(PARSE(&o, "--net", "none", "img"), OPTIONS_OK);
    assert_int_equal(o.net, NET_NONE);
    assert_int_equal(PARSE(&o, "--net", "tap", "img"), OPTIONS_OK);
    assert_int_equal(o.net, NET_TAP);
    assert_null(o.tap_name);
    assert_int_equal(PARSE(&o, "--net", "tap:dn0", "--net-events", "immediate", "img"), OPTIONS_OK);
    assert_string_equal(o.tap_name, "dn0");
    assert_true(o.net_immediate);
    EXPECT_ERROR("--net: expected user, tap, tap:NAME or none", "--net", "bridge", "img");
    EXPECT_ERROR("not a valid interface name", "--net", "tap:", "img");
    EXPECT_ERROR("not a valid interface name", "--net", "tap:a/b", "img");
    EXPECT_ERROR("not a valid interface name", "--net", "tap:sixteen-chars-xy", "img");
    EXPECT_ERROR("--net-events: expected batch or immediate", "--net-events", "lazy", "img");
}

static void test_publish_rules(void **state)
{
    (void)state;
    struct run_options o;
    assert_int_equal(PARSE(&o, "-n", "10", "-p", "8000-8009:80", "--publish", "9000:22", "img"),
                     OPTIONS_OK);
    assert_int_equal(o.publish_count, 2);
    assert_int_equal(o.publish[0].host_first, 8000);
    assert_int_equal(o.publish[0].host_last, 8009);
    assert_int_equal(o.publish[0].guest_port, 80);
    assert_int_equal(o.publish[1].host_first, 9000);
    EXPECT_ERROR("only 2 VMs", "-n", "2", "-p", "8000-8009:80", "img");
    EXPECT_ERROR("--publish needs --net user", "--net", "tap", "-p", "80:80", "img");
    EXPECT_ERROR("host port", "-p", "0:80", "img");
}

static void test_disks(void **state)
{
    (void)state;
    struct run_options o;
    assert_int_equal(PARSE(&o, "guest.elf"), OPTIONS_OK);
    assert_int_equal(o.disk_count, 0);
    assert_null(o.overlay_dir);
    assert_false(o.keep_overlays);
    assert_false(o.ksm);
    assert_int_equal(PARSE(&o, "--ksm", "guest.elf"), OPTIONS_OK);
    assert_true(o.ksm);
    assert_int_equal(PARSE(&o, "--disk", "a.img,ro", "--disk", "b.img", "--disk", "c,d.img,rw",
                           "--overlay-dir", "/tmp/ov", "--keep-overlays", "guest.elf"),
                     OPTIONS_OK);
    assert_int_equal(o.disk_count, 3);
    assert_string_equal(o.disks[0].path, "a.img");
    assert_true(o.disks[0].read_only);
    assert_string_equal(o.disks[1].path, "b.img");
    assert_false(o.disks[1].read_only);
    /* Only the last comma's part is a flag: a path may hold commas if it ends with one. */
    assert_string_equal(o.disks[2].path, "c,d.img");
    assert_false(o.disks[2].read_only);
    assert_string_equal(o.overlay_dir, "/tmp/ov");
    assert_true(o.keep_overlays);
    /* Clones read a disk as VM 0 did, and write their own overlays over what it wrote. */
    assert_int_equal(PARSE(&o, "--clone", "--disk", "a.img,ro", "guest.elf"), OPTIONS_OK);
    assert_int_equal(PARSE(&o, "--clone", "--disk", "a.img", "guest.elf"), OPTIONS_OK);
    assert_int_equal(PARSE(&o, "--restore", "snap", "--disk", "a.img,ro"), OPTIONS_OK);
}

static void test_disk_errors(void **state)
{
    (void)state;
    EXPECT_ERROR("unknown flag 'rx'", "--disk", "a.img,rx", "guest.elf");
    EXPECT_ERROR("no PATH", "--disk", ",ro", "guest.elf");
    EXPECT_ERROR("no PATH", "--disk", "", "guest.elf");
    EXPECT_ERROR("needs a value", "--disk");
    EXPECT_ERROR("at most 8 disks", "--disk", "a", "--disk", "a", "--disk", "a", "--disk", "a",
                 "--disk", "a", "--disk", "a", "--disk", "a", "--disk", "a", "--disk", "a",
                 "guest.elf");
    EXPECT_ERROR("cannot be used with --restore", "--restore", "snap", "--disk", "a.img");
    EXPECT_ERROR("--overlay-dir", "--overlay-dir", "", "guest.elf");
    {
        struct run_options o;
        char *argv[] = {"snapshot", "-o", "snap", "--disk", "a.img", "guest.elf", NULL};
        assert_int_equal(parse_argv(argv, &o), OPTIONS_ERROR);
        assert_contains(err, "`denali snapshot`");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_short_options),
        cmocka_unit_test(test_short_options_attached),
        cmocka_unit_test(test_long_options),
        cmocka_unit_test(test_long_options_with_equals),
        cmocka_unit_test(test_console_modes),
        cmocka_unit_test(test_limits_accepted),
        cmocka_unit_test(test_guest_arguments_look_like_options),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_parses_again),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_count),
        cmocka_unit_test(test_bad_mem),
        cmocka_unit_test(test_bad_workers),
        cmocka_unit_test(test_bad_console),
        cmocka_unit_test(test_bad_time_limit),
        cmocka_unit_test(test_bad_quantum),
        cmocka_unit_test(test_unknown_option),
        cmocka_unit_test(test_missing_value),
        cmocka_unit_test(test_no_image),
        cmocka_unit_test(test_restore_and_snapshot),
        cmocka_unit_test(test_size_plain_and_suffixes),
        cmocka_unit_test(test_size_long_suffixes),
        cmocka_unit_test(test_size_overflow),
        cmocka_unit_test(test_size_garbage),
        cmocka_unit_test(test_size_leading_blank_negative),
        cmocka_unit_test(test_net_defaults),
        cmocka_unit_test(test_net_modes),
        cmocka_unit_test(test_publish_rules),
        cmocka_unit_test(test_max_resident),
        cmocka_unit_test(test_disks),
        cmocka_unit_test(test_disk_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
