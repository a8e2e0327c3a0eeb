/* Unit tests for the kvm platform's guest memory: clone views, userfaults and reference bits (no
 * /dev/kvm needed: all of it is the monitor's own address space). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "denali/abi.h"
#include "image/ram_pool.h"
#include "platform/kvm/kvm_memory.h"
#include "platform/platform.h"

#define SLOT      (1ull << 20)
#define PAGE      DENALI_PAGE_SIZE
#define WINDOW    0x20000u
#define WINDOW_SZ (2u * PAGE)
#define DATA_GPA  0x40000u

static void expect_bytes(const uint8_t *p, uint64_t len, uint8_t value, const char *where)
{
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != value)
            fail_msg("%s: byte 0x%llx is 0x%02x, expected 0x%02x", where, (unsigned long long)i,
                     p[i], value);
}

/* A snapshot whose every page above DENALI_LOW_LIMIT holds 0x11, with one window. */
static void make_snapshot(struct platform_snapshot *snap)
{
    memset(snap, 0, sizeof(*snap));
    snap->memfd = memfd_create("test-snapshot", MFD_CLOEXEC);
    assert_true(snap->memfd >= 0);
    assert_int_equal(ftruncate(snap->memfd, SLOT), 0);
    uint8_t *buf = malloc(SLOT);
    assert_non_null(buf);
    memset(buf, 0x11, SLOT);
    assert_int_equal(pwrite(snap->memfd, buf, SLOT - DENALI_LOW_LIMIT, DENALI_LOW_LIMIT),
                     (ssize_t)(SLOT - DENALI_LOW_LIMIT));
    free(buf);
    snap->mem_size = SLOT;
    snap->platform = PLATFORM_KVM;
    snap->window_count = 1;
    snap->windows[0].start = WINDOW;
    snap->windows[0].end = WINDOW + WINDOW_SZ;
}

static void clone_view(bool shared)
{
    struct platform_snapshot snap;
    make_snapshot(&snap);
    struct ram_pool pool;
    assert_int_equal(ram_pool_init(&pool, SLOT, 2, shared), 0);
    uint8_t *ram = ram_pool_get(&pool);
    /* What the monitor wrote for this clone before its vCPU exists. */
    memset(ram + DENALI_VREGS_ADDR, 0xaa, PAGE);
    memset(ram + WINDOW, 0xbb, WINDOW_SZ);
    char err[160] = "";
    assert_int_equal(kvm_memory_map_clone(ram, SLOT, &snap, &pool, err, sizeof(err)), 0);
    expect_bytes(ram + DENALI_VREGS_ADDR, PAGE, 0xaa, "the clone's own vregs");
    expect_bytes(ram + WINDOW, WINDOW_SZ, 0xbb, "the clone's own window");
    expect_bytes(ram + DATA_GPA, PAGE, 0x11, "the snapshot's page");
    /* A write is the clone's alone: the snapshot, shared by every clone, keeps its bytes. */
    memset(ram + DATA_GPA, 0x77, PAGE);
    uint8_t back[PAGE];
    assert_int_equal(pread(snap.memfd, back, PAGE, DATA_GPA), PAGE);
    expect_bytes(back, PAGE, 0x11, "the snapshot after a clone wrote");
    if (shared) {
        /* The windows and vregs are the slot's memfd pages: the monitor's writes land there. */
        uint64_t slot = ram_pool_offset(&pool, ram);
        memset(ram + WINDOW + PAGE, 0xcc, PAGE);
        assert_int_equal(pread(pool.memfd, back, PAGE, (off_t)(slot + WINDOW + PAGE)), PAGE);
        expect_bytes(back, PAGE, 0xcc, "the memfd under a window the monitor wrote");
        assert_int_equal(pread(pool.memfd, back, PAGE, (off_t)(slot + DENALI_VREGS_ADDR)), PAGE);
        expect_bytes(back, PAGE, 0xaa, "the memfd under the vregs");
        /* The rest of the slot was given back, and the clone's own write is not in it. */
        assert_int_equal(pread(pool.memfd, back, PAGE, (off_t)(slot + DATA_GPA)), PAGE);
        expect_bytes(back, PAGE, 0, "the memfd under the view");
    }
    /* Mapped back, the slot is the pool's again, and a new VM there reads zero. */
    assert_int_equal(ram_pool_remap(&pool, ram), 0);
    ram_pool_put(&pool, ram);
    uint8_t *next = ram_pool_get(&pool);
    assert_ptr_equal(next, ram);
    expect_bytes(next + DATA_GPA, PAGE, 0, "the next VM in the slot");
    expect_bytes(next + DENALI_VREGS_ADDR, PAGE, 0, "the next VM's vregs");
    ram_pool_put(&pool, next);
    ram_pool_destroy(&pool);
    close(snap.memfd);
}

static void test_clone_view_shared_pool(void **state)
{
    (void)state;
    clone_view(true);
}

static void test_clone_view_private_pool(void **state)
{
    (void)state;
    clone_view(false);
}

/* A snapshot from a file is checked before it is mapped: nothing of the slot changes. */
static void test_bad_snapshots_refused(void **state)
{
    (void)state;
    struct platform_snapshot snap;
    make_snapshot(&snap);
    struct ram_pool pool;
    assert_int_equal(ram_pool_init(&pool, SLOT, 1, true), 0);
    uint8_t *ram = ram_pool_get(&pool);
    memset(ram + DATA_GPA, 0x33, PAGE);
    char err[160] = "";
    snap.windows[0].end = SLOT + PAGE;
    assert_int_equal(kvm_memory_map_clone(ram, SLOT, &snap, &pool, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "outside its memory"));
    snap.windows[0].end = WINDOW + WINDOW_SZ;
    snap.windows[0].start = WINDOW + 1;
    assert_int_equal(kvm_memory_map_clone(ram, SLOT, &snap, &pool, err, sizeof(err)), -1);
    snap.windows[0].start = WINDOW;
    snap.window_count = PLATFORM_WINDOWS_MAX + 1;
    assert_int_equal(kvm_memory_map_clone(ram, SLOT, &snap, &pool, err, sizeof(err)), -1);
    snap.window_count = 1;
    assert_int_equal(kvm_memory_map_clone(ram, SLOT * 2, &snap, &pool, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "KiB"));
    expect_bytes(ram + DATA_GPA, PAGE, 0x33, "the slot after refusals");
    ram_pool_destroy(&pool);
    close(snap.memfd);
}

/*
 * Hibernating a clone: what it wrote goes into its slot's memfd pages, and
 * nothing else does (the snapshot's bytes are the caller's to put there; a
 * page only read is still the snapshot's). Mapped back, the slot holds the
 * clone's memory as the guest saw it.
 */
static void test_clone_own_pages_gathered(void **state)
{
    (void)state;
    struct platform_snapshot snap;
    make_snapshot(&snap);
    struct ram_pool pool;
    assert_int_equal(ram_pool_init(&pool, SLOT, 2, true), 0);
    uint8_t *ram = ram_pool_get(&pool);
    memset(ram + WINDOW, 0xbb, WINDOW_SZ);
    char err[160] = "";
    assert_int_equal(kvm_memory_map_clone(ram, SLOT, &snap, &pool, err, sizeof(err)), 0);
    memset(ram + DATA_GPA, 0x77, PAGE);
    memset(ram + DATA_GPA + 2 * PAGE, 0x78, 3 * PAGE);
    memset(ram + SLOT - PAGE, 0x79, PAGE);
    volatile uint8_t only_read = ram[DATA_GPA + PAGE];
    (void)only_read;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    assert_true(pagemap >= 0);
    uint64_t slot = ram_pool_offset(&pool, ram);
    assert_int_equal(kvm_memory_copy_private(pagemap, ram, DENALI_LOW_LIMIT,
                                             SLOT - DENALI_LOW_LIMIT, pool.memfd, slot, err,
                                             sizeof(err)),
                     0);
    uint8_t back[PAGE];
    assert_int_equal(pread(pool.memfd, back, PAGE, (off_t)(slot + DATA_GPA + PAGE)), PAGE);
    expect_bytes(back, PAGE, 0, "a page the clone only read");
    assert_int_equal(ram_pool_remap(&pool, ram), 0);
    expect_bytes(ram + DATA_GPA, PAGE, 0x77, "the clone's first page");
    expect_bytes(ram + DATA_GPA + 2 * PAGE, 3 * PAGE, 0x78, "the clone's run of pages");
    expect_bytes(ram + SLOT - PAGE, PAGE, 0x79, "the clone's last page");
    expect_bytes(ram + WINDOW, WINDOW_SZ, 0xbb, "the window");
    /* A pagemap that cannot be read is a reason, not a silent half copy. */
    assert_int_equal(kvm_memory_copy_private(-1, ram, DENALI_LOW_LIMIT, PAGE, pool.memfd, slot, err,
                                             sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "own pages"));
    close(pagemap);
    ram_pool_put(&pool, ram);
    ram_pool_destroy(&pool);
    close(snap.memfd);
}

struct kernel_read {
    int pipe_fd;
    uint8_t *into;
    ssize_t got;
};

static void *read_from_pipe(void *arg)
{
    struct kernel_read *r = arg;
    r->got = read(r->pipe_fd, r->into, 16);
    return NULL;
}

/*
 * KVM meets a paged-out page inside the kernel: so does read() into it.
 * The userfaultfd must report that fault, and the page put in must be
 * what the kernel then writes into.
 */
static void test_userfault_sees_kernel_faults(void **state)
{
    (void)state;
    struct ram_pool pool;
    assert_int_equal(ram_pool_init(&pool, SLOT, 1, true), 0);
    uint8_t *ram = ram_pool_get(&pool);
    char err[160] = "";
    int uffd = kvm_memory_userfault(ram, SLOT, err, sizeof(err));
    if (uffd < 0 && strstr(err, "Operation not permitted")) {
        ram_pool_destroy(&pool);
        skip();
    }
    assert_true(uffd >= 0);
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(write(pipe_fds[1], "sixteen bytes!!!", 16), 16);
    struct kernel_read r = {.pipe_fd = pipe_fds[0], .into = ram + DATA_GPA + 8};
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, read_from_pipe, &r), 0);
    struct pollfd pfd = {.fd = uffd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 10000), 1);
    struct uffd_msg msg;
    assert_int_equal(read(uffd, &msg, sizeof(msg)), (ssize_t)sizeof(msg));
    assert_int_equal(msg.event, UFFD_EVENT_PAGEFAULT);
    assert_int_equal(msg.arg.pagefault.address & ~(uint64_t)(PAGE - 1),
                     (uint64_t)(uintptr_t)(ram + DATA_GPA));
    static _Alignas(4096) uint8_t page[PAGE];
    memset(page, 0x5a, PAGE);
    struct uffdio_copy copy = {.dst = (uint64_t)(uintptr_t)(ram + DATA_GPA),
                               .src = (uint64_t)(uintptr_t)page,
                               .len = PAGE};
    assert_int_equal(ioctl(uffd, UFFDIO_COPY, &copy), 0);
    pthread_join(reader, NULL);
    assert_int_equal(r.got, 16);
    expect_bytes(ram + DATA_GPA, 8, 0x5a, "the page put in");
    assert_memory_equal(ram + DATA_GPA + 8, "sixteen bytes!!!", 16);
    /* Below DENALI_LOW_LIMIT are the platform's own pages: never registered. */
    ram[DENALI_PAGETABLE_ADDR] = 1;
    close(uffd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    ram_pool_destroy(&pool);
}

/* Reference bits: pages touched since the last forget, as the monitor's page tables show. */
static void test_reference_bits(void **state)
{
    (void)state;
    struct ram_pool pool;
    assert_int_equal(ram_pool_init(&pool, SLOT, 1, true), 0);
    uint8_t *ram = ram_pool_get(&pool);
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    assert_true(pagemap >= 0);
    uint64_t pages = 4;
    uint8_t bits[4];
    memset(ram + DATA_GPA, 1, 2 * PAGE);
    kvm_memory_forget_references(ram, SLOT);
    assert_int_equal(kvm_memory_referenced(pagemap, ram, DATA_GPA, pages, bits), 0);
    for (uint64_t i = 0; i < pages; i++)
        assert_int_equal(bits[i], 0);
    /*
     * Forgetting keeps the bytes: a shared pool's memfd holds them. A write
     * marks its page alone; a read fault would map its neighbours in the
     * page cache too (the kernel's fault-around), so reads count coarsely.
     */
    ram[DATA_GPA + PAGE + 5] = 2;
    assert_int_equal(ram[DATA_GPA + PAGE + 5], 2);
    assert_int_equal(kvm_memory_referenced(pagemap, ram, DATA_GPA, pages, bits), 0);
    assert_int_equal(bits[0], 0);
    assert_int_equal(bits[1], 1);
    assert_int_equal(bits[2], 0);
    assert_int_equal(kvm_memory_referenced(-1, ram, DATA_GPA, pages, bits), -1);
    close(pagemap);
    ram_pool_destroy(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clone_view_shared_pool),
        cmocka_unit_test(test_clone_view_private_pool),
        cmocka_unit_test(test_bad_snapshots_refused),
        cmocka_unit_test(test_clone_own_pages_gathered),
        cmocka_unit_test(test_userfault_sees_kernel_faults),
        cmocka_unit_test(test_reference_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
