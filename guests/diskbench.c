/* Example guest: times reads of its disk 0 on the virtual clock, sequential or at random offsets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ilwaco.h>
#include <ilwaco_disk.h>

/* The random offsets: bench/disk_floor.c draws the same sequence from the same seed. */
static uint64_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 17;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "seq") != 0 && strcmp(argv[1], "rand") != 0)) {
        fprintf(stderr, "usage: diskbench seq|rand KIB COUNT\n");
        return 2;
    }
    bool sequential = strcmp(argv[1], "seq") == 0;
    uint64_t kib = strtoull(argv[2], NULL, 10), count = strtoull(argv[3], NULL, 10);
    uint64_t sectors;
    if (ilwaco_disk_info(0, &sectors, NULL) < 0 || kib == 0 || kib * 2 > sectors) {
        fprintf(stderr, "diskbench: no disk 0, or it is smaller than one read\n");
        return 2;
    }
    size_t per = (size_t)kib * 2; /* sectors per read */
    uint64_t slots = sectors / per;
    uint8_t *buf = malloc(per * ILWACO_SECTOR_SIZE);
    if (!buf)
        return 2;
    /* One read first: the area is attached and t0 is a time the monitor wrote just now. */
    if (ilwaco_disk_read(0, 0, buf, per) < 0)
        return 1;
    uint64_t state = 1, sum = 0;
    uint64_t t0 = ilwaco_time_ns();
    for (uint64_t i = 0; i < count; i++) {
        uint64_t slot = sequential ? i % slots : next_random(&state) % slots;
        int rc = ilwaco_disk_read(0, slot * per, buf, per);
        if (rc < 0) {
            fprintf(stderr, "diskbench: read %llu failed: %d\n", (unsigned long long)i, rc);
            return 1;
        }
        sum += buf[(i * 977) % (per * ILWACO_SECTOR_SIZE)];
    }
    uint64_t ns = ilwaco_time_ns() - t0;
    printf("diskbench: %s %llu KiB x %llu in %llu ns: %.1f MB/s, %.2f us a read (sum %llu)\n",
           argv[1], (unsigned long long)kib, (unsigned long long)count, (unsigned long long)ns,
           ns ? kib * 1024.0 * count * 1e3 / ns : 0.0, ns / 1e3 / (count ? count : 1),
           (unsigned long long)sum);
    return 0;
}
