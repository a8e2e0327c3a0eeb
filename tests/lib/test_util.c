/* Small assertions and helpers shared by the unit tests (cmocka must be included first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void test_assert_contains(const char *haystack, const char *needle, const char *expression,
                          const char *file, int line)
{
    if (haystack && strstr(haystack, needle))
        return;
    print_error("%s is \"%s\", which does not contain \"%s\"\n", expression,
                haystack ? haystack : "(null)", needle);
    _fail(file, line);
}

void test_assert_not_contains(const char *haystack, const char *needle, const char *expression,
                              const char *file, int line)
{
    if (!haystack || !strstr(haystack, needle))
        return;
    print_error("%s is \"%s\", which contains \"%s\"\n", expression, haystack, needle);
    _fail(file, line);
}

char *test_read_file(const char *path, size_t *length)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t used = 0, capacity = 4096;
    char *buf = malloc(capacity + 1);
    while (buf) {
        size_t n = fread(buf + used, 1, capacity - used, f);
        used += n;
        if (used < capacity)
            break;
        capacity *= 2;
        char *bigger = realloc(buf, capacity + 1);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[used] = '\0';
    if (length)
        *length = used;
    return buf;
}

void test_remove_dir(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *d;
        while ((d = readdir(dir)) != NULL) {
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                continue;
            char file[4096];
            snprintf(file, sizeof(file), "%s/%s", path, d->d_name);
            unlink(file);
        }
        closedir(dir);
    }
    rmdir(path);
}

uint16_t test_get_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

void test_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void test_put_be32(uint8_t *p, uint32_t v)
{
    test_put_be16(p, (uint16_t)(v >> 16));
    test_put_be16(p + 2, (uint16_t)v);
}
