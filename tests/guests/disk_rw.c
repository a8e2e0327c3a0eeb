/* Test guest: checks the pattern the host wrote into disk 0, writes its own, flushes, reads back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <ilwaco.h>
#include <ilwaco_disk.h>

#define SECTOR ILWACO_SECTOR_SIZE

/* Sector s of a disk made with seed: the line tests/integration/disk.sh's awk writes, repeated. */
static void pattern(uint8_t *out, uint64_t s, unsigned seed)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "denali disk sector %010llu seed %05u\n",
                     (unsigned long long)s, seed);
    for (unsigned i = 0; i < SECTOR; i++)
        out[i] = (uint8_t)line[i % (unsigned)n];
}

/* Sectors [first, first + count) hold seed's pattern; the first that does not, or -1. */
static long first_wrong(const uint8_t *buf, uint64_t first, size_t count, unsigned seed)
{
    uint8_t want[SECTOR];
    for (size_t i = 0; i < count; i++) {
        pattern(want, first + i, seed);
        if (memcmp(buf + i * SECTOR, want, SECTOR) != 0)
            return (long)(first + i);
    }
    return -1;
}

/* Reads the whole disk in chunks of chunk sectors, checking each sector against its seed. */
static int verify(unsigned disk, unsigned base_seed, uint64_t written_first, uint64_t written_count,
                  unsigned written_seed, size_t chunk)
{
    uint64_t sectors;
    bool ro;
    if (ilwaco_disk_info(disk, &sectors, &ro) < 0)
        return -1;
    uint8_t *buf = malloc(chunk * SECTOR);
    if (!buf)
        return -1;
    for (uint64_t s = 0; s < sectors; s += chunk) {
        size_t n = sectors - s < chunk ? (size_t)(sectors - s) : chunk;
        int rc = ilwaco_disk_read(disk, s, buf, n);
        if (rc < 0) {
            printf("disk_rw: read of %zu sectors at %llu failed: %d\n", n, (unsigned long long)s,
                   rc);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t at = s + i;
            bool mine = at >= written_first && at < written_first + written_count;
            if (first_wrong(buf + i * SECTOR, at, 1, mine ? written_seed : base_seed) >= 0) {
                printf("disk_rw: sector %llu is wrong (expected seed %u)\n", (unsigned long long)at,
                       mine ? written_seed : base_seed);
                return -1;
            }
        }
    }
    free(buf);
    return 0;
}

static int write_range(unsigned disk, uint64_t first, uint64_t count, unsigned seed)
{
    uint8_t *buf = malloc(count * SECTOR);
    if (!buf)
        return -1;
    for (uint64_t i = 0; i < count; i++)
        pattern(buf + i * SECTOR, first + i, seed);
    int rc = ilwaco_disk_write(disk, first, buf, count);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "verify";
    unsigned seed = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1;
    /*
     * netverify: verify, with the NIC attached first, so that a clone's
     * snapshot holds the NIC's window before the disks'.
     */
    if (strcmp(mode, "netverify") == 0) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        if (fd < 0) {
            printf("disk_rw: socket: %d\n", errno);
            return 1;
        }
        mode = "verify";
    }
    /*
     * clonewrite SEED NEWSEED: before the ready call, sectors 0-7 get
     * NEWSEED; after it, each VM (a clone, under --clone) writes sectors
     * 8-15 with NEWSEED + 1 + its id and checks it sees both, and the base
     * beyond.
     */
    if (strcmp(mode, "clonewrite") == 0 && argc > 3) {
        unsigned new_seed = (unsigned)strtoul(argv[3], NULL, 10);
        if (write_range(0, 0, 8, new_seed) < 0 || ilwaco_disk_flush(0) < 0)
            return 1;
        ilwaco_ready();
        unsigned vm = ilwaco_vregs()->vm_id;
        unsigned mine = new_seed + 1 + vm;
        uint8_t buf[32 * SECTOR];
        if (write_range(0, 8, 8, mine) < 0 || ilwaco_disk_flush(0) < 0 ||
            ilwaco_disk_read(0, 0, buf, 32) < 0)
            return 1;
        if (first_wrong(buf, 0, 8, new_seed) >= 0 ||
            first_wrong(buf + 8 * SECTOR, 8, 8, mine) >= 0 ||
            first_wrong(buf + 16 * SECTOR, 16, 16, seed) >= 0) {
            printf("disk_rw: vm %u does not see its template's write, its own, and the base\n", vm);
            return 1;
        }
        printf("disk_rw: vm %u sees its template's write, its own, and the base\n", vm);
        return 0;
    }
    /* Under --clone every VM is a clone from here on, its disks attached where VM 0's were. */
    ilwaco_ready();
    unsigned vm = ilwaco_vregs()->vm_id;
    if (ilwaco_disk_count() == 0) {
        printf("disk_rw: no disk\n");
        return 3;
    }
    uint64_t sectors;
    bool ro;
    ilwaco_disk_info(0, &sectors, &ro);
    printf("disk_rw: %u disks, disk 0 has %llu sectors%s\n", ilwaco_disk_count(),
           (unsigned long long)sectors, ro ? ", read-only" : "");
    /* Reads of odd sizes too: one sector at a time, a prime, more than the area holds. */
    if (strcmp(mode, "verify") == 0) {
        size_t chunks[] = {1, 7, 300, 2000};
        for (unsigned i = 0; i < 4; i++) {
            if (verify(0, seed, 0, 0, 0, chunks[i]) < 0)
                return 1;
        }
        printf("disk_rw: vm %u verified %llu sectors\n", vm, (unsigned long long)sectors);
        return 0;
    }
    /* sleepverify SEED: verify, sleep 2 s (long enough to be hibernated), verify again. */
    if (strcmp(mode, "sleepverify") == 0) {
        if (verify(0, seed, 0, 0, 0, 256) < 0)
            return 1;
        struct timespec two = {.tv_sec = 2};
        nanosleep(&two, NULL);
        if (verify(0, seed, 0, 0, 0, 256) < 0)
            return 1;
        printf("disk_rw: vm %u verified %llu sectors before and after sleeping\n", vm,
               (unsigned long long)sectors);
        return 0;
    }
    /* write SEED NEWSEED FIRST COUNT: writes, flushes, reads everything back. */
    if (strcmp(mode, "write") == 0 && argc > 5) {
        unsigned new_seed = (unsigned)strtoul(argv[3], NULL, 10);
        uint64_t first = strtoull(argv[4], NULL, 10), count = strtoull(argv[5], NULL, 10);
        int rc = write_range(0, first, count, new_seed);
        if (rc < 0) {
            printf("disk_rw: write failed: %d\n", rc);
            return 1;
        }
        rc = ilwaco_disk_flush(0);
        if (rc < 0) {
            printf("disk_rw: flush failed: %d\n", rc);
            return 1;
        }
        if (verify(0, seed, first, count, new_seed, 256) < 0)
            return 1;
        printf("disk_rw: vm %u wrote %llu sectors at %llu, flushed, read back intact\n", vm,
               (unsigned long long)count, (unsigned long long)first);
        return 0;
    }
    /* ro: a write to a read-only disk is refused, and the VM goes on. */
    if (strcmp(mode, "ro") == 0) {
        uint8_t buf[SECTOR] = {0};
        int rc = ilwaco_disk_write(0, 0, buf, 1);
        printf("disk_rw: write to read-only disk: %d (%s)\n", rc,
               rc == -DENALI_EROFS ? "EROFS" : "unexpected");
        return rc == -DENALI_EROFS && verify(0, seed, 0, 0, 0, 64) == 0 ? 0 : 1;
    }
    /* range: reads past the end are refused with EINVAL, not served. */
    if (strcmp(mode, "range") == 0) {
        uint8_t buf[2 * SECTOR];
        int past = ilwaco_disk_read(0, sectors, buf, 1);
        int across = ilwaco_disk_read(0, sectors - 1, buf, 2);
        int nodisk = ilwaco_disk_read(DENALI_DISKS_MAX, 0, buf, 1);
        printf("disk_rw: past the end %d, across it %d, no such disk %d\n", past, across, nodisk);
        return past == -DENALI_EINVAL && across == -DENALI_EINVAL && nodisk == -DENALI_EINVAL ? 0
                                                                                              : 1;
    }
    /*
     * writeloop SEED NEWSEED: one write of the first 8 sectors, flushed and
     * announced; then writes of the rest of the disk, round and round, until
     * the monitor ends the VM.
     */
    if (strcmp(mode, "writeloop") == 0 && argc > 3) {
        unsigned new_seed = (unsigned)strtoul(argv[3], NULL, 10);
        if (write_range(0, 0, 8, new_seed) < 0 || ilwaco_disk_flush(0) < 0)
            return 1;
        printf("disk_rw: vm %u flushed its first write\n", vm);
        fflush(stdout);
        for (uint64_t s = 8;; s = s + 64 < sectors ? s + 64 : 8) {
            uint64_t n = sectors - s < 64 ? sectors - s : 64;
            if (write_range(0, s, n, new_seed + 1) < 0)
                return 1;
        }
    }
    printf("disk_rw: unknown mode %s\n", mode);
    return 2;
}
