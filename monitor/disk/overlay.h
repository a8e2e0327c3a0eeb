/* One VM's copy-on-write overlay of one disk: a sparse file of the blocks it wrote, and their map.
 */
#ifndef DENALI_OVERLAY_H
#define DENALI_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * The file (docs/DISK_FORMAT.md): a header page, a bitmap of the blocks
 * written (bit b of byte b / 8, least significant first), then the disk's
 * bytes at data_offset + their offset on the disk, present only for blocks
 * whose bit is set. Never-written blocks are holes and cost nothing.
 */
#define OVERLAY_MAGIC       "DENALIOV"
#define OVERLAY_VERSION     1u
#define OVERLAY_BLOCK_SIZE  4096u
#define OVERLAY_HEADER_SIZE 4096u

struct overlay_header {
    char magic[8];
    uint32_t version;
    uint32_t block_size;
    uint64_t disk_bytes;       /* the disk's size: the base's when the overlay was made */
    uint64_t map_offset;       /* where the bitmap starts (OVERLAY_HEADER_SIZE) */
    uint64_t map_bytes;        /* (blocks + 7) / 8 */
    uint64_t data_offset;      /* a multiple of the block size */
    uint64_t base_mtime_ns;    /* the base's modification time then, to tell a changed base */
    char base_path[4096 - 56]; /* the base's path as given to --disk, NUL-terminated */
};
_Static_assert(sizeof(struct overlay_header) == OVERLAY_HEADER_SIZE, "overlay header page");

struct overlay {
    int fd;
    uint64_t disk_bytes;
    uint64_t blocks;
    uint64_t data_offset;
    uint8_t *map; /* the bitmap as it is in memory: ahead of the file's until a sync */
    uint64_t map_bytes;
    uint64_t dirty_lo, dirty_hi; /* the map's bytes not yet in the file: [lo, hi) */
    uint64_t written_blocks;
};

/* Creates (truncating) the overlay file at path for a disk of disk_bytes; 0 or -1 with a reason. */
int overlay_create(struct overlay *ov, const char *path, uint64_t disk_bytes, const char *base_path,
                   const struct stat *base_st, char *err, size_t errlen);
bool overlay_has(const struct overlay *ov, uint64_t block);
/* Marks blocks [first, last] written (in memory; the file's map follows at the next sync). */
void overlay_mark(struct overlay *ov, uint64_t first, uint64_t last);
/* Writes the map's changes; then, when durable, fdatasync. Data first, map after: see the doc. */
int overlay_sync(struct overlay *ov, bool durable);
/* Closes it: its map written first when kept. */
void overlay_close(struct overlay *ov, bool keep);

#endif
