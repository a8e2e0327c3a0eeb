/* Unit tests for the block ring: every malformed request or counter a guest can write, no disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "denali/abi.h"
#include "disk/block_port.h"
#include "image/guest_layout.h"
#include "test_elf.h"

#define MEM_SIZE  (2ull << 20)
#define AREA_GPA  0x180000ull
#define DISK0_SEC 1000u
#define DISK1_SEC 64u

/* The backend's log: what reached the disks, and whether to fail. */
struct calls {
    unsigned reads, writes, flushes;
    unsigned last_disk;
    uint64_t last_offset;
    size_t last_len;
    bool fail;
};

struct ctx {
    struct test_elf elf;
    struct elf_image image;
    struct guest_layout layout;
    uint8_t *ram;
    struct guest_memory mem;
    struct block_port port;
    struct block_counters counters;
    struct block_geometry geo;
    struct block_backend backend;
    struct calls calls;
    struct denali_blk_area *area;
};

static int fake_read(void *ctx, unsigned disk, uint64_t offset, void *dst, size_t len)
{
    struct calls *c = ctx;
    c->reads++;
    c->last_disk = disk;
    c->last_offset = offset;
    c->last_len = len;
    memset(dst, 0xab, len);
    return c->fail ? -1 : 0;
}

static int fake_write(void *ctx, unsigned disk, uint64_t offset, const void *src, size_t len)
{
    (void)src;
    struct calls *c = ctx;
    c->writes++;
    c->last_disk = disk;
    c->last_offset = offset;
    c->last_len = len;
    return c->fail ? -1 : 0;
}

static int fake_flush(void *ctx, unsigned disk)
{
    struct calls *c = ctx;
    c->flushes++;
    c->last_disk = disk;
    return c->fail ? -1 : 0;
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    char err[256];
    test_elf_standard(&c->elf);
    test_elf_finish(&c->elf);
    c->ram = calloc(1, MEM_SIZE);
    if (!c->ram || elf_image_parse(c->elf.bytes, c->elf.size, &c->image, err, sizeof(err)) != 0 ||
        guest_layout_plan(&c->image, MEM_SIZE, &c->layout, err, sizeof(err)) != 0)
        return -1;
    c->mem = (struct guest_memory){.layout = &c->layout, .ram = c->ram, .file = c->elf.bytes};
    c->port.counters = &c->counters;
    c->geo = (struct block_geometry){
        .count = 2, .sectors = {DISK0_SEC, DISK1_SEC}, .read_only = {false, true}};
    c->backend = (struct block_backend){
        .read = fake_read, .write = fake_write, .flush = fake_flush, .ctx = &c->calls};
    c->area = (struct denali_blk_area *)(c->ram + AREA_GPA);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    test_elf_free(&c->elf);
    free(c->ram);
    free(c);
    return 0;
}

static void attach(struct ctx *c)
{
    assert_int_equal(block_port_attach(&c->port, &c->mem, AREA_GPA, DENALI_BLK_AREA_SIZE),
                     BLOCK_ATTACH_OK);
}

/* Queues a request as a guest would; returns its slot's id. */
static uint64_t queue(struct ctx *c, uint8_t op, uint8_t disk, uint64_t sector, uint32_t count,
                      uint32_t data)
{
    uint32_t prod = c->area->req_produced;
    uint64_t id = 100 + prod;
    c->area->requests[prod % DENALI_BLK_SLOTS] = (struct denali_blk_request){
        .op = op, .disk = disk, .count = count, .sector = sector, .data = data, .id = id};
    c->area->req_produced = prod + 1;
    return id;
}

/* Serves one request alone and returns its status, checking the response carries its id. */
static int32_t serve_one(struct ctx *c, uint8_t op, uint8_t disk, uint64_t sector, uint32_t count,
                         uint32_t data)
{
    uint64_t id = queue(c, op, disk, sector, count, data);
    const char *reason = NULL;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 1);
    assert_null(reason);
    uint32_t at = c->area->rsp_produced - 1;
    assert_int_equal(c->area->responses[at % DENALI_BLK_SLOTS].id, id);
    c->area->rsp_consumed = c->area->rsp_produced;
    return c->area->responses[at % DENALI_BLK_SLOTS].status;
}

static void test_attach_checks_the_area(void **state)
{
    struct ctx *c = *state;
    /* Beyond memory, wrapping, or in the image's read-only text: the VM is stopped. */
    assert_int_equal(block_port_attach(&c->port, &c->mem, MEM_SIZE - 4096, DENALI_BLK_AREA_SIZE),
                     BLOCK_ATTACH_FAULT);
    assert_int_equal(block_port_attach(&c->port, &c->mem, UINT64_MAX - 4095, DENALI_BLK_AREA_SIZE),
                     BLOCK_ATTACH_FAULT);
    assert_int_equal(block_port_attach(&c->port, &c->mem, DENALI_IMAGE_BASE, DENALI_BLK_AREA_SIZE),
                     BLOCK_ATTACH_FAULT);
    assert_int_equal(block_port_attach(&c->port, &c->mem, 0, DENALI_BLK_AREA_SIZE),
                     BLOCK_ATTACH_FAULT);
    /* Misaligned or the wrong size: refused, the VM goes on. */
    assert_int_equal(block_port_attach(&c->port, &c->mem, AREA_GPA + 8, DENALI_BLK_AREA_SIZE),
                     BLOCK_ATTACH_EINVAL);
    assert_int_equal(block_port_attach(&c->port, &c->mem, AREA_GPA, DENALI_BLK_AREA_SIZE - 4096),
                     BLOCK_ATTACH_EINVAL);
    assert_null(c->port.area);
    attach(c);
    assert_int_equal(block_port_attach(&c->port, &c->mem, AREA_GPA, DENALI_BLK_AREA_SIZE),
                     BLOCK_ATTACH_EINVAL);
}

static void test_attach_starts_from_the_guests_counters(void **state)
{
    struct ctx *c = *state;
    /* Requests queued before the attach are not served: only the guest's own side is trusted. */
    c->area->req_produced = 7;
    c->area->rsp_consumed = 7;
    c->area->req_consumed = 12345;
    attach(c);
    assert_int_equal(c->area->req_consumed, 7);
    assert_int_equal(c->area->rsp_produced, 7);
    const char *reason = NULL;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 0);
    assert_int_equal(c->calls.reads, 0);
}

static void test_a_batch_is_served_in_order(void **state)
{
    struct ctx *c = *state;
    attach(c);
    uint64_t ids[5];
    ids[0] = queue(c, DENALI_BLK_READ, 0, 10, 8, 0);
    ids[1] = queue(c, DENALI_BLK_WRITE, 0, 20, 16, 4096);
    ids[2] = queue(c, DENALI_BLK_FLUSH, 0, 0, 0, 0);
    ids[3] = queue(c, DENALI_BLK_READ, 1, DISK1_SEC - 1, 1, DENALI_BLK_DATA_SIZE - 512);
    ids[4] = queue(c, DENALI_BLK_READ, 0, 0, DENALI_BLK_DATA_SIZE / 512, 0);
    const char *reason = NULL;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 5);
    assert_int_equal(c->area->req_consumed, 5);
    assert_int_equal(c->area->rsp_produced, 5);
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(c->area->responses[i].id, ids[i]);
        assert_int_equal(c->area->responses[i].status, 0);
    }
    assert_int_equal(c->calls.reads, 3);
    assert_int_equal(c->calls.writes, 1);
    assert_int_equal(c->calls.flushes, 1);
    assert_int_equal(c->calls.last_offset, 0);
    assert_int_equal(c->calls.last_len, DENALI_BLK_DATA_SIZE);
    /* Reads land in the area's data, where the request pointed. */
    assert_int_equal(c->area->data[DENALI_BLK_DATA_SIZE - 1], 0xab);
    assert_int_equal(atomic_load(&c->counters.requests), 5);
    assert_int_equal(atomic_load(&c->counters.written_bytes), 16 * 512);
    assert_int_equal(atomic_load(&c->counters.errors), 0);
    /* Nothing more pending: nothing more served. */
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 0);
}

static void test_sectors_outside_the_disk_are_refused(void **state)
{
    struct ctx *c = *state;
    attach(c);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, DISK0_SEC, 1, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, DISK0_SEC - 1, 2, 0), -DENALI_EINVAL);
    /* sector + count overflows 64 bits: still refused, never wrapped into range. */
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, UINT64_MAX - 1, 4, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_WRITE, 0, UINT64_MAX, 1, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 0, UINT32_MAX, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 0, 0, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 1, DISK1_SEC, 1, 0), -DENALI_EINVAL);
    /* The last sector itself is fine. */
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, DISK0_SEC - 1, 1, 0), 0);
    assert_int_equal(c->calls.reads, 1);
    assert_int_equal(c->calls.writes, 0);
    assert_int_equal(atomic_load(&c->counters.errors), 7);
}

static void test_data_outside_the_area_is_refused(void **state)
{
    struct ctx *c = *state;
    attach(c);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 0, 1, DENALI_BLK_DATA_SIZE), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 0, 2, DENALI_BLK_DATA_SIZE - 512),
                     -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 0, 1, UINT32_MAX - 511), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 0, 1, 100), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_WRITE, 0, 0, DENALI_BLK_DATA_SIZE / 512 + 1, 0),
                     -DENALI_EINVAL);
    assert_int_equal(c->calls.reads + c->calls.writes, 0);
}

static void test_bad_ops_and_disks_are_refused(void **state)
{
    struct ctx *c = *state;
    attach(c);
    assert_int_equal(serve_one(c, 0, 0, 0, 1, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, 4, 0, 0, 1, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, 255, 0, 0, 1, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 2, 0, 1, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_FLUSH, 7, 0, 0, 0), -DENALI_EINVAL);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 255, 0, 1, 0), -DENALI_EINVAL);
    assert_int_equal(c->calls.reads + c->calls.writes + c->calls.flushes, 0);
}

static void test_write_to_read_only_disk(void **state)
{
    struct ctx *c = *state;
    attach(c);
    assert_int_equal(serve_one(c, DENALI_BLK_WRITE, 1, 0, 1, 0), -DENALI_EROFS);
    assert_int_equal(c->calls.writes, 0);
    /* Reading and flushing it are fine. */
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 1, 0, 1, 0), 0);
    assert_int_equal(serve_one(c, DENALI_BLK_FLUSH, 1, 0, 0, 0), 0);
}

static void test_host_failure_is_eio(void **state)
{
    struct ctx *c = *state;
    attach(c);
    c->calls.fail = true;
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 0, 1, 0), -DENALI_EIO);
    assert_int_equal(serve_one(c, DENALI_BLK_WRITE, 0, 0, 1, 0), -DENALI_EIO);
    assert_int_equal(serve_one(c, DENALI_BLK_FLUSH, 0, 0, 0, 0), -DENALI_EIO);
}

static void test_garbage_counters_stop_the_vm(void **state)
{
    struct ctx *c = *state;
    attach(c);
    const char *reason = NULL;
    c->area->req_produced = DENALI_BLK_SLOTS + 1;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), -1);
    assert_non_null(reason);
    assert_int_equal(c->calls.reads, 0);
    /* Behind the monitor (a counter wound back) looks just as far ahead. */
    c->area->req_produced = UINT32_MAX;
    reason = NULL;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), -1);
    assert_non_null(reason);
    /* Responses consumed that were never produced. */
    c->area->req_produced = 1;
    c->area->rsp_consumed = 5;
    reason = NULL;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), -1);
    assert_non_null(reason);
    assert_int_equal(c->calls.reads + c->calls.writes + c->calls.flushes, 0);
}

static void test_full_response_ring_leaves_requests_pending(void **state)
{
    struct ctx *c = *state;
    attach(c);
    const char *reason = NULL;
    for (unsigned i = 0; i < DENALI_BLK_SLOTS; i++)
        queue(c, DENALI_BLK_READ, 0, i, 1, 0);
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason),
                     (int)DENALI_BLK_SLOTS);
    /* The guest has consumed none of the responses yet: the next request waits. */
    queue(c, DENALI_BLK_READ, 0, 0, 1, 0);
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 0);
    assert_int_equal(c->area->req_consumed, DENALI_BLK_SLOTS);
    c->area->rsp_consumed = 1;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 1);
    assert_null(reason);
}

/* A paged VM's data pages are brought back before the monitor touches them. */
struct resident_calls {
    unsigned calls;
    uint64_t gpa, len;
    bool fail;
};

static int fake_make_resident(void *ctx, uint64_t gpa, uint64_t len)
{
    struct resident_calls *r = ctx;
    r->calls++;
    r->gpa = gpa;
    r->len = len;
    return r->fail ? -1 : 0;
}

static void test_data_is_made_resident_first(void **state)
{
    struct ctx *c = *state;
    struct resident_calls r = {0};
    c->mem.make_resident = fake_make_resident;
    c->mem.resident_ctx = &r;
    attach(c);
    r.calls = 0;
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 3, 4, 8192), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.gpa, AREA_GPA + 4096 + 8192);
    assert_int_equal(r.len, 4 * 512);
    /* A flush touches no data; a refused request never gets that far. */
    assert_int_equal(serve_one(c, DENALI_BLK_FLUSH, 0, 0, 0, 0), 0);
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, DISK0_SEC, 1, 0), -DENALI_EINVAL);
    assert_int_equal(r.calls, 1);
    /* Pages the pager could not bring back: the request fails, the disk is not touched. */
    r.fail = true;
    unsigned reads = c->calls.reads;
    assert_int_equal(serve_one(c, DENALI_BLK_READ, 0, 3, 4, 0), -DENALI_EIO);
    assert_int_equal(c->calls.reads, reads);
}

/* What block_port_trim gave back. */
struct released {
    uint64_t gpa, len;
    unsigned calls;
};

static int record_release(void *ctx, uint64_t gpa, uint64_t len)
{
    struct released *r = ctx;
    r->gpa = gpa;
    r->len = len;
    r->calls++;
    return 0;
}

/* Hibernated with nothing in flight, a VM's data pages go back; with anything in flight, none. */
static void test_trim_gives_back_idle_data_only(void **state)
{
    struct ctx *c = *state;
    attach(c);
    struct released r = {0};
    queue(c, DENALI_BLK_READ, 0, 0, 8, 0);
    assert_int_equal(block_port_trim(&c->port, c->ram, record_release, &r), 0); /* not served */
    const char *reason = NULL;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 1);
    assert_int_equal(block_port_trim(&c->port, c->ram, record_release, &r), 0); /* not consumed */
    assert_int_equal(r.calls, 0);
    c->area->rsp_consumed = c->area->rsp_produced;
    assert_int_equal(block_port_trim(&c->port, c->ram, record_release, &r),
                     DENALI_BLK_DATA_SIZE / DENALI_PAGE_SIZE);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.gpa, AREA_GPA + offsetof(struct denali_blk_area, data));
    assert_int_equal(r.len, DENALI_BLK_DATA_SIZE);
    /* A garbage counter is treated as something in flight. */
    c->area->rsp_consumed += 5;
    assert_int_equal(block_port_trim(&c->port, c->ram, record_release, &r), 0);
    assert_int_equal(r.calls, 1);
}

static void test_detached_port_serves_nothing(void **state)
{
    struct ctx *c = *state;
    attach(c);
    block_port_detach(&c->port);
    queue(c, DENALI_BLK_READ, 0, 0, 1, 0);
    const char *reason = NULL;
    assert_int_equal(block_port_serve(&c->port, &c->geo, &c->backend, &reason), 0);
    assert_int_equal(c->calls.reads, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_attach_checks_the_area, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_starts_from_the_guests_counters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_batch_is_served_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sectors_outside_the_disk_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_outside_the_area_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_ops_and_disks_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_to_read_only_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_failure_is_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_counters_stop_the_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_response_ring_leaves_requests_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_data_is_made_resident_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_gives_back_idle_data_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detached_port_serves_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
