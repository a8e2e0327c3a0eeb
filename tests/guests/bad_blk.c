/* Test guest: a block ring with malformed requests or counters; bad requests must come back as
 * errors, bad counters or areas must stop the VM, and other VMs must not notice. */
#include <stdlib.h>
#include <string.h>

#include <ilwaco_disk.h>

#include "test_guest.h"

static struct denali_blk_area *area;

static void queue(uint8_t op, uint8_t disk, uint64_t sector, uint32_t count, uint32_t data)
{
    uint32_t prod = area->req_produced;
    area->requests[prod % DENALI_BLK_SLOTS] = (struct denali_blk_request){
        .op = op, .disk = disk, .count = count, .sector = sector, .data = data, .id = prod};
    __atomic_store_n(&area->req_produced, prod + 1, __ATOMIC_RELEASE);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "requests";
    /* started() without its ready call, which would attach ilwaco's own area first. */
    printf("bad_blk: started\n");
    fflush(stdout);
    if (ilwaco_vregs()->vm_id != 0)
        run_healthy("bad_blk");
    if (strcmp(mode, "area") == 0) {
        /* Past the end of memory: the monitor cannot let it write there. */
        long r = ilwaco_hypercall(DENALI_HC_BLK_ATTACH, ilwaco_vregs()->mem_size - 4096,
                                  DENALI_BLK_AREA_SIZE, 0);
        return survived("bad_blk", r);
    }
    area = aligned_alloc(4096, DENALI_BLK_AREA_SIZE);
    if (!area)
        return 2;
    memset(area, 0, DENALI_BLK_AREA_SIZE);
    long r = ilwaco_hypercall(DENALI_HC_BLK_ATTACH, (uintptr_t)area, DENALI_BLK_AREA_SIZE, 0);
    if (r != 0) {
        printf("bad_blk: attach: %ld\n", r);
        return 2;
    }
    if (strcmp(mode, "produced") == 0) {
        __atomic_store_n(&area->req_produced, DENALI_BLK_SLOTS + 5, __ATOMIC_RELEASE);
        return survived("bad_blk", ilwaco_hypercall(DENALI_HC_BLK_KICK, 0, 0, 0));
    }
    if (strcmp(mode, "consumed") == 0) {
        queue(DENALI_BLK_READ, 0, 0, 1, 0);
        __atomic_store_n(&area->rsp_consumed, 1000, __ATOMIC_RELEASE);
        return survived("bad_blk", ilwaco_hypercall(DENALI_HC_BLK_KICK, 0, 0, 0));
    }
    /* requests: each malformed one gets its error; the one good read still works. */
    uint64_t sectors;
    bool ro;
    ilwaco_disk_info(0, &sectors, &ro);
    queue(DENALI_BLK_READ, 0, sectors, 1, 0);              /* past the end */
    queue(DENALI_BLK_READ, 0, UINT64_MAX - 1, 4, 0);       /* sector + count overflows */
    queue(DENALI_BLK_READ, 0, 0, 1, DENALI_BLK_DATA_SIZE); /* data outside the area */
    queue(DENALI_BLK_READ, 0, 0, 0xffffffffu, 0);          /* count far too big */
    queue(9, 0, 0, 1, 0);                                  /* no such op */
    queue(DENALI_BLK_READ, 200, 0, 1, 0);                  /* no such disk */
    queue(DENALI_BLK_WRITE, 0, 0, 1, 0);                   /* read-only disk */
    queue(DENALI_BLK_READ, 0, 0, 1, 512);                  /* fine */
    const int32_t want[] = {-DENALI_EINVAL, -DENALI_EINVAL, -DENALI_EINVAL, -DENALI_EINVAL,
                            -DENALI_EINVAL, -DENALI_EINVAL, -DENALI_EROFS,  0};
    ilwaco_idle(DENALI_DEADLINE_NONE);
    uint32_t got = __atomic_load_n(&area->rsp_produced, __ATOMIC_ACQUIRE);
    int bad = got != 8;
    for (unsigned i = 0; i < 8 && i < got; i++) {
        if (area->responses[i].status != want[i] || area->responses[i].id != i) {
            printf("bad_blk: response %u: id %llu status %d, expected %d\n", i,
                   (unsigned long long)area->responses[i].id, area->responses[i].status, want[i]);
            bad = 1;
        }
    }
    printf("bad_blk: %u responses, %s\n", got, bad ? "WRONG" : "all as expected");
    return bad;
}
