/* One VM's copy-on-write overlay of one disk: a sparse file of the blocks it wrote, and their map.
 */
#include "disk/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/full_io.h"

int overlay_create(struct overlay *ov, const char *path, uint64_t disk_bytes, const char *base_path,
                   const struct stat *base_st, char *err, size_t errlen)
{
    memset(ov, 0, sizeof(*ov));
    ov->fd = -1;
    ov->disk_bytes = disk_bytes;
    ov->blocks = (disk_bytes + OVERLAY_BLOCK_SIZE - 1) / OVERLAY_BLOCK_SIZE;
    ov->map_bytes = (ov->blocks + 7) / 8;
    uint64_t map_end = OVERLAY_HEADER_SIZE + ov->map_bytes;
    ov->data_offset = (map_end + OVERLAY_BLOCK_SIZE - 1) / OVERLAY_BLOCK_SIZE * OVERLAY_BLOCK_SIZE;
    ov->map = calloc(1, ov->map_bytes ? ov->map_bytes : 1);
    if (!ov->map) {
        snprintf(err, errlen, "overlay %s: out of memory for its map", path);
        return -1;
    }
    ov->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (ov->fd < 0) {
        snprintf(err, errlen, "overlay %s: %s", path, strerror(errno));
        free(ov->map);
        ov->map = NULL;
        return -1;
    }
    struct overlay_header h = {.version = OVERLAY_VERSION,
                               .block_size = OVERLAY_BLOCK_SIZE,
                               .disk_bytes = disk_bytes,
                               .map_offset = OVERLAY_HEADER_SIZE,
                               .map_bytes = ov->map_bytes,
                               .data_offset = ov->data_offset,
                               .base_mtime_ns = (uint64_t)base_st->st_mtim.tv_sec * 1000000000ull +
                                                (uint64_t)base_st->st_mtim.tv_nsec};
    memcpy(h.magic, OVERLAY_MAGIC, sizeof(h.magic));
    snprintf(h.base_path, sizeof(h.base_path), "%s", base_path);
    /* The file's size covers every block, so that reading its holes gives zeros, never EOF. */
    if (pwrite_full(ov->fd, &h, sizeof(h), 0) < 0 ||
        ftruncate(ov->fd, (off_t)(ov->data_offset + disk_bytes)) < 0) {
        snprintf(err, errlen, "overlay %s: %s", path, strerror(errno));
        close(ov->fd);
        free(ov->map);
        ov->map = NULL;
        ov->fd = -1;
        return -1;
    }
    ov->dirty_lo = ov->map_bytes;
    return 0;
}

bool overlay_has(const struct overlay *ov, uint64_t block)
{
    return block < ov->blocks && (ov->map[block / 8] >> (block % 8)) & 1u;
}

void overlay_mark(struct overlay *ov, uint64_t first, uint64_t last)
{
    for (uint64_t b = first; b <= last && b < ov->blocks; b++) {
        if (overlay_has(ov, b))
            continue;
        ov->map[b / 8] |= (uint8_t)(1u << (b % 8));
        ov->written_blocks++;
        if (b / 8 < ov->dirty_lo)
            ov->dirty_lo = b / 8;
        if (b / 8 + 1 > ov->dirty_hi)
            ov->dirty_hi = b / 8 + 1;
    }
}

int overlay_sync(struct overlay *ov, bool durable)
{
    if (ov->dirty_lo >= ov->dirty_hi)
        return durable && fdatasync(ov->fd) < 0 ? -1 : 0;
    /*
     * The blocks' data must be on storage before the map that says they are
     * there: after a crash a set bit always has its data behind it, and a
     * block whose bit did not make it reads from the base, as before.
     */
    if (durable && fdatasync(ov->fd) < 0)
        return -1;
    if (pwrite_full(ov->fd, ov->map + ov->dirty_lo, ov->dirty_hi - ov->dirty_lo,
                    OVERLAY_HEADER_SIZE + ov->dirty_lo) < 0)
        return -1;
    ov->dirty_lo = ov->map_bytes;
    ov->dirty_hi = 0;
    return durable && fdatasync(ov->fd) < 0 ? -1 : 0;
}

void overlay_close(struct overlay *ov, bool keep)
{
    if (ov->fd >= 0) {
        if (keep)
            (void)overlay_sync(ov, false);
        close(ov->fd);
    }
    ov->fd = -1;
    free(ov->map);
    ov->map = NULL;
}
