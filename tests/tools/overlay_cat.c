/* Writes a disk as a kept overlay shows it (BASE with OVERLAY's blocks over it) to stdout, reading
 * the overlay only as docs/DISK_FORMAT.md describes it: usage overlay_cat BASE OVERLAY. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The header's fixed fields, little-endian, at these offsets (docs/DISK_FORMAT.md). */
static uint64_t field64(const uint8_t *h, unsigned offset)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)h[offset + i] << (8 * i);
    return v;
}

static uint32_t field32(const uint8_t *h, unsigned offset)
{
    return (uint32_t)field64(h, offset) & 0xffffffffu;
}

static int read_at(int fd, uint8_t *buf, size_t len, uint64_t offset)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(offset + done));
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: overlay_cat BASE OVERLAY > DISK\n");
        return 2;
    }
    int base = open(argv[1], O_RDONLY), ov = open(argv[2], O_RDONLY);
    if (base < 0 || ov < 0) {
        perror("overlay_cat: open");
        return 2;
    }
    uint8_t h[4096];
    if (read_at(ov, h, sizeof(h), 0) < 0 || memcmp(h, "DENALIOV", 8) != 0 || field32(h, 8) != 1) {
        fprintf(stderr, "overlay_cat: %s is not a version 1 Denali overlay\n", argv[2]);
        return 1;
    }
    uint32_t block = field32(h, 12);
    uint64_t disk_bytes = field64(h, 16), map_offset = field64(h, 24), map_bytes = field64(h, 32);
    uint64_t data_offset = field64(h, 40);
    struct stat st;
    uint64_t blocks = block ? (disk_bytes + block - 1) / block : 0;
    if (block == 0 || block > (1u << 20) || fstat(base, &st) < 0 ||
        (uint64_t)st.st_size != disk_bytes || map_bytes != (blocks + 7) / 8) {
        fprintf(stderr, "overlay_cat: %s does not match base %s\n", argv[2], argv[1]);
        return 1;
    }
    uint8_t *map = malloc(map_bytes), *buf = malloc(block);
    if (!map || !buf || read_at(ov, map, map_bytes, map_offset) < 0) {
        fprintf(stderr, "overlay_cat: cannot read the map\n");
        return 1;
    }
    for (uint64_t b = 0; b * block < disk_bytes; b++) {
        uint64_t at = b * block;
        size_t len = disk_bytes - at < block ? (size_t)(disk_bytes - at) : block;
        int in_overlay = (map[b / 8] >> (b % 8)) & 1;
        int rc = in_overlay ? read_at(ov, buf, len, data_offset + at) : read_at(base, buf, len, at);
        if (rc < 0 || fwrite(buf, 1, len, stdout) != len) {
            fprintf(stderr, "overlay_cat: cannot read block %llu\n", (unsigned long long)b);
            return 1;
        }
    }
    return 0;
}
