/* Small assertions and helpers shared by the unit tests (cmocka must be included first). */
#ifndef DENALI_TEST_UTIL_H
#define DENALI_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Fails the current test unless needle occurs in haystack, printing both. */
#define assert_contains(haystack, needle)                                                          \
    test_assert_contains((haystack), (needle), #haystack, __FILE__, __LINE__)
void test_assert_contains(const char *haystack, const char *needle, const char *expression,
                          const char *file, int line);

/* Fails the current test if needle occurs in haystack. */
#define assert_not_contains(haystack, needle)                                                      \
    test_assert_not_contains((haystack), (needle), #haystack, __FILE__, __LINE__)
void test_assert_not_contains(const char *haystack, const char *needle, const char *expression,
                              const char *file, int line);

/* Reads a whole file into a NUL-terminated malloc'd buffer; NULL if it cannot be read. */
char *test_read_file(const char *path, size_t *length);

/* Removes a directory and the plain files directly inside it. */
void test_remove_dir(const char *path);

/* Guest addresses rounded to the 4 KiB page below or above, as the layout rounds them. */
static inline uint64_t page_down(uint64_t x)
{
    return x & ~(uint64_t)0xfff;
}

static inline uint64_t page_up(uint64_t x)
{
    return (x + 0xfff) & ~(uint64_t)0xfff;
}

/* Big-endian (network order) numbers in hand-built frames. */
uint16_t test_get_be16(const uint8_t *p);
void test_put_be16(uint8_t *p, uint16_t v);
void test_put_be32(uint8_t *p, uint32_t v);

#endif
