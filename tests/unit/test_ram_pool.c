/* Unit tests for the guest RAM pool: slot hand-out, offsets, and zeroed memory on reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image/ram_pool.h"

#define SLOT  (2ull << 20)
#define SLOTS 4u

/* A byte pattern with no zero bytes, different in every page, so a stale page cannot hide. */
static uint8_t pattern(uint64_t i, uint8_t seed)
{
    return (uint8_t)(((i * 7 + (i >> 12) * 13 + seed) % 255) + 1);
}

static void fill(uint8_t *p, uint64_t len, uint8_t seed)
{
    for (uint64_t i = 0; i < len; i++)
        p[i] = pattern(i, seed);
}

static void expect_pattern(const uint8_t *p, uint64_t len, uint8_t seed, const char *where)
{
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != pattern(i, seed))
            fail_msg("%s: byte 0x%llx is 0x%02x, expected 0x%02x", where, (unsigned long long)i,
                     p[i], pattern(i, seed));
}

static void expect_zero(const uint8_t *p, uint64_t len, const char *where)
{
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != 0)
            fail_msg("%s: byte 0x%llx is 0x%02x, not zero", where, (unsigned long long)i, p[i]);
}

/* The slot's bytes as another process mapping the memfd would see them. */
static uint8_t *read_memfd(const struct ram_pool *p, const uint8_t *ram)
{
    uint8_t *buf = malloc(SLOT);
    assert_non_null(buf);
    uint64_t offset = ram_pool_offset(p, ram);
    uint64_t done = 0;
    while (done < SLOT) {
        ssize_t n = pread(p->memfd, buf + done, SLOT - done, (off_t)(offset + done));
        if (n <= 0)
            fail_msg("pread of the pool's memfd at 0x%llx returned %zd",
                     (unsigned long long)(offset + done), n);
        done += (uint64_t)n;
    }
    return buf;
}

static void test_shared_slot_is_zeroed_on_reuse(void **state)
{
    (void)state;
    struct ram_pool p;
    assert_int_equal(ram_pool_init(&p, SLOT, SLOTS, true), 0);
    assert_true(p.memfd >= 0);
    uint8_t *ram = ram_pool_get(&p);
    assert_non_null(ram);
    expect_zero(ram, SLOT, "a fresh slot");
    fill(ram, SLOT, 1);
    /* The mapping and the memfd are one memory, so the zeroing below is not of a private copy. */
    uint8_t *file = read_memfd(&p, ram);
    expect_pattern(file, SLOT, 1, "the memfd before put");
    free(file);
    ram_pool_put(&p, ram);
    /* The pool is LIFO: the slot just put back is the one handed out next. */
    uint8_t *again = ram_pool_get(&p);
    assert_ptr_equal(again, ram);
    expect_zero(again, SLOT, "the reused slot through the mapping");
    file = read_memfd(&p, again);
    expect_zero(file, SLOT, "the reused slot through the memfd");
    free(file);
    ram_pool_put(&p, again);
    ram_pool_destroy(&p);
}

/* What a VM process writes through its own mapping of its slice is gone for the next VM too. */
static void test_shared_slot_written_by_another_mapping(void **state)
{
    (void)state;
    struct ram_pool p;
    assert_int_equal(ram_pool_init(&p, SLOT, SLOTS, true), 0);
    uint8_t *first = ram_pool_get(&p);
    uint8_t *ram = ram_pool_get(&p);
    assert_non_null(first);
    assert_non_null(ram);
    uint64_t offset = ram_pool_offset(&p, ram);
    assert_true(offset > 0);
    void *other = mmap(NULL, SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, p.memfd, (off_t)offset);
    assert_true(other != MAP_FAILED);
    fill(other, SLOT, 2);
    assert_int_equal(munmap(other, SLOT), 0);
    expect_pattern(ram, SLOT, 2, "the monitor's view of the slot");
    ram_pool_put(&p, ram);
    uint8_t *again = ram_pool_get(&p);
    assert_ptr_equal(again, ram);
    expect_zero(again, SLOT, "the reused slot");
    ram_pool_put(&p, again);
    ram_pool_put(&p, first);
    ram_pool_destroy(&p);
}

/* Putting one slot back clears that slot and no other. */
static void test_put_clears_only_its_slot(void **state)
{
    (void)state;
    const bool modes[] = {true, false};
    for (size_t m = 0; m < 2; m++) {
        struct ram_pool p;
        assert_int_equal(ram_pool_init(&p, SLOT, SLOTS, modes[m]), 0);
        uint8_t *a = ram_pool_get(&p);
        uint8_t *b = ram_pool_get(&p);
        uint8_t *c = ram_pool_get(&p);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(c);
        fill(a, SLOT, 3);
        fill(b, SLOT, 4);
        fill(c, SLOT, 5);
        ram_pool_put(&p, b);
        expect_pattern(a, SLOT, 3, "the slot below the one put back");
        expect_pattern(c, SLOT, 5, "the slot above the one put back");
        if (modes[m]) {
            uint8_t *file = read_memfd(&p, a);
            expect_pattern(file, SLOT, 3, "the slot below, through the memfd");
            free(file);
            file = read_memfd(&p, c);
            expect_pattern(file, SLOT, 5, "the slot above, through the memfd");
            free(file);
        }
        ram_pool_put(&p, a);
        ram_pool_put(&p, c);
        ram_pool_destroy(&p);
    }
}

static void test_offsets_and_exhaustion(void **state)
{
    (void)state;
    struct ram_pool p;
    assert_int_equal(ram_pool_init(&p, SLOT, SLOTS, true), 0);
    uint8_t *slots[SLOTS];
    for (unsigned i = 0; i < SLOTS; i++) {
        slots[i] = ram_pool_get(&p);
        assert_non_null(slots[i]);
        uint64_t offset = ram_pool_offset(&p, slots[i]);
        assert_int_equal(offset % SLOT, 0);
        assert_true(offset < SLOT * SLOTS);
        for (unsigned j = 0; j < i; j++)
            assert_true(ram_pool_offset(&p, slots[j]) != offset);
    }
    /* Low slots first, so a small run touches little of the reservation. */
    assert_int_equal(ram_pool_offset(&p, slots[0]), 0);
    assert_null(ram_pool_get(&p));
    assert_null(ram_pool_get(&p));
    /* One back makes exactly one available. */
    ram_pool_put(&p, slots[2]);
    uint8_t *again = ram_pool_get(&p);
    assert_ptr_equal(again, slots[2]);
    assert_null(ram_pool_get(&p));
    for (unsigned i = 0; i < SLOTS; i++)
        ram_pool_put(&p, slots[i]);
    /* All back: all can be taken again. */
    for (unsigned i = 0; i < SLOTS; i++)
        assert_non_null(ram_pool_get(&p));
    assert_null(ram_pool_get(&p));
    ram_pool_destroy(&p);
}

static void test_private_slot_is_zeroed_on_reuse(void **state)
{
    (void)state;
    struct ram_pool p;
    assert_int_equal(ram_pool_init(&p, SLOT, SLOTS, false), 0);
    assert_int_equal(p.memfd, -1);
    uint8_t *ram = ram_pool_get(&p);
    assert_non_null(ram);
    assert_int_equal(ram_pool_offset(&p, ram) % SLOT, 0);
    expect_zero(ram, SLOT, "a fresh slot");
    fill(ram, SLOT, 6);
    ram_pool_put(&p, ram);
    uint8_t *again = ram_pool_get(&p);
    assert_ptr_equal(again, ram);
    expect_zero(again, SLOT, "the reused slot");
    ram_pool_put(&p, again);
    ram_pool_destroy(&p);
}

/* Ballooning: a released range reads as zero, leaves the host (shared: the memfd's blocks), and
 * nothing around it changes; a range past the slot is refused. */
static void release_one(bool shared)
{
    struct ram_pool p;
    assert_int_equal(ram_pool_init(&p, SLOT, SLOTS, shared), 0);
    uint8_t *ram = ram_pool_get(&p);
    uint8_t *other = ram_pool_get(&p);
    assert_non_null(ram);
    assert_non_null(other);
    fill(ram, SLOT, 7);
    fill(other, SLOT, 8);
    uint64_t held = ram_pool_resident_bytes(&p);
    assert_int_equal(ram_pool_release(&p, ram, 0x10000, 0x20000), 0);
    /* Counted before reading the range: a read through a shared mapping fills a hole again. */
    if (shared && ram_pool_resident_bytes(&p) > held - 0x20000)
        fail_msg("held %llu bytes before, %llu after", (unsigned long long)held,
                 (unsigned long long)ram_pool_resident_bytes(&p));
    expect_pattern(ram, 0x10000, 7, "below the released range");
    expect_zero(ram + 0x10000, 0x20000, "the released range");
    for (uint64_t i = 0x30000; i < SLOT; i++)
        if (ram[i] != pattern(i, 7))
            fail_msg("above the released range: byte 0x%llx changed", (unsigned long long)i);
    expect_pattern(other, SLOT, 8, "the other slot");
    assert_int_equal(ram_pool_release(&p, ram, SLOT - 0x1000, 0x2000), -EINVAL);
    assert_int_equal(ram_pool_release(&p, ram, SLOT + 0x1000, 0x1000), -EINVAL);
    ram_pool_put(&p, ram);
    ram_pool_put(&p, other);
    ram_pool_destroy(&p);
}

static void test_release_shared(void **state)
{
    (void)state;
    release_one(true);
}

static void test_release_private(void **state)
{
    (void)state;
    release_one(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_slot_is_zeroed_on_reuse),
        cmocka_unit_test(test_shared_slot_written_by_another_mapping),
        cmocka_unit_test(test_put_clears_only_its_slot),
        cmocka_unit_test(test_offsets_and_exhaustion),
        cmocka_unit_test(test_private_slot_is_zeroed_on_reuse),
        cmocka_unit_test(test_release_shared),
        cmocka_unit_test(test_release_private),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
