/* A `--disk` image: its base file, shared read-only by every VM, and one VM's view of it. */
#include "disk/disk_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "denali/abi.h"
#include "util/full_io.h"

int disk_base_open(struct disk_base *base, const char *path, bool read_only, char *err,
                   size_t errlen)
{
    memset(base, 0, sizeof(*base));
    base->path = path;
    base->read_only = read_only;
    /* Never opened for writing: VMs write only their overlays. */
    base->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (base->fd < 0) {
        snprintf(err, errlen, "--disk %s: %s", path, strerror(errno));
        return -1;
    }
    const char *wrong = NULL;
    if (fstat(base->fd, &base->st) < 0)
        wrong = strerror(errno);
    else if (!S_ISREG(base->st.st_mode))
        wrong = "not a regular file";
    else if (base->st.st_size == 0)
        wrong = "empty";
    else if (base->st.st_size % DENALI_SECTOR_SIZE != 0)
        wrong = "its size is not a multiple of 512 bytes";
    if (wrong) {
        snprintf(err, errlen, "--disk %s: %s", path, wrong);
        close(base->fd);
        base->fd = -1;
        return -1;
    }
    base->bytes = (uint64_t)base->st.st_size;
    return 0;
}

void disk_base_close(struct disk_base *base)
{
    if (base->fd >= 0)
        close(base->fd);
    base->fd = -1;
}

void disk_view_init(struct disk_view *view, const struct disk_base *base, char *overlay_path)
{
    memset(view, 0, sizeof(*view));
    view->base = base;
    view->overlay_path = overlay_path;
    view->overlay.fd = -1;
}

/* Where block's bytes are in this view: 2 the VM's own overlay, 1 the lower layer, 0 the base. */
static int source_of(const struct disk_view *view, uint64_t block)
{
    if (view->has_overlay && overlay_has(&view->overlay, block))
        return 2;
    return view->lower && overlay_has(view->lower, block) ? 1 : 0;
}

static int read_from(const struct disk_view *view, int source, uint8_t *dst, size_t len,
                     uint64_t offset)
{
    if (source == 2)
        return pread_full(view->overlay.fd, dst, len, view->overlay.data_offset + offset);
    if (source == 1)
        return pread_full(view->lower->fd, dst, len, view->lower->data_offset + offset);
    return pread_full(view->base->fd, dst, len, offset);
}

int disk_view_read(struct disk_view *view, uint64_t offset, void *dst, size_t len)
{
    uint8_t *out = dst;
    if (!view->has_overlay && !view->lower)
        return pread_full(view->base->fd, out, len, offset);
    /* Runs of blocks from the same file, one pread each. */
    uint64_t end = offset + len;
    for (uint64_t at = offset; at < end;) {
        int source = source_of(view, at / OVERLAY_BLOCK_SIZE);
        uint64_t run_end = (at / OVERLAY_BLOCK_SIZE + 1) * OVERLAY_BLOCK_SIZE;
        while (run_end < end && source_of(view, run_end / OVERLAY_BLOCK_SIZE) == source)
            run_end += OVERLAY_BLOCK_SIZE;
        if (run_end > end)
            run_end = end;
        if (read_from(view, source, out + (at - offset), run_end - at, at) < 0)
            return -1;
        at = run_end;
    }
    return 0;
}

/* A block the write covers only in part, not yet in the overlay: the base's copy goes there first.
 */
static int populate(struct disk_view *view, uint64_t block, uint64_t offset, uint64_t end)
{
    struct overlay *ov = &view->overlay;
    uint64_t start = block * OVERLAY_BLOCK_SIZE;
    uint64_t stop = start + OVERLAY_BLOCK_SIZE;
    if (stop > ov->disk_bytes)
        stop = ov->disk_bytes;
    if (overlay_has(ov, block) || (offset <= start && end >= stop))
        return 0;
    uint8_t buf[OVERLAY_BLOCK_SIZE];
    if (read_from(view, source_of(view, block), buf, stop - start, start) < 0)
        return -1;
    return pwrite_full(ov->fd, buf, stop - start, ov->data_offset + start);
}

int disk_view_write(struct disk_view *view, uint64_t offset, const void *src, size_t len)
{
    if (view->base->read_only || len == 0)
        return -1;
    if (!view->has_overlay) {
        char err[256];
        if (overlay_create(&view->overlay, view->overlay_path, view->base->bytes, view->base->path,
                           &view->base->st, err, sizeof(err)) < 0) {
            /* The guest gets -DENALI_EIO each time; the host's operator hears it once a run. */
            static atomic_bool said;
            if (!atomic_exchange(&said, true))
                fprintf(stderr, "denali: %s (writes fail with EIO)\n", err);
            return -1;
        }
        view->has_overlay = true;
    }
    struct overlay *ov = &view->overlay;
    uint64_t end = offset + len;
    uint64_t first = offset / OVERLAY_BLOCK_SIZE, last = (end - 1) / OVERLAY_BLOCK_SIZE;
    if (populate(view, first, offset, end) < 0 ||
        (last != first && populate(view, last, offset, end) < 0))
        return -1;
    view->unsynced = true;
    if (pwrite_full(ov->fd, src, len, ov->data_offset + offset) < 0)
        return -1;
    overlay_mark(ov, first, last);
    return 0;
}

int disk_view_flush(struct disk_view *view)
{
    /* A guest flushing in a loop must not make the host's storage sync for nothing. */
    if (!view->has_overlay || !view->unsynced)
        return 0;
    if (overlay_sync(&view->overlay, true) < 0)
        return -1;
    view->unsynced = false;
    return 0;
}

int disk_view_freeze(struct disk_view *view, struct overlay *frozen, const char *frozen_path)
{
    if (!view->has_overlay)
        return 0;
    /* Its map on file too, so that a kept template is as readable as any overlay. */
    if (overlay_sync(&view->overlay, false) < 0 || rename(view->overlay_path, frozen_path) < 0)
        return -1;
    *frozen = view->overlay;
    memset(&view->overlay, 0, sizeof(view->overlay));
    view->overlay.fd = -1;
    view->has_overlay = false;
    view->unsynced = false;
    view->lower = frozen;
    return 1;
}

void disk_view_close(struct disk_view *view, bool keep)
{
    if (view->has_overlay) {
        overlay_close(&view->overlay, keep);
        if (!keep)
            unlink(view->overlay_path);
    }
    view->has_overlay = false;
    free(view->overlay_path);
    view->overlay_path = NULL;
}
