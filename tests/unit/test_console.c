/* Unit tests for the guest console: prefixed stdout lines, per-VM log files, and discarding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/console.h"
#include "denali/abi.h"
#include "test_util.h"

/* stdout redirected into a temporary file; no assertion may run while it is active. */
struct capture {
    int saved;
    char path[64];
};

static int capture_start(struct capture *c)
{
    fflush(stdout);
    snprintf(c->path, sizeof(c->path), "/tmp/denali-console-test-XXXXXX");
    int fd = mkstemp(c->path);
    if (fd < 0)
        return -1;
    c->saved = dup(STDOUT_FILENO);
    if (c->saved < 0 || dup2(fd, STDOUT_FILENO) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Restores stdout and returns what was written to it (malloc'd, NUL-terminated). */
static char *capture_stop(struct capture *c, size_t *length)
{
    fflush(stdout);
    dup2(c->saved, STDOUT_FILENO);
    close(c->saved);
    char *text = test_read_file(c->path, length);
    unlink(c->path);
    return text;
}

struct ctx {
    struct console console;
    struct console_line *line;
    struct console_line *other_line;
    char dir[64];
    struct capture capture;
};

static int setup_mode(void **state, enum console_mode mode)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    snprintf(c->dir, sizeof(c->dir), "/tmp/denali-console-test-XXXXXX");
    char err[256];
    if (!mkdtemp(c->dir) || console_init(&c->console, mode, c->dir, err, sizeof(err)) != 0)
        return -1;
    *state = c;
    return 0;
}

static int setup_stdout(void **state)
{
    return setup_mode(state, CONSOLE_STDOUT);
}

static int setup_dir(void **state)
{
    return setup_mode(state, CONSOLE_DIR);
}

static int setup_null(void **state)
{
    return setup_mode(state, CONSOLE_NULL);
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    free(c->line);
    free(c->other_line);
    console_destroy(&c->console);
    test_remove_dir(c->dir);
    free(c);
    return 0;
}

static void write_str(struct ctx *c, uint32_t vm, const char *s)
{
    console_write(&c->console, vm, vm == 3 ? &c->line : &c->other_line, s, strlen(s));
}

/* Starts capturing stdout, failing the test if that cannot be done. */
static void begin(struct ctx *c)
{
    int rc = capture_start(&c->capture);
    assert_int_equal(rc, 0);
}

/* Stops capturing and checks what was written. */
static void end_expect(struct ctx *c, const char *expected)
{
    size_t length = 0;
    char *text = capture_stop(&c->capture, &length);
    assert_non_null(text);
    assert_int_equal(length, strlen(expected));
    assert_string_equal(text, expected);
    free(text);
}

static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memset(s, ch, n);
        s[n] = '\0';
    }
    return s;
}

/* stdout mode. */

static void test_whole_line(void **state)
{
    struct ctx *c = *state;
    begin(c);
    write_str(c, 3, "hello\n");
    end_expect(c, "[vm 3] hello\n");
}

static void test_several_lines_in_one_write(void **state)
{
    struct ctx *c = *state;
    begin(c);
    write_str(c, 3, "one\ntwo\n\nthree\n");
    end_expect(c, "[vm 3] one\n[vm 3] two\n[vm 3] \n[vm 3] three\n");
}

static void test_partial_writes_joined(void **state)
{
    struct ctx *c = *state;
    begin(c);
    write_str(c, 3, "hel");
    write_str(c, 3, "lo wor");
    end_expect(c, "");
    begin(c);
    write_str(c, 3, "ld\n");
    end_expect(c, "[vm 3] hello world\n");
}

static void test_partial_then_several_lines(void **state)
{
    struct ctx *c = *state;
    begin(c);
    write_str(c, 3, "ab");
    write_str(c, 3, "c\nde\nf");
    end_expect(c, "[vm 3] abc\n[vm 3] de\n");
    begin(c);
    write_str(c, 3, "g\n");
    end_expect(c, "[vm 3] fg\n");
}

static void test_flush_emits_unfinished_line(void **state)
{
    struct ctx *c = *state;
    begin(c);
    write_str(c, 3, "done\nno newline");
    console_flush(&c->console, 3, &c->line);
    end_expect(c, "[vm 3] done\n[vm 3] no newline\n");
    assert_null(c->line);
    /* Nothing pending: nothing emitted. */
    begin(c);
    console_flush(&c->console, 3, &c->line);
    write_str(c, 3, "x\n");
    console_flush(&c->console, 3, &c->line);
    end_expect(c, "[vm 3] x\n");
    assert_null(c->line);
}

static void test_vms_keep_separate_lines(void **state)
{
    struct ctx *c = *state;
    begin(c);
    write_str(c, 3, "abc");
    write_str(c, 12, "xyz\n");
    write_str(c, 12, "partial");
    write_str(c, 3, "def\n");
    console_flush(&c->console, 12, &c->other_line);
    end_expect(c, "[vm 12] xyz\n[vm 3] abcdef\n[vm 12] partial\n");
}

static void test_empty_write(void **state)
{
    struct ctx *c = *state;
    begin(c);
    console_write(&c->console, 3, &c->line, "ignored", 0);
    console_flush(&c->console, 3, &c->line);
    end_expect(c, "");
}

static void test_long_line_broken(void **state)
{
    struct ctx *c = *state;
    char *chunk = repeat('a', 500);
    char *first = repeat('a', CONSOLE_LINE_MAX);
    char *rest = repeat('a', 3 * 500 - CONSOLE_LINE_MAX);
    char *expected = malloc(2 * CONSOLE_LINE_MAX + 64);
    assert_non_null(chunk);
    assert_non_null(first);
    assert_non_null(rest);
    assert_non_null(expected);
    snprintf(expected, 2 * CONSOLE_LINE_MAX + 64, "[vm 3] %s\n[vm 3] %s\n", first, rest);
    begin(c);
    write_str(c, 3, chunk);
    write_str(c, 3, chunk);
    write_str(c, 3, chunk);
    write_str(c, 3, "\n");
    end_expect(c, expected);
    free(chunk);
    free(first);
    free(rest);
    free(expected);
}

static void test_long_line_then_more_lines(void **state)
{
    struct ctx *c = *state;
    /* A pending piece, then one write that overflows the line and starts another. */
    char *body = repeat('b', CONSOLE_LINE_MAX);
    char *write = malloc(CONSOLE_LINE_MAX + 16);
    char *expected = malloc(2 * CONSOLE_LINE_MAX + 64);
    assert_non_null(body);
    assert_non_null(write);
    assert_non_null(expected);
    snprintf(write, CONSOLE_LINE_MAX + 16, "%s\nnext\n", body);
    body[CONSOLE_LINE_MAX - 1] = '\0';
    snprintf(expected, 2 * CONSOLE_LINE_MAX + 64, "[vm 3] x%s\n[vm 3] b\n[vm 3] next\n", body);
    begin(c);
    write_str(c, 3, "x");
    write_str(c, 3, write);
    end_expect(c, expected);
    free(body);
    free(write);
    free(expected);
}

/*
 * Checks that text is only whole "[vm ID] ..." lines whose bodies, joined, are n copies of ch.
 * Where a long line is broken is not checked here.
 */
static void assert_lines_of(const char *text, size_t length, uint32_t vm_id, char ch, size_t n)
{
    char prefix[32];
    size_t prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "[vm %u] ", vm_id);
    size_t seen = 0, pos = 0;
    while (pos < length) {
        assert_true(length - pos >= prefix_len);
        assert_memory_equal(text + pos, prefix, prefix_len);
        pos += prefix_len;
        while (pos < length && text[pos] == ch) {
            pos++;
            seen++;
        }
        assert_true(pos < length);
        assert_int_equal(text[pos], '\n');
        pos++;
    }
    assert_int_equal(seen, n);
}

/* Writes n copies of 'd' and a newline in one console write; checks every byte comes out. */
static void check_line_in_one_write(struct ctx *c, uint32_t vm_id, size_t n)
{
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    memset(buf, 'd', n);
    buf[n] = '\n';
    struct console_line *line = NULL;
    begin(c);
    console_write(&c->console, vm_id, &line, buf, n + 1);
    console_flush(&c->console, vm_id, &line);
    size_t length = 0;
    char *text = capture_stop(&c->capture, &length);
    assert_non_null(text);
    assert_lines_of(text, length, vm_id, 'd', n);
    assert_null(line);
    free(text);
    free(buf);
}

/* Lines around the line buffer's size, each arriving whole in one write. */
static void test_long_line_in_one_write(void **state)
{
    struct ctx *c = *state;
    check_line_in_one_write(c, 3, CONSOLE_LINE_MAX - 1);
    check_line_in_one_write(c, 3, CONSOLE_LINE_MAX);
    check_line_in_one_write(c, 3, CONSOLE_LINE_MAX + 1);
    check_line_in_one_write(c, UINT32_MAX, CONSOLE_LINE_MAX);
}

/*
 * Known bug (guest-triggerable): a line longer than about CONSOLE_LINE_MAX that arrives whole in
 * one console write overflows emit_line's stack buffer; the longest a guest can send is
 * DENALI_CONSOLE_MAX - 1 bytes and a newline.
 */
static void test_longest_line_in_one_write(void **state)
{
    struct ctx *c = *state;
    check_line_in_one_write(c, 3, CONSOLE_LINE_MAX + 100);
    check_line_in_one_write(c, 3, 1500);
    check_line_in_one_write(c, UINT32_MAX, DENALI_CONSOLE_MAX - 1);
}

/*
 * Regression: a line that exactly fills the buffer is emitted as soon as it is full, so the newline
 * that follows in a later write comes out as an extra empty line.
 */
static void test_line_of_exactly_max_then_newline(void **state)
{
    struct ctx *c = *state;
    char *body = repeat('c', CONSOLE_LINE_MAX);
    char *expected = malloc(CONSOLE_LINE_MAX + 32);
    assert_non_null(body);
    assert_non_null(expected);
    snprintf(expected, CONSOLE_LINE_MAX + 32, "[vm 3] %s\n", body);
    begin(c);
    write_str(c, 3, body);
    write_str(c, 3, "\n");
    end_expect(c, expected);
    free(body);
    free(expected);
}

/*
 * Regression: a long line that arrives whole in one write skips the line buffer and is emitted
 * unbroken, unlike the same line written in pieces.
 */
static void test_long_line_in_one_write_broken(void **state)
{
    struct ctx *c = *state;
    char *line = repeat('d', 1500);
    char *first = repeat('d', CONSOLE_LINE_MAX);
    char *rest = repeat('d', 1500 - CONSOLE_LINE_MAX);
    char *expected = malloc(2 * CONSOLE_LINE_MAX + 64);
    assert_non_null(line);
    assert_non_null(first);
    assert_non_null(rest);
    assert_non_null(expected);
    snprintf(expected, 2 * CONSOLE_LINE_MAX + 64, "[vm 3] %s\n[vm 3] %s\n", first, rest);
    char *with_newline = malloc(1502);
    assert_non_null(with_newline);
    snprintf(with_newline, 1502, "%s\n", line);
    begin(c);
    write_str(c, 3, with_newline);
    end_expect(c, expected);
    free(line);
    free(first);
    free(rest);
    free(expected);
    free(with_newline);
}

/* dir mode. */

static void expect_file(struct ctx *c, uint32_t vm, const char *expected, size_t expected_length)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/vm-%u.log", c->dir, vm);
    size_t length = 0;
    char *text = test_read_file(path, &length);
    assert_non_null(text);
    assert_int_equal(length, expected_length);
    assert_memory_equal(text, expected, expected_length);
    free(text);
}

static void test_dir_raw_bytes(void **state)
{
    struct ctx *c = *state;
    begin(c);
    write_str(c, 3, "abc");
    write_str(c, 3, "def\nghi");
    console_write(&c->console, 3, &c->line, "\0bin\n", 5);
    console_flush(&c->console, 3, &c->line);
    end_expect(c, ""); /* nothing on stdout */
    expect_file(c, 3, "abcdef\nghi\0bin\n", 15);
    assert_null(c->line);
}

static void test_dir_one_file_per_vm(void **state)
{
    struct ctx *c = *state;
    int rc;
    write_str(c, 3, "three\n");
    write_str(c, 12, "twelve");
    write_str(c, 3, "again\n");
    expect_file(c, 3, "three\nagain\n", 12);
    expect_file(c, 12, "twelve", 6);
    char path[128];
    snprintf(path, sizeof(path), "%s/vm-4.log", c->dir);
    struct stat st;
    rc = stat(path, &st);
    assert_int_equal(rc, -1);
}

static void test_dir_long_write(void **state)
{
    struct ctx *c = *state;
    char *big = repeat('z', 3 * CONSOLE_LINE_MAX);
    assert_non_null(big);
    write_str(c, 3, big);
    expect_file(c, 3, big, 3 * CONSOLE_LINE_MAX);
    free(big);
}

static void test_dir_init_creates_directory(void **state)
{
    struct ctx *c = *state;
    int rc;
    char sub[128];
    snprintf(sub, sizeof(sub), "%s/logs", c->dir);
    struct console console;
    char err[256] = "";
    rc = console_init(&console, CONSOLE_DIR, sub, err, sizeof(err));
    assert_int_equal(rc, 0);
    struct console_line *line = NULL;
    console_write(&console, 9, &line, "hi", 2);
    console_destroy(&console);
    char path[160];
    snprintf(path, sizeof(path), "%s/vm-9.log", sub);
    size_t length = 0;
    char *text = test_read_file(path, &length);
    assert_non_null(text);
    assert_string_equal(text, "hi");
    free(text);
    unlink(path);
    rmdir(sub);
}

static void test_dir_init_errors(void **state)
{
    struct ctx *c = *state;
    int rc;
    struct console console;
    char err[256] = "";
    /* A path under a missing directory. */
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/no/such", c->dir);
    rc = console_init(&console, CONSOLE_DIR, missing, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_contains(err, missing);
    console_destroy(&console);
    /* A plain file where the directory should be. */
    char file[128];
    snprintf(file, sizeof(file), "%s/plain", c->dir);
    int fd = open(file, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    err[0] = '\0';
    rc = console_init(&console, CONSOLE_DIR, file, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_contains(err, "not a writable directory");
    console_destroy(&console);
}

/* null mode. */

static void test_null_writes_nothing(void **state)
{
    struct ctx *c = *state;
    int rc;
    begin(c);
    write_str(c, 3, "line\npartial");
    console_flush(&c->console, 3, &c->line);
    end_expect(c, "");
    assert_null(c->line);
    char path[128];
    snprintf(path, sizeof(path), "%s/vm-3.log", c->dir);
    struct stat st;
    rc = stat(path, &st);
    assert_int_equal(rc, -1);
}

#define TEST_STDOUT(f) cmocka_unit_test_setup_teardown(f, setup_stdout, teardown)
#define TEST_DIR(f)    cmocka_unit_test_setup_teardown(f, setup_dir, teardown)
#define TEST_NULL(f)   cmocka_unit_test_setup_teardown(f, setup_null, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST_STDOUT(test_whole_line),
        TEST_STDOUT(test_several_lines_in_one_write),
        TEST_STDOUT(test_partial_writes_joined),
        TEST_STDOUT(test_partial_then_several_lines),
        TEST_STDOUT(test_flush_emits_unfinished_line),
        TEST_STDOUT(test_vms_keep_separate_lines),
        TEST_STDOUT(test_empty_write),
        TEST_STDOUT(test_long_line_broken),
        TEST_STDOUT(test_long_line_then_more_lines),
        TEST_STDOUT(test_long_line_in_one_write),
        TEST_DIR(test_dir_raw_bytes),
        TEST_DIR(test_dir_one_file_per_vm),
        TEST_DIR(test_dir_long_write),
        TEST_DIR(test_dir_init_creates_directory),
        TEST_DIR(test_dir_init_errors),
        TEST_NULL(test_null_writes_nothing),
        TEST_STDOUT(test_longest_line_in_one_write),
        TEST_STDOUT(test_line_of_exactly_max_then_newline),
        TEST_STDOUT(test_long_line_in_one_write_broken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
