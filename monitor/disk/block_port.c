/* One VM's block ring: its requests served from the area in its memory, every field checked. */
#include "disk/block_port.h"

#include <stddef.h>
#include <string.h>

#include "image/guest_layout.h"

enum block_attach_result block_port_attach(struct block_port *port, const struct guest_memory *mem,
                                           uint64_t gpa, uint64_t size)
{
    /* Memory safety first, as for every hypercall: an area the guest cannot write stops it. */
    if (!guest_range_ok(mem, gpa, size, true))
        return BLOCK_ATTACH_FAULT;
    if (size != DENALI_BLK_AREA_SIZE || gpa % DENALI_PAGE_SIZE != 0 || port->area)
        return BLOCK_ATTACH_EINVAL;
    /* The monitor reads and writes it from now on: it must be in memory (and is never paged). */
    if (guest_make_resident(mem, gpa, size) < 0)
        return BLOCK_ATTACH_FAULT;
    struct denali_blk_area *area = (struct denali_blk_area *)(mem->ram + gpa);
    /* Start from whatever the guest's counters say; only the guest's own side is trusted. */
    port->req_consumed = __atomic_load_n(&area->req_produced, __ATOMIC_ACQUIRE);
    port->rsp_produced = __atomic_load_n(&area->rsp_consumed, __ATOMIC_ACQUIRE);
    __atomic_store_n(&area->req_consumed, port->req_consumed, __ATOMIC_RELEASE);
    __atomic_store_n(&area->rsp_produced, port->rsp_produced, __ATOMIC_RELEASE);
    port->area = area;
    port->mem = mem;
    port->gpa = gpa;
    return BLOCK_ATTACH_OK;
}

void block_port_detach(struct block_port *port)
{
    port->area = NULL;
}

int32_t block_request_check(const struct denali_blk_request *req, const struct block_geometry *geo)
{
    if (req->disk >= geo->count)
        return -DENALI_EINVAL;
    switch (req->op) {
    case DENALI_BLK_FLUSH:
        return 0;
    case DENALI_BLK_READ:
    case DENALI_BLK_WRITE:
        break;
    default:
        return -DENALI_EINVAL;
    }
    uint64_t sectors = geo->sectors[req->disk];
    /* Written so that nothing overflows: sector + count may not even be representable. */
    if (req->count == 0 || req->count > sectors || req->sector > sectors - req->count)
        return -DENALI_EINVAL;
    if (req->data % DENALI_SECTOR_SIZE != 0 || req->data > DENALI_BLK_DATA_SIZE ||
        req->count > (DENALI_BLK_DATA_SIZE - req->data) / DENALI_SECTOR_SIZE)
        return -DENALI_EINVAL;
    if (req->op == DENALI_BLK_WRITE && geo->read_only[req->disk])
        return -DENALI_EROFS;
    return 0;
}

/* A checked request against the disks; its status. */
static int32_t perform(const struct block_port *port, const struct denali_blk_request *req,
                       const struct block_backend *backend)
{
    uint64_t offset = req->sector * DENALI_SECTOR_SIZE;
    size_t len = (size_t)req->count * DENALI_SECTOR_SIZE;
    uint8_t *data = port->area->data + req->data;
    struct block_counters *counters = port->counters;
    /*
     * A paged VM's pager may have taken the area's data pages (only the
     * header page is never paged): they come back through it before the
     * monitor's own copy touches them, or the pager would find them
     * reappeared behind its back.
     */
    if (req->op != DENALI_BLK_FLUSH &&
        guest_make_resident(
            port->mem, port->gpa + offsetof(struct denali_blk_area, data) + req->data, len) < 0)
        return -DENALI_EIO;
    switch (req->op) {
    case DENALI_BLK_READ:
        if (backend->read(backend->ctx, req->disk, offset, data, len) < 0)
            return -DENALI_EIO;
        if (counters)
            atomic_fetch_add(&counters->read_bytes, len);
        return 0;
    case DENALI_BLK_WRITE:
        if (backend->write(backend->ctx, req->disk, offset, data, len) < 0)
            return -DENALI_EIO;
        if (counters)
            atomic_fetch_add(&counters->written_bytes, len);
        return 0;
    default:
        return backend->flush(backend->ctx, req->disk) < 0 ? -DENALI_EIO : 0;
    }
}

long block_port_trim(struct block_port *port, const uint8_t *ram,
                     int (*release)(void *ctx, uint64_t gpa, uint64_t len), void *ctx)
{
    struct denali_blk_area *area = port->area;
    if (!area)
        return 0;
    /* The guest's own counters, read once: anything in flight keeps the data. */
    if (__atomic_load_n(&area->req_produced, __ATOMIC_ACQUIRE) != port->req_consumed ||
        __atomic_load_n(&area->rsp_consumed, __ATOMIC_ACQUIRE) != port->rsp_produced)
        return 0;
    uint64_t data = (uint64_t)((const uint8_t *)area->data - ram);
    if (release(ctx, data, sizeof(area->data)) < 0)
        return -1;
    return (long)(sizeof(area->data) / DENALI_PAGE_SIZE);
}

int block_port_serve(struct block_port *port, const struct block_geometry *geo,
                     const struct block_backend *backend, const char **reason)
{
    struct denali_blk_area *area = port->area;
    if (!area)
        return 0;
    uint32_t produced = __atomic_load_n(&area->req_produced, __ATOMIC_ACQUIRE);
    uint32_t pending = produced - port->req_consumed;
    if (pending == 0)
        return 0;
    if (pending > DENALI_BLK_SLOTS) {
        *reason = "blk: request ring holds more requests than it has slots";
        return -1;
    }
    uint32_t rsp_consumed = __atomic_load_n(&area->rsp_consumed, __ATOMIC_ACQUIRE);
    if (port->rsp_produced - rsp_consumed > DENALI_BLK_SLOTS) {
        *reason = "blk: response ring consumed past what was produced";
        return -1;
    }
    int served = 0;
    /* A full response ring leaves the rest pending until the guest makes room. */
    while (port->req_consumed != produced && port->rsp_produced - rsp_consumed < DENALI_BLK_SLOTS) {
        /* Copied once, then checked: the guest may rewrite the slot at any moment. */
        struct denali_blk_request req;
        memcpy(&req, &area->requests[port->req_consumed % DENALI_BLK_SLOTS], sizeof(req));
        int32_t status = block_request_check(&req, geo);
        if (status == 0)
            status = perform(port, &req, backend);
        struct denali_blk_response *rsp = &area->responses[port->rsp_produced % DENALI_BLK_SLOTS];
        rsp->id = req.id;
        rsp->status = status;
        rsp->pad = 0;
        if (port->counters) {
            atomic_fetch_add(&port->counters->requests, 1);
            if (status != 0)
                atomic_fetch_add(&port->counters->errors, 1);
        }
        port->req_consumed++;
        port->rsp_produced++;
        served++;
    }
    __atomic_store_n(&area->req_consumed, port->req_consumed, __ATOMIC_RELEASE);
    __atomic_store_n(&area->rsp_produced, port->rsp_produced, __ATOMIC_RELEASE);
    return served;
}
