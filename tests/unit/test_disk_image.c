/* Unit tests for disk images: the base read through a VM's overlay, which alone takes its writes.
 */
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

#include "denali/abi.h"
#include "disk/disk_image.h"
#include "test_util.h"

/* Ten blocks and a half: the last block is partial. */
#define BASE_BYTES (10 * OVERLAY_BLOCK_SIZE + 1024)
#define SECTOR     DENALI_SECTOR_SIZE

struct ctx {
    char dir[64];
    char base_path[128];
    char overlay_path[128];
    uint8_t *base_bytes;
    struct disk_base base;
    struct disk_view view;
};

static uint8_t base_pattern(uint64_t i)
{
    return (uint8_t)((i * 131 + (i >> 9) * 7) % 251 + 1);
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    snprintf(c->dir, sizeof(c->dir), "/tmp/denali-disk-test-XXXXXX");
    if (!mkdtemp(c->dir))
        return -1;
    snprintf(c->base_path, sizeof(c->base_path), "%s/base.img", c->dir);
    snprintf(c->overlay_path, sizeof(c->overlay_path), "%s/vm-0-disk-0.overlay", c->dir);
    c->base_bytes = malloc(BASE_BYTES);
    if (!c->base_bytes)
        return -1;
    for (uint64_t i = 0; i < BASE_BYTES; i++)
        c->base_bytes[i] = base_pattern(i);
    int fd = open(c->base_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, c->base_bytes, BASE_BYTES) != BASE_BYTES || close(fd) < 0)
        return -1;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    disk_base_close(&c->base);
    test_remove_dir(c->dir);
    free(c->base_bytes);
    free(c);
    return 0;
}

static void open_view(struct ctx *c, bool read_only)
{
    char err[256];
    assert_int_equal(disk_base_open(&c->base, c->base_path, read_only, err, sizeof(err)), 0);
    assert_int_equal(c->base.bytes, BASE_BYTES);
    disk_view_init(&c->view, &c->base, strdup(c->overlay_path));
}

/* The base file is exactly what setup wrote. */
static void expect_base_unchanged(struct ctx *c)
{
    size_t len = 0;
    char *now = test_read_file(c->base_path, &len);
    assert_non_null(now);
    assert_int_equal(len, BASE_BYTES);
    assert_memory_equal(now, c->base_bytes, BASE_BYTES);
    free(now);
}

/* The whole disk through the view equals expected. */
static void expect_disk(struct ctx *c, const uint8_t *expected)
{
    uint8_t *got = malloc(BASE_BYTES);
    assert_non_null(got);
    assert_int_equal(disk_view_read(&c->view, 0, got, BASE_BYTES), 0);
    for (uint64_t i = 0; i < BASE_BYTES; i++)
        if (got[i] != expected[i])
            fail_msg("disk byte %llu is 0x%02x, expected 0x%02x", (unsigned long long)i, got[i],
                     expected[i]);
    free(got);
}

static void test_reads_come_from_the_base(void **state)
{
    struct ctx *c = *state;
    open_view(c, false);
    expect_disk(c, c->base_bytes);
    uint8_t sector[SECTOR];
    assert_int_equal(disk_view_read(&c->view, BASE_BYTES - SECTOR, sector, SECTOR), 0);
    assert_memory_equal(sector, c->base_bytes + BASE_BYTES - SECTOR, SECTOR);
    /* Reading made no overlay. */
    assert_false(c->view.has_overlay);
    assert_int_equal(access(c->overlay_path, F_OK), -1);
    disk_view_close(&c->view, false);
}

static void test_writes_land_in_the_overlay_only(void **state)
{
    struct ctx *c = *state;
    open_view(c, false);
    uint8_t *expected = malloc(BASE_BYTES);
    assert_non_null(expected);
    memcpy(expected, c->base_bytes, BASE_BYTES);
    /* One sector inside block 1: the rest of the block must still read as the base. */
    uint8_t one[SECTOR];
    memset(one, 0x5a, sizeof(one));
    assert_int_equal(disk_view_write(&c->view, OVERLAY_BLOCK_SIZE + 3 * SECTOR, one, SECTOR), 0);
    memcpy(expected + OVERLAY_BLOCK_SIZE + 3 * SECTOR, one, SECTOR);
    /* A run from the middle of block 4 into the middle of block 7. */
    size_t run = 3 * OVERLAY_BLOCK_SIZE;
    uint8_t *many = malloc(run);
    assert_non_null(many);
    for (size_t i = 0; i < run; i++)
        many[i] = (uint8_t)(i % 7 + 200);
    uint64_t at = 4 * OVERLAY_BLOCK_SIZE + 2 * SECTOR;
    assert_int_equal(disk_view_write(&c->view, at, many, run), 0);
    memcpy(expected + at, many, run);
    /* The last, partial block. */
    assert_int_equal(disk_view_write(&c->view, BASE_BYTES - SECTOR, one, SECTOR), 0);
    memcpy(expected + BASE_BYTES - SECTOR, one, SECTOR);
    expect_disk(c, expected);
    expect_base_unchanged(c);
    /* Overwriting a block already in the overlay keeps its other bytes. */
    memset(one, 0x11, sizeof(one));
    assert_int_equal(disk_view_write(&c->view, OVERLAY_BLOCK_SIZE, one, SECTOR), 0);
    memcpy(expected + OVERLAY_BLOCK_SIZE, one, SECTOR);
    expect_disk(c, expected);
    assert_int_equal(c->view.overlay.written_blocks, 1 + 4 + 1);
    assert_int_equal(disk_view_flush(&c->view), 0);
    /* A second VM's view of the same base sees none of it. */
    struct disk_view other;
    char *other_path = malloc(160);
    assert_non_null(other_path);
    snprintf(other_path, 160, "%s/vm-1-disk-0.overlay", c->dir);
    disk_view_init(&other, &c->base, other_path);
    uint8_t *got = malloc(BASE_BYTES);
    assert_non_null(got);
    assert_int_equal(disk_view_read(&other, 0, got, BASE_BYTES), 0);
    assert_memory_equal(got, c->base_bytes, BASE_BYTES);
    disk_view_close(&other, false);
    free(got);
    free(many);
    free(expected);
    disk_view_close(&c->view, false);
    /* Not kept: gone with its VM. */
    assert_int_equal(access(c->overlay_path, F_OK), -1);
}

static void test_overlay_is_sparse(void **state)
{
    struct ctx *c = *state;
    open_view(c, false);
    uint8_t one[SECTOR];
    memset(one, 0x77, sizeof(one));
    assert_int_equal(disk_view_write(&c->view, 9 * OVERLAY_BLOCK_SIZE, one, SECTOR), 0);
    assert_int_equal(disk_view_flush(&c->view), 0);
    struct stat st;
    assert_int_equal(stat(c->overlay_path, &st), 0);
    /* As long as the disk, but holding little more than the header, the map and one block. */
    assert_true((uint64_t)st.st_size >= BASE_BYTES);
    assert_true((uint64_t)st.st_blocks * 512 <= 4 * OVERLAY_BLOCK_SIZE);
    disk_view_close(&c->view, false);
}

/* A kept overlay holds what docs/DISK_FORMAT.md says: the header, the map, the blocks. */
static void test_kept_overlay_is_readable(void **state)
{
    struct ctx *c = *state;
    open_view(c, false);
    uint8_t block[OVERLAY_BLOCK_SIZE];
    memset(block, 0x3c, sizeof(block));
    assert_int_equal(disk_view_write(&c->view, 2 * OVERLAY_BLOCK_SIZE, block, sizeof(block)), 0);
    disk_view_close(&c->view, true);
    size_t len = 0;
    uint8_t *file = (uint8_t *)test_read_file(c->overlay_path, &len);
    assert_non_null(file);
    struct overlay_header h;
    assert_true(len >= sizeof(h));
    memcpy(&h, file, sizeof(h));
    assert_memory_equal(h.magic, OVERLAY_MAGIC, 8);
    assert_int_equal(h.version, OVERLAY_VERSION);
    assert_int_equal(h.block_size, OVERLAY_BLOCK_SIZE);
    assert_int_equal(h.disk_bytes, BASE_BYTES);
    assert_int_equal(h.map_offset, OVERLAY_HEADER_SIZE);
    assert_int_equal(h.map_bytes, 2);
    assert_int_equal(h.data_offset % OVERLAY_BLOCK_SIZE, 0);
    assert_string_equal(h.base_path, c->base_path);
    assert_int_equal(file[h.map_offset], 1u << 2);
    assert_int_equal(file[h.map_offset + 1], 0);
    assert_true(len >= h.data_offset + 3 * OVERLAY_BLOCK_SIZE);
    assert_memory_equal(file + h.data_offset + 2 * OVERLAY_BLOCK_SIZE, block, sizeof(block));
    free(file);
}

static void test_read_only_view_refuses_writes(void **state)
{
    struct ctx *c = *state;
    open_view(c, true);
    uint8_t one[SECTOR] = {0};
    assert_int_equal(disk_view_write(&c->view, 0, one, SECTOR), -1);
    assert_int_equal(disk_view_flush(&c->view), 0);
    assert_int_equal(access(c->overlay_path, F_OK), -1);
    disk_view_close(&c->view, false);
    expect_base_unchanged(c);
}

/* --clone: the template's overlay frozen under each clone's; none sees another's later writes. */
static void test_frozen_template_lies_under_each_clone(void **state)
{
    struct ctx *c = *state;
    open_view(c, false);
    uint8_t *expected = malloc(BASE_BYTES);
    assert_non_null(expected);
    memcpy(expected, c->base_bytes, BASE_BYTES);
    uint8_t one[SECTOR];
    memset(one, 0x21, sizeof(one));
    assert_int_equal(disk_view_write(&c->view, 2 * SECTOR, one, SECTOR), 0);
    memcpy(expected + 2 * SECTOR, one, SECTOR);
    char frozen_path[160];
    snprintf(frozen_path, sizeof(frozen_path), "%s/template-disk-0.overlay", c->dir);
    struct overlay frozen;
    assert_int_equal(disk_view_freeze(&c->view, &frozen, frozen_path), 1);
    assert_int_equal(access(frozen_path, F_OK), 0);
    assert_false(c->view.has_overlay);
    assert_ptr_equal(c->view.lower, &frozen);
    /* A clone over the template sees its write; a partial write over it keeps the rest. */
    struct disk_view clone;
    char *clone_path = malloc(160);
    assert_non_null(clone_path);
    snprintf(clone_path, 160, "%s/vm-1-disk-0.overlay", c->dir);
    disk_view_init(&clone, &c->base, clone_path);
    clone.lower = &frozen;
    expect_disk(c, expected);
    memset(one, 0x43, sizeof(one));
    assert_int_equal(disk_view_write(&clone, 5 * SECTOR, one, SECTOR), 0);
    uint8_t *got = malloc(BASE_BYTES);
    assert_non_null(got);
    assert_int_equal(disk_view_read(&clone, 0, got, BASE_BYTES), 0);
    assert_memory_equal(got, expected, 5 * SECTOR);
    assert_memory_equal(got + 5 * SECTOR, one, SECTOR);
    assert_memory_equal(got + 6 * SECTOR, expected + 6 * SECTOR, BASE_BYTES - 6 * SECTOR);
    /* The template's own view, a clone too now, does not see it. */
    expect_disk(c, expected);
    disk_view_close(&clone, false);
    disk_view_close(&c->view, false);
    overlay_close(&frozen, false);
    expect_base_unchanged(c);
    free(got);
    free(expected);
}

/* An overlay that cannot be made fails the write (the guest gets EIO); reads still work. */
static void test_write_fails_without_an_overlay_file(void **state)
{
    struct ctx *c = *state;
    char err[256], path[160];
    assert_int_equal(disk_base_open(&c->base, c->base_path, false, err, sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/no-such-dir/vm-0-disk-0.overlay", c->dir);
    disk_view_init(&c->view, &c->base, strdup(path));
    uint8_t one[SECTOR] = {0};
    assert_int_equal(disk_view_write(&c->view, 0, one, SECTOR), -1);
    assert_false(c->view.has_overlay);
    expect_disk(c, c->base_bytes);
    disk_view_close(&c->view, false);
    expect_base_unchanged(c);
}

static void test_bad_bases_are_refused(void **state)
{
    struct ctx *c = *state;
    char err[256], path[160];
    struct disk_base b;
    snprintf(path, sizeof(path), "%s/missing.img", c->dir);
    assert_int_equal(disk_base_open(&b, path, true, err, sizeof(err)), -1);
    assert_contains(err, "No such file");
    assert_int_equal(disk_base_open(&b, c->dir, true, err, sizeof(err)), -1);
    assert_contains(err, "not a regular file");
    snprintf(path, sizeof(path), "%s/empty.img", c->dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(disk_base_open(&b, path, true, err, sizeof(err)), -1);
    assert_contains(err, "empty");
    assert_int_equal(write(fd, "odd", 3), 3);
    close(fd);
    assert_int_equal(disk_base_open(&b, path, false, err, sizeof(err)), -1);
    assert_contains(err, "multiple of 512");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_come_from_the_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_land_in_the_overlay_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlay_is_sparse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kept_overlay_is_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_view_refuses_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frozen_template_lies_under_each_clone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_write_fails_without_an_overlay_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_bases_are_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
