/* Test-only stand-in for the block ring driver (built only while libos/disk.c does not exist): one disk from an image linked into the guest. */
#include <stdbool.h>
#include <string.h>

#include "ilwaco_disk.h"
#include "internal.h"

/*
 * A test guest that wants a disk links in an image between these symbols
 * (and may say it is read-only); every other guest has no disk, as before.
 */
extern const unsigned char ilwaco_stub_disk_image[] __attribute__((weak));
extern const unsigned char ilwaco_stub_disk_image_end[] __attribute__((weak));
extern const int ilwaco_stub_disk_read_only __attribute__((weak));

/* The image is linked read-only; the first write moves it to heap pages. */
static unsigned char *writable_copy;

static uint64_t image_sectors(void)
{
    if (!ilwaco_stub_disk_image || !ilwaco_stub_disk_image_end)
        return 0;
    return (uint64_t)(ilwaco_stub_disk_image_end - ilwaco_stub_disk_image) / ILWACO_SECTOR_SIZE;
}

static bool image_read_only(void)
{
    return &ilwaco_stub_disk_read_only && ilwaco_stub_disk_read_only;
}

unsigned ilwaco_disk_count(void)
{
    return image_sectors() > 0 ? 1 : 0;
}

int ilwaco_disk_info(unsigned disk, uint64_t *sectors, bool *read_only)
{
    if (disk >= ilwaco_disk_count())
        return -DENALI_EINVAL;
    *sectors = image_sectors();
    *read_only = image_read_only();
    return 0;
}

static bool in_range(unsigned disk, uint64_t sector, size_t count)
{
    uint64_t total = image_sectors();
    return disk < ilwaco_disk_count() && sector <= total && count <= total - sector;
}

int ilwaco_disk_read(unsigned disk, uint64_t sector, void *buf, size_t count)
{
    if (!in_range(disk, sector, count))
        return -DENALI_EINVAL;
    const unsigned char *from = writable_copy ? writable_copy : ilwaco_stub_disk_image;
    memcpy(buf, from + sector * ILWACO_SECTOR_SIZE, count * ILWACO_SECTOR_SIZE);
    return 0;
}

int ilwaco_disk_write(unsigned disk, uint64_t sector, const void *buf, size_t count)
{
    if (!in_range(disk, sector, count))
        return -DENALI_EINVAL;
    if (image_read_only())
        return -DENALI_EROFS;
    if (!writable_copy) {
        size_t size = (size_t)(image_sectors() * ILWACO_SECTOR_SIZE);
        uintptr_t pages = ilwaco_pages_alloc((size + 4095) & ~(size_t)4095);
        if (!pages)
            return -DENALI_EIO;
        writable_copy = (unsigned char *)pages;
        memcpy(writable_copy, ilwaco_stub_disk_image, size);
    }
    memcpy(writable_copy + sector * ILWACO_SECTOR_SIZE, buf, count * ILWACO_SECTOR_SIZE);
    return 0;
}

int ilwaco_disk_flush(unsigned disk)
{
    return disk < ilwaco_disk_count() ? 0 : -DENALI_EINVAL;
}
