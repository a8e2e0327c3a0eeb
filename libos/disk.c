/* ilwaco's driver for the Denali virtual disks: requests through the block ring of abi.h. */
#include <ilwaco_disk.h>
#include <string.h>

#include "internal.h"

_Static_assert(ILWACO_SECTOR_SIZE == DENALI_SECTOR_SIZE, "one sector size for guest and monitor");

#define DATA_SECTORS (DENALI_BLK_DATA_SIZE / DENALI_SECTOR_SIZE)

static struct denali_blk_area *area;
static uint64_t next_id = 1;

static uint32_t load_acquire(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

unsigned ilwaco_disk_count(void)
{
    uint32_t count = ilwaco__vregs()->disk_count;
    return count < DENALI_DISKS_MAX ? count : DENALI_DISKS_MAX;
}

int ilwaco_disk_info(unsigned disk, uint64_t *sectors, bool *read_only)
{
    if (disk >= ilwaco_disk_count())
        return -DENALI_EINVAL;
    const volatile struct denali_disk_info *info = &ilwaco__vregs()->disks[disk];
    if (sectors)
        *sectors = info->sectors;
    if (read_only)
        *read_only = (info->flags & DENALI_DISK_READ_ONLY) != 0;
    return 0;
}

/* The area is registered at the first request (or before a ready call), never given back. */
static int attach(void)
{
    if (area)
        return 0;
    if (ilwaco_disk_count() == 0)
        return -DENALI_ENODEV;
    uintptr_t mem = ilwaco_pages_alloc(DENALI_BLK_AREA_SIZE);
    if (!mem)
        return -DENALI_EIO;
    long r = ilwaco__hc(DENALI_HC_BLK_ATTACH, mem, DENALI_BLK_AREA_SIZE, 0);
    if (r < 0) {
        ilwaco_pages_free(mem, DENALI_BLK_AREA_SIZE);
        return (int)r;
    }
    area = (struct denali_blk_area *)mem;
    return 0;
}

void ilwaco_disk_before_ready(void)
{
    (void)attach();
}

/*
 * Queues one request, whose data is at byte offset data of the area. The
 * caller never has more than DENALI_BLK_SLOTS outstanding: it waits for a
 * batch before the next.
 */
static void queue(uint8_t op, unsigned disk, uint64_t sector, uint32_t count, uint32_t data)
{
    /* Only we write req_produced, so a plain read of it is current. */
    uint32_t prod = area->req_produced;
    struct denali_blk_request *req = &area->requests[prod % DENALI_BLK_SLOTS];
    *req = (struct denali_blk_request){
        .op = op, .disk = (uint8_t)disk, .count = count, .sector = sector, .data = data};
    req->id = next_id++;
    store_release(&area->req_produced, prod + 1);
}

/* Waits until every queued request is answered; the first failure's status, or 0. */
static int wait_all(void)
{
    int first_error = 0;
    uint32_t want = area->req_produced;
    uint32_t cons = area->rsp_consumed;
    while (cons != want) {
        uint32_t prod = load_acquire(&area->rsp_produced);
        if (prod == cons) {
            /* The idle's exit serves the ring, and it returns at once with DENALI_EVENT_BLK. */
            ilwaco_idle(DENALI_DEADLINE_NONE);
            continue;
        }
        for (; cons != prod && cons != want; cons++) {
            int32_t status = area->responses[cons % DENALI_BLK_SLOTS].status;
            if (status != 0 && first_error == 0)
                first_error = status < 0 ? status : -DENALI_EIO;
        }
        store_release(&area->rsp_consumed, cons);
    }
    return first_error;
}

static int check(unsigned disk, uint64_t sector, size_t count, bool write)
{
    uint64_t sectors;
    bool read_only;
    if (ilwaco_disk_info(disk, &sectors, &read_only) < 0)
        return -DENALI_EINVAL;
    if (count > sectors || sector > sectors - count)
        return -DENALI_EINVAL;
    if (write && read_only)
        return -DENALI_EROFS;
    return attach();
}

/*
 * Moves count sectors in batches of at most the area's data: each batch is
 * one exit, whatever the number of requests in it. Reads copy out of the
 * area after their batch, writes into it before.
 */
static int transfer(uint8_t op, unsigned disk, uint64_t sector, uint8_t *buf, size_t count)
{
    int rc = check(disk, sector, count, op == DENALI_BLK_WRITE);
    if (rc < 0)
        return rc;
    while (count > 0) {
        uint32_t batch = count < DATA_SECTORS ? (uint32_t)count : DATA_SECTORS;
        size_t bytes = (size_t)batch * DENALI_SECTOR_SIZE;
        if (op == DENALI_BLK_WRITE)
            memcpy(area->data, buf, bytes);
        queue(op, disk, sector, batch, 0);
        rc = wait_all();
        if (rc < 0)
            return rc;
        if (op == DENALI_BLK_READ)
            memcpy(buf, area->data, bytes);
        buf += bytes;
        sector += batch;
        count -= batch;
    }
    return 0;
}

int ilwaco_disk_read(unsigned disk, uint64_t sector, void *buf, size_t count)
{
    return transfer(DENALI_BLK_READ, disk, sector, buf, count);
}

int ilwaco_disk_write(unsigned disk, uint64_t sector, const void *buf, size_t count)
{
    /* Only read from: transfer's buffer is written for reads alone. */
    return transfer(DENALI_BLK_WRITE, disk, sector, (uint8_t *)(uintptr_t)buf, count);
}

int ilwaco_disk_flush(unsigned disk)
{
    int rc = check(disk, 0, 0, false);
    if (rc < 0)
        return rc;
    queue(DENALI_BLK_FLUSH, disk, 0, 0, 0);
    return wait_all();
}
