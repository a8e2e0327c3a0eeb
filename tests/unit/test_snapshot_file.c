/* Unit tests for the snapshot file: round trips, the documented layout, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "denali/abi.h"
#include "image/snapshot_file.h"
#include "test_util.h"

#define PAGE ((uint64_t)DENALI_PAGE_SIZE)
#define MiB  (1ull << 20)

/*
 * The layout as docs/SNAPSHOT_FORMAT.md states it, written out again here rather than taken from
 * the module, so that a change to the file's bytes fails these tests instead of following along.
 */
#define HDR_LEN           8272u
#define OFF_VERSION       8u
#define OFF_HEADER_LEN    12u
#define OFF_PLATFORM      16u
#define OFF_ABI_VERSION   20u
#define OFF_MEM_SIZE      24u
#define OFF_IMAGE_SIZE    32u
#define OFF_IMAGE_HASH    40u
#define OFF_PAGE_COUNT    48u
#define OFF_CPU_STATE_LEN 56u
#define OFF_RESERVED      60u
#define OFF_IMAGE_PATH    64u
#define OFF_CPU_STATE     4160u
#define OFF_INDEX_HASH    8256u
#define OFF_HEADER_HASH   8264u
#define ENTRY_LEN         16u

struct ctx {
    char dir[64];
    char path[128];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    snprintf(c->dir, sizeof(c->dir), "/tmp/denali-snapshot-test-XXXXXX");
    if (!mkdtemp(c->dir)) {
        free(c);
        return -1;
    }
    snprintf(c->path, sizeof(c->path), "%s/snap.bin", c->dir);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    chmod(c->dir, 0700);
    test_remove_dir(c->dir);
    free(c);
    return 0;
}

/* ---- helpers ---- */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void set_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void set_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void make_meta(struct snapshot_meta *m, uint64_t mem_size)
{
    memset(m, 0, sizeof(*m));
    m->platform = 2;
    m->abi_version = DENALI_ABI_VERSION;
    m->mem_size = mem_size;
    m->image_size = 123457;
    m->image_hash = snapshot_hash("the image", 9);
    snprintf(m->image_path, sizeof(m->image_path), "/opt/denali/guests/hello.elf");
    m->cpu_state_len = 300;
    for (unsigned i = 0; i < m->cpu_state_len; i++)
        m->cpu_state[i] = (uint8_t)(i * 31 + 7);
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint8_t *alloc_ram(uint64_t mem_size)
{
    uint8_t *ram = aligned_alloc(PAGE, mem_size);
    assert_non_null(ram);
    memset(ram, 0, mem_size);
    return ram;
}

/*
 * Random bytes with every third page zero, and pages whose only non-zero byte is their first or
 * their last (a zero scan that stops short would drop them). Returns the non-zero page count.
 */
static uint64_t fill_ram(uint8_t *ram, uint64_t mem_size, uint64_t seed)
{
    uint64_t pages = mem_size / PAGE, stored = 0;
    for (uint64_t p = 0; p < pages; p++) {
        uint8_t *page = ram + p * PAGE;
        memset(page, 0, PAGE);
        if (p % 3 == 1)
            continue;
        stored++;
        if (p % 7 == 5)
            page[0] = 0x5a;
        else if (p % 7 == 6)
            page[PAGE - 1] = 0xa5;
        else
            for (uint64_t i = 0; i < PAGE; i += 8) {
                uint64_t r = next_random(&seed);
                memcpy(page + i, &r, 8);
            }
    }
    return stored;
}

/* Zero RAM except the listed pages. */
static uint8_t *sparse_ram(uint64_t mem_size, const uint64_t *pages, unsigned n)
{
    uint8_t *ram = alloc_ram(mem_size);
    for (unsigned i = 0; i < n; i++)
        memset(ram + pages[i] * PAGE, (int)(0x11 * (i + 1)), PAGE);
    return ram;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static uint8_t *load(const char *path, size_t *len)
{
    uint8_t *buf = (uint8_t *)test_read_file(path, len);
    assert_non_null(buf);
    return buf;
}

static void store(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* After an edit: the checksums made right again, so only the edited field is wrong. */
static void reseal(uint8_t *buf, size_t len)
{
    uint64_t count = le64(buf + OFF_PAGE_COUNT);
    uint64_t index_len = count * ENTRY_LEN;
    if (count <= (len - HDR_LEN) / ENTRY_LEN)
        set_le64(buf + OFF_INDEX_HASH, snapshot_hash(buf + HDR_LEN, (size_t)index_len));
    set_le64(buf + OFF_HEADER_HASH, snapshot_hash(buf, OFF_HEADER_HASH));
}

/* Counted, not the lowest free number: a leak can hide behind a lower descriptor closed. */
static unsigned open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static unsigned dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void expect_one_line(const char *err)
{
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
}

/* Expects path refused for a reason containing needle, with no descriptor left behind. */
static void expect_refused(const char *path, const char *needle)
{
    struct snapshot_meta meta;
    memset(&meta, 0xee, sizeof(meta));
    char err[512] = "";
    unsigned before = open_fds();
    int rc = snapshot_read(path, &meta, err, sizeof(err));
    if (rc >= 0)
        fail_msg("%s was accepted, expected a refusal containing \"%s\"", path, needle);
    assert_int_equal(rc, -1);
    assert_contains(err, needle);
    expect_one_line(err);
    assert_int_equal(open_fds(), before);
    /* The caller's meta is left alone, not half filled. */
    assert_int_equal(meta.mem_size, 0xeeeeeeeeeeeeeeeeull);
}

/* Writes buf as the snapshot file and expects it refused. */
static void expect_bytes_refused(const char *path, const uint8_t *buf, size_t len,
                                 const char *needle)
{
    store(path, buf, len);
    expect_refused(path, needle);
}

static int read_ok(const char *path, struct snapshot_meta *meta)
{
    char err[512] = "";
    int fd = snapshot_read(path, meta, err, sizeof(err));
    if (fd < 0)
        fail_msg("snapshot_read refused %s: %s", path, err);
    return fd;
}

static void write_ok(const char *path, const struct snapshot_meta *meta, const uint8_t *ram)
{
    char err[512] = "";
    if (snapshot_write(path, meta, ram, err, sizeof(err)) != 0)
        fail_msg("snapshot_write failed: %s", err);
}

/* The memfd holds exactly mem_size bytes, equal to ram. */
static void expect_memfd(int fd, const uint8_t *ram, uint64_t mem_size)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((uint64_t)st.st_size, mem_size);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    uint8_t *buf = malloc(MiB);
    assert_non_null(buf);
    for (uint64_t off = 0; off < mem_size; off += MiB) {
        uint64_t n = mem_size - off < MiB ? mem_size - off : MiB;
        assert_int_equal(pread(fd, buf, n, (off_t)off), (ssize_t)n);
        if (memcmp(buf, ram + off, n) != 0)
            for (uint64_t i = 0; i < n; i++)
                if (buf[i] != ram[off + i])
                    fail_msg("memfd byte 0x%llx is 0x%02x, RAM had 0x%02x",
                             (unsigned long long)(off + i), buf[i], ram[off + i]);
    }
    free(buf);
}

static void expect_meta_equal(const struct snapshot_meta *a, const struct snapshot_meta *b)
{
    assert_int_equal(a->platform, b->platform);
    assert_int_equal(a->abi_version, b->abi_version);
    assert_int_equal(a->mem_size, b->mem_size);
    assert_int_equal(a->image_size, b->image_size);
    assert_int_equal(a->image_hash, b->image_hash);
    assert_string_equal(a->image_path, b->image_path);
    assert_int_equal(a->cpu_state_len, b->cpu_state_len);
    assert_memory_equal(a->cpu_state, b->cpu_state, a->cpu_state_len);
    /* Zero past the path's NUL and the state's length, as the reader promises. */
    assert_memory_equal(a, b, sizeof(*a));
}

/* A small valid snapshot of 2 MiB RAM with three stored pages, as bytes. */
static uint8_t *small_snapshot(const char *path, size_t *len)
{
    static const uint64_t pages[] = {0, 7, 8};
    struct snapshot_meta meta;
    make_meta(&meta, 2 * MiB);
    uint8_t *ram = sparse_ram(2 * MiB, pages, 3);
    write_ok(path, &meta, ram);
    free(ram);
    uint8_t *buf = load(path, len);
    assert_int_equal(*len, HDR_LEN + 3 * (ENTRY_LEN + PAGE));
    return buf;
}

/* ---- the hash ---- */

static void test_hash_vectors(void **state)
{
    (void)state;
    /* Pinned: the hash is part of the format, and docs/SNAPSHOT_FORMAT.md lists these. */
    assert_int_equal(snapshot_hash("", 0), 0x059cad58ad5831ccull);
    assert_int_equal(snapshot_hash("a", 1), 0xbb6c78f4e3b87242ull);
    assert_int_equal(snapshot_hash("DENALISN", 8), 0x016dccf1cb4452e3ull);
    static const char text[] = "The Denali isolation kernel hosts many tiny VMs.";
    assert_int_equal(snapshot_hash(text, sizeof(text) - 1), 0x0bc65218ed86239aull);
    uint8_t zero[4096] = {0};
    assert_int_equal(snapshot_hash(zero, sizeof(zero)), 0x2e5e8ceba0cef988ull);
}

static void test_hash_sees_every_bit_and_the_length(void **state)
{
    (void)state;
    uint8_t buf[80];
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 13 + 1);
    for (size_t len = 1; len <= sizeof(buf); len++) {
        uint64_t h = snapshot_hash(buf, len);
        for (size_t bit = 0; bit < len * 8; bit++) {
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            if (snapshot_hash(buf, len) == h)
                fail_msg("flipping bit %zu of %zu bytes leaves the hash", bit, len);
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
    /* Trailing zero bytes count. */
    uint8_t zero[64] = {0};
    for (size_t a = 0; a < sizeof(zero); a++)
        for (size_t b = a + 1; b <= sizeof(zero); b++)
            assert_int_not_equal(snapshot_hash(zero, a), snapshot_hash(zero, b));
    /* Unaligned input hashes as aligned input does. */
    uint8_t shifted[81];
    memcpy(shifted + 1, buf, sizeof(buf));
    assert_int_equal(snapshot_hash(shifted + 1, sizeof(buf)), snapshot_hash(buf, sizeof(buf)));
}

/* ---- round trips ---- */

static void round_trip(struct ctx *c, uint64_t mem_size, uint64_t seed)
{
    struct snapshot_meta meta, back;
    make_meta(&meta, mem_size);
    uint8_t *ram = alloc_ram(mem_size);
    uint64_t stored = fill_ram(ram, mem_size, seed);
    write_ok(c->path, &meta, ram);
    assert_int_equal(file_size(c->path), HDR_LEN + stored * (ENTRY_LEN + PAGE));
    int fd = read_ok(c->path, &back);
    expect_meta_equal(&back, &meta);
    expect_memfd(fd, ram, mem_size);
    close(fd);
    free(ram);
}

static void test_round_trip(void **state)
{
    struct ctx *c = *state;
    round_trip(c, 2 * MiB, 0x1234567887654321ull);
    round_trip(c, 6 * MiB, 0x0badc0ffee0ddf00ull);
    /* Guest RAM may hold secrets. */
    struct stat st;
    assert_int_equal(stat(c->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Overwritten in place of the old one, and no temporary file left over. */
    assert_int_equal(dir_entries(c->dir), 1);
}

static void test_round_trip_limits(void **state)
{
    struct ctx *c = *state;
    struct snapshot_meta meta, back;
    make_meta(&meta, 2 * MiB);
    /* The longest path and the largest state; stale bytes past them must not reach the file. */
    memset(meta.image_path, 'p', sizeof(meta.image_path) - 1);
    meta.image_path[0] = '/';
    meta.cpu_state_len = SNAPSHOT_CPU_STATE_MAX;
    memset(meta.cpu_state, 0xc5, SNAPSHOT_CPU_STATE_MAX);
    uint8_t *ram = alloc_ram(2 * MiB);
    memset(ram, 0xff, 2 * MiB);
    write_ok(c->path, &meta, ram);
    assert_int_equal(file_size(c->path), HDR_LEN + 512 * (ENTRY_LEN + PAGE));
    int fd = read_ok(c->path, &back);
    expect_meta_equal(&back, &meta);
    expect_memfd(fd, ram, 2 * MiB);
    close(fd);

    /* Short fields over stale bytes: read back zero-padded. */
    make_meta(&meta, 2 * MiB);
    memset(meta.image_path + strlen(meta.image_path) + 1, 'x', 100);
    memset(meta.cpu_state + meta.cpu_state_len, 0x77, 100);
    memset(ram, 0, 2 * MiB);
    write_ok(c->path, &meta, ram);
    assert_int_equal(file_size(c->path), HDR_LEN);
    fd = read_ok(c->path, &back);
    expect_memfd(fd, ram, 2 * MiB);
    close(fd);
    memset(meta.image_path + strlen(meta.image_path) + 1, 0, 100);
    memset(meta.cpu_state + meta.cpu_state_len, 0, 100);
    expect_meta_equal(&back, &meta);
    free(ram);
}

static void test_only_non_zero_pages_stored(void **state)
{
    struct ctx *c = *state;
    static const uint64_t pages[] = {3, 4, 100, 2047, 4095};
    uint64_t mem_size = 16 * MiB;
    struct snapshot_meta meta, back;
    make_meta(&meta, mem_size);
    uint8_t *ram = sparse_ram(mem_size, pages, 5);
    write_ok(c->path, &meta, ram);
    uint64_t size = file_size(c->path);
    assert_int_equal(size, HDR_LEN + 5 * (ENTRY_LEN + PAGE));
    assert_true(size < mem_size / 100);
    int fd = read_ok(c->path, &back);
    expect_memfd(fd, ram, mem_size);
    close(fd);
    free(ram);
}

/* The bytes where docs/SNAPSHOT_FORMAT.md says they are. */
static void test_documented_layout(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    struct snapshot_meta meta;
    make_meta(&meta, 2 * MiB);
    assert_memory_equal(b, "DENALISN", 8);
    assert_int_equal(le32(b + OFF_VERSION), 1);
    assert_int_equal(le32(b + OFF_HEADER_LEN), HDR_LEN);
    assert_int_equal(le32(b + OFF_PLATFORM), meta.platform);
    assert_int_equal(le32(b + OFF_ABI_VERSION), DENALI_ABI_VERSION);
    assert_int_equal(le64(b + OFF_MEM_SIZE), 2 * MiB);
    assert_int_equal(le64(b + OFF_IMAGE_SIZE), meta.image_size);
    assert_int_equal(le64(b + OFF_IMAGE_HASH), meta.image_hash);
    assert_int_equal(le64(b + OFF_PAGE_COUNT), 3);
    assert_int_equal(le32(b + OFF_CPU_STATE_LEN), meta.cpu_state_len);
    assert_int_equal(le32(b + OFF_RESERVED), 0);
    assert_string_equal((const char *)b + OFF_IMAGE_PATH, meta.image_path);
    assert_memory_equal(b + OFF_CPU_STATE, meta.cpu_state, meta.cpu_state_len);
    assert_int_equal(le64(b + OFF_INDEX_HASH), snapshot_hash(b + HDR_LEN, 3 * ENTRY_LEN));
    assert_int_equal(le64(b + OFF_HEADER_HASH), snapshot_hash(b, OFF_HEADER_HASH));
    static const uint64_t pages[] = {0, 7, 8};
    for (unsigned i = 0; i < 3; i++) {
        const uint8_t *e = b + HDR_LEN + i * ENTRY_LEN;
        const uint8_t *data = b + HDR_LEN + 3 * ENTRY_LEN + i * PAGE;
        assert_int_equal(le64(e), pages[i]);
        assert_int_equal(le64(e + 8), snapshot_hash(data, PAGE));
        assert_int_equal(data[0], 0x11 * (i + 1));
        assert_int_equal(data[PAGE - 1], 0x11 * (i + 1));
    }
    free(b);
}

/* ---- refusals ---- */

static void test_bad_magic(void **state)
{
    struct ctx *c = *state;
    /* An ELF file: this test's own binary. */
    expect_refused("/proc/self/exe", "not a Denali snapshot (bad magic)");
    static const char text[] = "hello, world\n";
    expect_bytes_refused(c->path, (const uint8_t *)text, sizeof(text) - 1,
                         "snap.bin: not a Denali snapshot (bad magic)");
    uint8_t *zero = calloc(1, 3 * HDR_LEN);
    assert_non_null(zero);
    expect_bytes_refused(c->path, zero, 3 * HDR_LEN, "bad magic");
    /* A short file that is not a prefix of the magic either. */
    expect_bytes_refused(c->path, (const uint8_t *)"DENX", 4, "bad magic");
    free(zero);
    expect_bytes_refused(c->path, (const uint8_t *)"", 0, "empty file, not a Denali snapshot");
}

static void test_wrong_version(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    /* Refused before the checksum, which another version may compute differently. */
    set_le32(b + OFF_VERSION, 7);
    expect_bytes_refused(c->path, b, len, "snap.bin: format version 7, this denali reads 1");
    set_le32(b + OFF_VERSION, 0);
    expect_bytes_refused(c->path, b, len, "format version 0, this denali reads 1");
    set_le32(b + OFF_VERSION, 2);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "format version 2, this denali reads 1");
    /* Only the first 12 bytes of another version's file are needed to say so. */
    expect_bytes_refused(c->path, b, 12, "format version 2");
    set_le32(b + OFF_VERSION, 1);
    set_le32(b + OFF_HEADER_LEN, HDR_LEN + 8);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "header length 8280, format version 1 has 8272");
    free(b);
}

static void test_truncated_everywhere(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    free(b);
    int fd = open(c->path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char needle[64];
    /* Every length, shortest last: each prefix of a good file is a truncated one. */
    for (size_t n = len - 1; n > 0; n--) {
        assert_int_equal(ftruncate(fd, (off_t)n), 0);
        snprintf(needle, sizeof(needle), "truncated at byte %zu in the %s", n,
                 n < HDR_LEN                           ? "header"
                 : n < HDR_LEN + 3 * (size_t)ENTRY_LEN ? "page index"
                                                       : "page data");
        expect_refused(c->path, needle);
    }
    assert_int_equal(ftruncate(fd, 0), 0);
    close(fd);
    expect_refused(c->path, "empty file");
}

static void test_flipped_byte_everywhere(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    int fd = open(c->path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    size_t data_off = HDR_LEN + 3 * (size_t)ENTRY_LEN;
    for (size_t pos = 0; pos < len; pos++) {
        /* A different bit at each position, so every bit of every byte is tried somewhere. */
        uint8_t flipped = (uint8_t)(b[pos] ^ (1u << (pos % 8)));
        assert_int_equal(pwrite(fd, &flipped, 1, (off_t)pos), 1);
        const char *why = pos < 8                ? "bad magic"
                          : pos < OFF_HEADER_LEN ? "format version"
                          : pos < OFF_PLATFORM   ? "header length"
                          : pos < HDR_LEN        ? "checksum mismatch in the header"
                          : pos < data_off       ? "checksum mismatch in the page index"
                                                 : "checksum mismatch in page data";
        expect_refused(c->path, why);
        assert_int_equal(pwrite(fd, b + pos, 1, (off_t)pos), 1);
    }
    close(fd);
    /* And the original is still good, so each refusal above was the flip's doing. */
    struct snapshot_meta meta;
    close(read_ok(c->path, &meta));
    /* The page's number and where it lies in the file, for finding it with a hex editor. */
    b[data_off + PAGE + 5] ^= 0x40;
    expect_bytes_refused(c->path, b, len, "checksum mismatch in page data (page 7, at byte 12416)");
    free(b);
}

static void test_trailing_garbage(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    uint8_t *longer = calloc(1, len + PAGE);
    assert_non_null(longer);
    memcpy(longer, b, len);
    expect_bytes_refused(c->path, longer, len + 1, "1 trailing bytes after the page data");
    expect_bytes_refused(c->path, longer, len + PAGE, "4096 trailing bytes");
    /* An all-zero RAM's snapshot is all header: trailing bytes after it are refused too. */
    struct snapshot_meta meta;
    make_meta(&meta, 2 * MiB);
    uint8_t *ram = alloc_ram(2 * MiB);
    write_ok(c->path, &meta, ram);
    free(b);
    b = load(c->path, &len);
    assert_int_equal(len, HDR_LEN);
    memcpy(longer, b, len);
    expect_bytes_refused(c->path, longer, len + 8, "8 trailing bytes");
    free(ram);
    free(longer);
    free(b);
}

static void test_bad_page_numbers(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    uint8_t *e2 = b + HDR_LEN + 2 * ENTRY_LEN;
    /* 2 MiB is pages 0..511. */
    set_le64(e2, 512);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "page number 512 out of range (512 pages), entry 2");
    set_le64(e2, UINT64_MAX);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "out of range");
    set_le64(e2, 7);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len,
                         "page numbers not strictly increasing at entry 2 (7 after 7)");
    set_le64(e2, 3);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "not strictly increasing");
    /* The last page is in range. */
    set_le64(e2, 511);
    reseal(b, len);
    store(c->path, b, len);
    struct snapshot_meta meta;
    int fd = read_ok(c->path, &meta);
    uint8_t byte = 0;
    assert_int_equal(pread(fd, &byte, 1, 511 * PAGE + 9), 1);
    assert_int_equal(byte, 0x33);
    close(fd);
    free(b);
}

static void test_bad_page_count(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    set_le64(b + OFF_PAGE_COUNT, 513);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "513 stored pages, more than the 512 of its memory");
    /* Counts whose sizes would overflow are refused before any size is computed from them. */
    set_le64(b + OFF_PAGE_COUNT, 1ull << 60);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "more than the 512");
    set_le64(b + OFF_PAGE_COUNT, UINT64_MAX / ENTRY_LEN + 1);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "more than the 512");
    /* A count that fits the memory but not the file. */
    set_le64(b + OFF_PAGE_COUNT, 4);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "truncated at byte 20608 in the page data");
    set_le64(b + OFF_PAGE_COUNT, 2);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "4112 trailing bytes");
    free(b);
}

static void test_bad_mem_size(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *b = small_snapshot(c->path, &len);
    static const struct {
        uint64_t mem_size;
        const char *why;
    } cases[] = {
        {2 * MiB + PAGE, "memory size 2101248 bytes is not a multiple of 2097152"},
        {3 * MiB, "not a multiple"},
        {4096ull << 20, NULL},
        {(4096ull + 2) << 20, "memory size 4297064448 bytes outside 2097152..4294967296"},
        {8192ull << 20, "outside"},
        {0, "outside"},
        {UINT64_MAX - 2 * MiB + 1, "outside"},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set_le64(b + OFF_MEM_SIZE, cases[i].mem_size);
        reseal(b, len);
        if (cases[i].why) {
            expect_bytes_refused(c->path, b, len, cases[i].why);
        } else {
            /* 4 GiB itself is allowed; the memfd is sparse, so this costs nothing. */
            store(c->path, b, len);
            struct snapshot_meta meta;
            close(read_ok(c->path, &meta));
            assert_int_equal(meta.mem_size, 4096ull << 20);
        }
    }
    free(b);
}

static void test_bad_header_fields(void **state)
{
    struct ctx *c = *state;
    size_t len;
    uint8_t *orig = small_snapshot(c->path, &len);
    uint8_t *b = malloc(len);
    assert_non_null(b);

    memcpy(b, orig, len);
    set_le32(b + OFF_CPU_STATE_LEN, SNAPSHOT_CPU_STATE_MAX + 1);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "CPU state length 4097 exceeds 4096");
    memcpy(b, orig, len);
    set_le32(b + OFF_CPU_STATE_LEN, UINT32_MAX);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "CPU state length 4294967295 exceeds 4096");

    memcpy(b, orig, len);
    b[OFF_CPU_STATE + 300] = 1;
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "non-zero bytes after the CPU state's 300 bytes");

    memcpy(b, orig, len);
    memset(b + OFF_IMAGE_PATH, 'a', SNAPSHOT_IMAGE_PATH_MAX);
    b[OFF_IMAGE_PATH] = '/';
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "image path not NUL-terminated within its 4096 bytes");

    memcpy(b, orig, len);
    b[OFF_IMAGE_PATH + SNAPSHOT_IMAGE_PATH_MAX - 1] = 'z';
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "non-zero bytes after the image path's NUL");

    memcpy(b, orig, len);
    memcpy(b + OFF_IMAGE_PATH, "hello.elf", 9);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "image path \"hello.elf");

    memcpy(b, orig, len);
    memset(b + OFF_IMAGE_PATH, 0, SNAPSHOT_IMAGE_PATH_MAX);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "is not absolute");

    memcpy(b, orig, len);
    set_le32(b + OFF_ABI_VERSION, DENALI_ABI_VERSION + 1);
    reseal(b, len);
    char needle[128];
    snprintf(needle, sizeof(needle), "guest ABI version %u, this denali runs ABI %u",
             DENALI_ABI_VERSION + 1, DENALI_ABI_VERSION);
    expect_bytes_refused(c->path, b, len, needle);

    memcpy(b, orig, len);
    set_le32(b + OFF_RESERVED, 0x100);
    reseal(b, len);
    expect_bytes_refused(c->path, b, len, "reserved header field is 0x100, not zero");

    /* The opaque fields take any value. */
    memcpy(b, orig, len);
    set_le32(b + OFF_PLATFORM, 0xdeadbeef);
    set_le64(b + OFF_IMAGE_SIZE, UINT64_MAX);
    set_le64(b + OFF_IMAGE_HASH, 0);
    reseal(b, len);
    store(c->path, b, len);
    struct snapshot_meta meta;
    close(read_ok(c->path, &meta));
    assert_int_equal(meta.platform, 0xdeadbeef);
    assert_int_equal(meta.image_size, UINT64_MAX);
    free(b);
    free(orig);
}

static void test_not_a_file(void **state)
{
    struct ctx *c = *state;
    expect_refused(c->path, strerror(ENOENT));
    expect_refused(c->path, "snap.bin: cannot open: ");
    expect_refused(c->dir, "not a regular file");
    /* A FIFO is refused at once, not waited on for a writer. */
    assert_int_equal(mkfifo(c->path, 0600), 0);
    alarm(10);
    expect_refused(c->path, "not a regular file");
    alarm(0);
}

/* ---- write failures ---- */

static void expect_write_fails(const char *path, const struct snapshot_meta *meta,
                               const uint8_t *ram, const char *needle)
{
    char err[512] = "";
    unsigned before = open_fds();
    assert_int_equal(snapshot_write(path, meta, ram, err, sizeof(err)), -1);
    assert_contains(err, needle);
    expect_one_line(err);
    assert_int_equal(open_fds(), before);
}

static void test_write_refuses_bad_meta(void **state)
{
    struct ctx *c = *state;
    struct snapshot_meta meta;
    uint8_t *ram = alloc_ram(4 * MiB);
    make_meta(&meta, 3 * MiB);
    expect_write_fails(c->path, &meta, ram, "snap.bin: cannot write a snapshot: memory size");
    make_meta(&meta, 8192ull << 20);
    expect_write_fails(c->path, &meta, ram, "outside");
    make_meta(&meta, 2 * MiB);
    meta.cpu_state_len = SNAPSHOT_CPU_STATE_MAX + 1;
    expect_write_fails(c->path, &meta, ram, "CPU state length 4097 exceeds 4096");
    make_meta(&meta, 2 * MiB);
    snprintf(meta.image_path, sizeof(meta.image_path), "guests/hello.elf");
    expect_write_fails(c->path, &meta, ram, "not absolute");
    memset(meta.image_path, '/', sizeof(meta.image_path));
    expect_write_fails(c->path, &meta, ram, "not NUL-terminated");
    make_meta(&meta, 2 * MiB);
    meta.abi_version = 1;
    expect_write_fails(c->path, &meta, ram, "guest ABI version 1");
    /* Refused before anything is created. */
    assert_int_equal(dir_entries(c->dir), 0);
    free(ram);
}

static void test_write_failures_leave_nothing(void **state)
{
    struct ctx *c = *state;
    struct snapshot_meta meta;
    make_meta(&meta, 2 * MiB);
    uint8_t *ram = alloc_ram(2 * MiB);
    fill_ram(ram, 2 * MiB, 99);
    char path[256];

    snprintf(path, sizeof(path), "%s/no-such-dir/snap.bin", c->dir);
    expect_write_fails(path, &meta, ram, strerror(ENOENT));

    /* A directory where the file should go: the rename fails, the temporary file goes. */
    snprintf(path, sizeof(path), "%s/a-dir", c->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_write_fails(path, &meta, ram, "cannot rename");
    assert_int_equal(dir_entries(c->dir), 1);
    assert_int_equal(rmdir(path), 0);

    /* A failed overwrite leaves the old snapshot whole. */
    write_ok(c->path, &meta, ram);
    size_t old_len;
    uint8_t *old = load(c->path, &old_len);
    uint8_t *other = alloc_ram(2 * MiB);
    fill_ram(other, 2 * MiB, 100);
    /* Out of space halfway (as root, permissions would not stop the write). */
    struct rlimit saved, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 64 * 1024;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    char err[512] = "";
    int rc = snapshot_write(c->path, &meta, other, err, sizeof(err));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, -1);
    assert_contains(err, "snap.bin: cannot write: ");
    assert_contains(err, strerror(EFBIG));
    expect_one_line(err);
    assert_int_equal(dir_entries(c->dir), 1);
    size_t now_len;
    uint8_t *now = load(c->path, &now_len);
    assert_int_equal(now_len, old_len);
    assert_memory_equal(now, old, old_len);

    /* An unwritable directory (root writes anyway, so only checked for others). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(c->dir, 0500), 0);
        expect_write_fails(c->path, &meta, other, strerror(EACCES));
        assert_int_equal(chmod(c->dir, 0700), 0);
        assert_int_equal(dir_entries(c->dir), 1);
    }
    free(now);
    free(old);
    free(other);
    free(ram);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vectors),
        cmocka_unit_test(test_hash_sees_every_bit_and_the_length),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_non_zero_pages_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_documented_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_page_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_page_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_mem_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_refuses_bad_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_failures_leave_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
