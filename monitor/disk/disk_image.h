/* A `--disk` image: its base file, shared read-only by every VM, and one VM's view of it. */
#ifndef DENALI_DISK_IMAGE_H
#define DENALI_DISK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "disk/overlay.h"

struct disk_base {
    int fd; /* opened read-only, once: every VM's reads share the host's page cache */
    const char *path;
    uint64_t bytes; /* a multiple of the sector size */
    bool read_only; /* `,ro`: no VM may write it; else each VM writes its own overlay */
    struct stat st;
};

/* Opens path; 0, or -1 with a one-line reason (missing, not a regular file, empty, odd size). */
int disk_base_open(struct disk_base *base, const char *path, bool read_only, char *err,
                   size_t errlen);
void disk_base_close(struct disk_base *base);

/*
 * One VM's view of a disk: the base, with the blocks it wrote over it. The
 * overlay file is made at the first write, so a VM that only reads costs
 * no file. A clone's view has a layer between the two: what its template
 * wrote before the snapshot (read-only, shared by every clone).
 */
struct disk_view {
    const struct disk_base *base;
    const struct overlay *lower; /* the template's frozen overlay, or NULL */
    char *overlay_path;          /* where the overlay goes (owned) */
    bool has_overlay;
    bool unsynced; /* written since the last flush: a flush with nothing to sync costs nothing */
    struct overlay overlay;
};

void disk_view_init(struct disk_view *view, const struct disk_base *base, char *overlay_path);
/*
 * Reads or writes len bytes at offset (both multiples of the sector size,
 * within the disk: the caller checked). 0, or -1 when the host failed.
 */
int disk_view_read(struct disk_view *view, uint64_t offset, void *dst, size_t len);
int disk_view_write(struct disk_view *view, uint64_t offset, const void *src, size_t len);
/* Everything written so far on stable storage; 0 or -1. */
int disk_view_flush(struct disk_view *view);
/*
 * The VM was snapshotted for clones: its overlay (if it wrote) becomes
 * frozen, a read-only layer renamed to frozen_path, under this view and
 * every clone's; the view starts a fresh overlay at its next write. 1 when
 * there was one, 0 when not, -1 when it could not be moved.
 */
int disk_view_freeze(struct disk_view *view, struct overlay *frozen, const char *frozen_path);
/* The VM ended: its overlay is closed, and removed unless kept. */
void disk_view_close(struct disk_view *view, bool keep);

#endif
