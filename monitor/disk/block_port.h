/* One VM's block ring: its requests served from the area in its memory, every field checked. */
#ifndef DENALI_BLOCK_PORT_H
#define DENALI_BLOCK_PORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "denali/abi.h"

struct guest_memory;

/* What the VM's disks are, as its virtual registers tell it. */
struct block_geometry {
    unsigned count;
    uint64_t sectors[DENALI_DISKS_MAX];
    bool read_only[DENALI_DISKS_MAX];
};

/* Where checked requests go: bytes at byte offsets of a disk. 0, or -1 when the host failed. */
struct block_backend {
    int (*read)(void *ctx, unsigned disk, uint64_t offset, void *dst, size_t len);
    int (*write)(void *ctx, unsigned disk, uint64_t offset, const void *src, size_t len);
    int (*flush)(void *ctx, unsigned disk);
    void *ctx;
};

/* A VM's traffic, readable from any thread. */
struct block_counters {
    _Atomic uint64_t requests;
    _Atomic uint64_t read_bytes;
    _Atomic uint64_t written_bytes;
    _Atomic uint64_t errors; /* requests answered with a status other than 0 */
};

struct block_port {
    struct denali_blk_area *area;   /* host view of the guest's area; NULL: not attached */
    const struct guest_memory *mem; /* the VM's, for paging the data back in before use */
    uint64_t gpa;                   /* the area's guest address */
    uint32_t req_consumed;          /* the monitor's own copies: never read back from the guest */
    uint32_t rsp_produced;
    struct block_counters *counters;
};

enum block_attach_result { BLOCK_ATTACH_OK, BLOCK_ATTACH_EINVAL, BLOCK_ATTACH_FAULT };

/* Registers the guest's area at gpa; FAULT means the guest cannot write it all. */
enum block_attach_result block_port_attach(struct block_port *port, const struct guest_memory *mem,
                                           uint64_t gpa, uint64_t size);
void block_port_detach(struct block_port *port);

/* The status a request gets before it touches a disk: 0 when it may go on (pure). */
int32_t block_request_check(const struct denali_blk_request *req, const struct block_geometry *geo);

/*
 * Serves every pending request the response ring has room for, in order,
 * from the VM's own worker. Returns the responses posted, or -1 with
 * *reason when the guest's counters are garbage (the caller stops the VM).
 */
int block_port_serve(struct block_port *port, const struct block_geometry *geo,
                     const struct block_backend *backend, const char **reason);

/*
 * The VM is hibernated (not running): when every request was served and
 * every response consumed, gives the area's data pages back through
 * release (abi.h: the data is then no longer the guest's). ram is the VM's
 * memory (the area's gpa is its offset in it). Returns the pages released,
 * or -1 when release failed.
 */
long block_port_trim(struct block_port *port, const uint8_t *ram,
                     int (*release)(void *ctx, uint64_t gpa, uint64_t len), void *ctx);

#endif
