/* disk.sh's floor: the same reads as guests/diskbench.c, by pread of the image on the host. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"

static uint64_t next_random(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 17;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "seq") != 0 && strcmp(argv[1], "rand") != 0)) {
        fprintf(stderr, "usage: disk_floor seq|rand KIB COUNT IMAGE\n");
        return 2;
    }
    int sequential = strcmp(argv[1], "seq") == 0;
    uint64_t kib = strtoull(argv[2], NULL, 10), count = strtoull(argv[3], NULL, 10);
    int fd = open(argv[4], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || kib == 0 || (uint64_t)st.st_size < kib * 1024) {
        perror("disk_floor: the image");
        return 2;
    }
    size_t per = (size_t)kib * 1024;
    uint64_t slots = (uint64_t)st.st_size / per;
    uint8_t *buf = malloc(per);
    if (!buf || pread(fd, buf, per, 0) != (ssize_t)per)
        return 1;
    uint64_t state = 1, sum = 0;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        uint64_t slot = sequential ? i % slots : next_random(&state) % slots;
        if (pread(fd, buf, per, (off_t)(slot * per)) != (ssize_t)per) {
            perror("disk_floor: pread");
            return 1;
        }
        sum += buf[(i * 977) % per];
    }
    uint64_t ns = bench_now_ns() - t0;
    printf("FLOOR disk_%s kib=%llu reads=%llu ns=%llu mb_s=%.1f us_per_read=%.2f sum=%llu\n",
           argv[1], (unsigned long long)kib, (unsigned long long)count, (unsigned long long)ns,
           ns ? per * (double)count * 1e3 / ns : 0.0, ns / 1e3 / (count ? count : 1),
           (unsigned long long)sum);
    return 0;
}
