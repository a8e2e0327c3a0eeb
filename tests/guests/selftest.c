/* Test guest: exercises the parts of musl that run on ilwaco (TLS, malloc, clocks, stdio); exits 0
 * if all hold. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <ilwaco.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("selftest: FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static _Thread_local int tls_initialised = 42;
static _Thread_local long tls_zeroed[64];

static void check_tls(void)
{
    CHECK(tls_initialised == 42);
    for (int i = 0; i < 64; i++)
        CHECK(tls_zeroed[i] == 0);
    tls_initialised = 7;
    tls_zeroed[63] = 9;
    CHECK(tls_initialised == 7 && tls_zeroed[63] == 9);
}

static int all_bytes(const unsigned char *p, size_t len, unsigned char value)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != value)
            return 0;
    return 1;
}

static void check_malloc(void)
{
    /* A quarter of guest memory, at most 1 MiB, so the test fits the smallest VM too. */
    size_t block = ilwaco_vregs()->mem_size / 4;
    if (block > (1 << 20))
        block = 1 << 20;

    /* Far more than guest memory in total: only works if freed memory is reused. */
    for (int i = 0; i < 200; i++) {
        unsigned char *p = malloc(block);
        CHECK(p != NULL);
        if (!p)
            return;
        memset(p, 0xa5, block);
        free(p);
    }

    /* Reused pages must come back zeroed: calloc trusts fresh mappings to be zero. */
    size_t big = block / 2;
    unsigned char *p = malloc(big);
    CHECK(p != NULL);
    if (p) {
        memset(p, 0xff, big);
        free(p);
    }
    unsigned char *z = calloc(1, big);
    CHECK(z != NULL && all_bytes(z, big, 0));
    free(z);

    /* Small objects and realloc growth, which falls back from mremap to copying. */
    char *s = malloc(16);
    CHECK(s != NULL);
    strcpy(s, "denali");
    for (size_t n = 32; s && n <= block / 2; n *= 2) {
        char *t = realloc(s, n);
        CHECK(t != NULL);
        if (!t)
            break;
        s = t;
    }
    CHECK(s && strcmp(s, "denali") == 0);
    free(s);

    /* Exhaustion is an error, not a crash. */
    errno = 0;
    void *huge = malloc((size_t)1 << 40);
    CHECK(huge == NULL && errno == ENOMEM);
}

static void check_mmap(void)
{
    long page = sysconf(_SC_PAGESIZE);
    CHECK(page == 4096);
    char *a = mmap(0, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(a != MAP_FAILED);
    if (a == MAP_FAILED)
        return;
    memset(a, 1, 3 * page);
    CHECK(munmap(a + page, page) == 0);
    /* First fit puts a one-page request into the hole just made (or lower). */
    char *b = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(b != MAP_FAILED && b <= a + page);
    CHECK(b != MAP_FAILED && all_bytes((unsigned char *)b, page, 0));
    CHECK(munmap(a, 3 * page) == 0);
    if (b != MAP_FAILED && b < a)
        munmap(b, page);
    CHECK(mmap(0, page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
}

static void *map_pages(size_t pages)
{
    void *p = mmap(0, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The largest mapping the heap can give right now, in pages (binary search). */
static size_t largest_mapping(void)
{
    size_t lo = 0, hi = ilwaco_vregs()->mem_size / 4096;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        void *p = map_pages(mid);
        if (p) {
            munmap(p, mid * 4096);
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

/* All the heap can give right now, in pages: grab the largest piece until none is left. */
static size_t free_pages_total(void)
{
    enum { MAX_PIECES = 256 };
    unsigned char *piece[MAX_PIECES];
    size_t size[MAX_PIECES], total = 0, n = 0;
    while (n < MAX_PIECES) {
        size_t pages = largest_mapping();
        if (pages == 0 || !(piece[n] = map_pages(pages)))
            break;
        size[n++] = pages;
        total += pages;
    }
    while (n > 0) {
        n--;
        munmap(piece[n], size[n] * 4096);
    }
    return total;
}

/*
 * Random mmap/munmap, partial unmaps included, with every live page marked:
 * overlapping grants, unzeroed reuse or lost free space would all show.
 */
static void check_allocator_stress(void)
{
    enum { SLOTS = 48 };
    struct {
        unsigned char *p;
        size_t pages;
    } live[SLOTS] = {{0, 0}};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t before = free_pages_total();
    CHECK(before > 0);

    for (int op = 0; op < 4000; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned slot = (unsigned)(x % SLOTS);
        unsigned char mark = (unsigned char)(slot + 1);
        if (live[slot].p) {
            CHECK(all_bytes(live[slot].p, live[slot].pages * 4096, mark));
            if (live[slot].pages > 1 && (x >> 32) % 3 == 0) {
                /* Give back the front half and keep the rest. */
                size_t half = live[slot].pages / 2;
                CHECK(munmap(live[slot].p, half * 4096) == 0);
                live[slot].p += half * 4096;
                live[slot].pages -= half;
            } else {
                CHECK(munmap(live[slot].p, live[slot].pages * 4096) == 0);
                live[slot].p = NULL;
            }
        } else {
            size_t pages = 1 + (x >> 40) % 16;
            unsigned char *p = map_pages(pages);
            if (!p)
                continue; /* a full heap is allowed; the final check catches leaks */
            CHECK(all_bytes(p, pages * 4096, 0));
            memset(p, mark, pages * 4096);
            live[slot].p = p;
            live[slot].pages = pages;
        }
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        if (live[i].p) {
            CHECK(all_bytes(live[i].p, live[i].pages * 4096, (unsigned char)(i + 1)));
            munmap(live[i].p, live[i].pages * 4096);
        }
    }
    /* Everything freed comes back, and coalesces: no page is lost. */
    CHECK(free_pages_total() == before);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void check_time(void)
{
    uint64_t t0 = mono_ns();
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    CHECK(nanosleep(&ten_ms, NULL) == 0);
    uint64_t t1 = mono_ns();
    CHECK(t1 >= t0 + 10 * 1000 * 1000);
    CHECK(usleep(1000) == 0);
    CHECK(mono_ns() >= t1 + 1000 * 1000);
    CHECK(time(NULL) == (time_t)(ilwaco_time_ns() / 1000000000u));
    CHECK(sched_yield() == 0);
}

static void check_misc(void)
{
    struct utsname u;
    CHECK(uname(&u) == 0 && strcmp(u.sysname, "Denali") == 0);

    unsigned char r1[32] = {0}, r2[32] = {0};
    CHECK(getrandom(r1, sizeof(r1), 0) == sizeof(r1));
    CHECK(getrandom(r2, sizeof(r2), 0) == sizeof(r2));
    CHECK(memcmp(r1, r2, sizeof(r1)) != 0 && !all_bytes(r1, sizeof(r1), 0));

    errno = 0;
    CHECK(open("/etc/passwd", O_RDONLY) == -1 && errno != 0);
    CHECK(isatty(1) == 0);
    CHECK(getpid() == 1);

    char buf[64];
    snprintf(buf, sizeof(buf), "%.3f %g %s %5d", 3.14159, 1e-3, "x", 42);
    CHECK(strcmp(buf, "3.142 0.001 x    42") == 0);
    CHECK(strtod("2.5", NULL) == 2.5);

    char line[8];
    CHECK(fgets(line, sizeof(line), stdin) == NULL && feof(stdin));
    CHECK(write(3, "x", 1) == -1 && errno == EBADF);
}

int main(void)
{
    printf("selftest: started\n");
    check_tls();
    check_malloc();
    check_mmap();
    check_allocator_stress();
    check_time();
    check_misc();
    if (failures) {
        printf("selftest: %d failures\n", failures);
        return 1;
    }
    printf("selftest: ok\n");
    return 0;
}
