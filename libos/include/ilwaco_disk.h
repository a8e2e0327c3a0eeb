/* Virtual disks as ilwaco gives them to guests: 512-byte sectors moved through the block ring. */
#ifndef ILWACO_DISK_H
#define ILWACO_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ILWACO_SECTOR_SIZE 512u

/* How many disks this VM has, in the order `--disk` gave them; 0 when none. */
unsigned ilwaco_disk_count(void);

/* Disk's size in sectors and whether it is read-only; 0, or a negative DENALI_E* code. */
int ilwaco_disk_info(unsigned disk, uint64_t *sectors, bool *read_only);

/*
 * Reads or writes count sectors starting at sector, as few ring requests as
 * the ring allows, waiting (in idle) for their completions. 0, or a negative
 * DENALI_E* code: -DENALI_EINVAL for a range outside the disk or a bad disk,
 * -DENALI_EROFS for a write to a read-only disk, -DENALI_EIO when the host
 * could not do it.
 */
int ilwaco_disk_read(unsigned disk, uint64_t sector, void *buf, size_t count);
int ilwaco_disk_write(unsigned disk, uint64_t sector, const void *buf, size_t count);

/* Everything written to disk so far is on the host's storage (the overlay) when this returns 0. */
int ilwaco_disk_flush(unsigned disk);

#endif
