/* Disk 0's ext2 file system: libext2fs's I/O manager over ilwaco_disk, a small block cache, the
 * mount. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "ilwaco_disk.h"
#include "internal.h"

#define ROOT_DISK 0
/*
 * Blocks kept (write-through, so the cache never holds the only copy):
 * enough for the superblock, the group descriptors, the inode-table block
 * and the directory blocks a server's repeated lookups read again and again.
 */
#define CACHE_BLOCKS 16

struct cached_block {
    unsigned long long block; /* in the channel's current block size */
    uint64_t last_use;
    bool valid;
};

struct disk_channel {
    unsigned disk;
    uint64_t sectors;
    bool read_only;
    uint64_t use_clock;
    struct cached_block cache[CACHE_BLOCKS];
    char *cache_data; /* CACHE_BLOCKS blocks of block_size bytes */
};

/* Defined below, after the functions it points to; disk_open needs its address. */
static struct struct_io_manager disk_io_manager;

static int disk_errno(int err)
{
    if (err == -DENALI_EROFS)
        return EROFS;
    if (err == -DENALI_EINVAL)
        return EINVAL;
    return EIO;
}

/* Reads or writes len bytes at byte offset off, both whole sectors (as ext2fs's blocks are). */
static errcode_t disk_bytes(struct disk_channel *d, uint64_t off, void *buf, size_t len, bool write)
{
    if (off % ILWACO_SECTOR_SIZE == 0 && len % ILWACO_SECTOR_SIZE == 0) {
        uint64_t sector = off / ILWACO_SECTOR_SIZE;
        size_t count = len / ILWACO_SECTOR_SIZE;
        int r = write ? ilwaco_disk_write(d->disk, sector, buf, count)
                      : ilwaco_disk_read(d->disk, sector, buf, count);
        return r < 0 ? disk_errno(r) : 0;
    }
    /* Only write_byte, which this manager does not offer, would ask for part of a sector. */
    return EXT2_ET_UNIMPLEMENTED;
}

static char *cache_slot_data(struct disk_channel *d, io_channel ch, unsigned i)
{
    return d->cache_data + (size_t)i * (size_t)ch->block_size;
}

static int cache_find(struct disk_channel *d, unsigned long long block)
{
    for (unsigned i = 0; i < CACHE_BLOCKS; i++)
        if (d->cache[i].valid && d->cache[i].block == block)
            return (int)i;
    return -1;
}

static void cache_put(struct disk_channel *d, io_channel ch, unsigned long long block,
                      const void *data)
{
    if (!d->cache_data)
        return;
    int i = cache_find(d, block);
    if (i < 0) {
        i = 0;
        for (unsigned j = 1; j < CACHE_BLOCKS; j++) {
            if (!d->cache[i].valid)
                break;
            if (!d->cache[j].valid || d->cache[j].last_use < d->cache[i].last_use)
                i = (int)j;
        }
    }
    memcpy(cache_slot_data(d, ch, (unsigned)i), data, (size_t)ch->block_size);
    d->cache[i] = (struct cached_block){block, ++d->use_clock, true};
}

static void cache_reset(struct disk_channel *d, io_channel ch)
{
    free(d->cache_data);
    memset(d->cache, 0, sizeof d->cache);
    d->cache_data = malloc((size_t)CACHE_BLOCKS * (size_t)ch->block_size);
}

static errcode_t disk_open(const char *name, int flags, io_channel *out)
{
    unsigned disk = ROOT_DISK;
    if (sscanf(name, "disk%u", &disk) != 1)
        return EXT2_ET_BAD_DEVICE_NAME;
    struct disk_channel *d = calloc(1, sizeof *d);
    io_channel ch = calloc(1, sizeof *ch);
    char *copy = strdup(name);
    if (!d || !ch || !copy) {
        free(d);
        free(ch);
        free(copy);
        return EXT2_ET_NO_MEMORY;
    }
    d->disk = disk;
    int r = ilwaco_disk_info(disk, &d->sectors, &d->read_only);
    if (r < 0 || ((flags & IO_FLAG_RW) && d->read_only)) {
        free(d);
        free(ch);
        free(copy);
        return r < 0 ? disk_errno(r) : EROFS;
    }
    ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
    ch->manager = &disk_io_manager;
    ch->name = copy;
    ch->block_size = 1024;
    ch->refcount = 1;
    ch->private_data = d;
    cache_reset(d, ch);
    *out = ch;
    return 0;
}

static errcode_t disk_close(io_channel ch)
{
    if (--ch->refcount > 0)
        return 0;
    struct disk_channel *d = ch->private_data;
    free(d->cache_data);
    free(d);
    free(ch->name);
    free(ch);
    return 0;
}

static errcode_t disk_set_blksize(io_channel ch, int blksize)
{
    if (blksize <= 0 || blksize % (int)ILWACO_SECTOR_SIZE != 0)
        return EXT2_ET_INVALID_ARGUMENT;
    if (ch->block_size != blksize) {
        ch->block_size = blksize;
        cache_reset(ch->private_data, ch);
    }
    return 0;
}

/* ext2fs's convention: a negative count is a length in bytes, a positive one in blocks. */
static size_t io_length(io_channel ch, int count)
{
    return count < 0 ? (size_t)-count : (size_t)count * (size_t)ch->block_size;
}

static errcode_t disk_read64(io_channel ch, unsigned long long block, int count, void *data)
{
    struct disk_channel *d = ch->private_data;
    if (count == 1 && d->cache_data) {
        int i = cache_find(d, block);
        if (i >= 0) {
            d->cache[i].last_use = ++d->use_clock;
            memcpy(data, cache_slot_data(d, ch, (unsigned)i), (size_t)ch->block_size);
            return 0;
        }
    }
    errcode_t err =
        disk_bytes(d, block * (uint64_t)ch->block_size, data, io_length(ch, count), false);
    if (err == 0 && count == 1)
        cache_put(d, ch, block, data);
    return err;
}

static errcode_t disk_write64(io_channel ch, unsigned long long block, int count, const void *data)
{
    struct disk_channel *d = ch->private_data;
    size_t len = io_length(ch, count);
    errcode_t err = disk_bytes(d, block * (uint64_t)ch->block_size, (void *)data, len, true);
    /*
     * Keep every cached block the write covered equal to the disk: a whole
     * one takes the new bytes; one covered in part, or by a write that
     * failed (the disk may hold some of it), is dropped.
     */
    unsigned long long blocks = (len + (size_t)ch->block_size - 1) / (size_t)ch->block_size;
    for (unsigned long long b = 0; b < blocks; b++) {
        int i = cache_find(d, block + b);
        if (i < 0)
            continue;
        if (err == 0 && (b + 1) * (unsigned long long)ch->block_size <= len)
            memcpy(cache_slot_data(d, ch, (unsigned)i), (const char *)data + b * ch->block_size,
                   (size_t)ch->block_size);
        else
            d->cache[i].valid = false;
    }
    return err;
}

static errcode_t disk_read(io_channel ch, unsigned long block, int count, void *data)
{
    return disk_read64(ch, block, count, data);
}

static errcode_t disk_write(io_channel ch, unsigned long block, int count, const void *data)
{
    return disk_write64(ch, block, count, data);
}

static errcode_t disk_flush(io_channel ch)
{
    struct disk_channel *d = ch->private_data;
    if (d->read_only)
        return 0;
    int r = ilwaco_disk_flush(d->disk);
    return r < 0 ? disk_errno(r) : 0;
}

static errcode_t disk_set_option(io_channel ch, const char *option, const char *arg)
{
    (void)ch, (void)option, (void)arg;
    return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager disk_io_manager = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "ilwaco disk I/O manager",
    .open = disk_open,
    .close = disk_close,
    .set_blksize = disk_set_blksize,
    .read_blk = disk_read,
    .write_blk = disk_write,
    .flush = disk_flush,
    .set_option = disk_set_option,
    .read_blk64 = disk_read64,
    .write_blk64 = disk_write64,
};

/* ---- The mount ---- */

static ext2_filsys mounted;
static bool mount_tried;
/*
 * A VM has no wall clock: its time counts from the monitor's start. File
 * times go on from the latest time the superblock records instead (the
 * image's making, or its last write), so they stay plausible dates, and a
 * freed inode's dtime is never mistaken by e2fsck for an orphan-list link.
 */
static time_t time_base, guest_time_at_mount;
static long mount_error; /* what every file call returns when there is no file system */

static void say(const char *what, errcode_t err)
{
    char line[160];
    int n = snprintf(line, sizeof line, "ilwaco: disk 0: %s (%s)\n", what, error_message(err));
    if (n > 0)
        ilwaco_console_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void mount_root(void)
{
    mount_tried = true;
    mount_error = -ENOENT;
    if (ilwaco_disk_count() == 0)
        return;
    uint64_t sectors;
    bool read_only;
    if (ilwaco_disk_info(ROOT_DISK, &sectors, &read_only) < 0)
        return;
    int flags = EXT2_FLAG_64BITS | (read_only ? 0 : EXT2_FLAG_RW);
    ext2_filsys fs;
    errcode_t err = ext2fs_open2("disk0", NULL, flags, 0, 0, &disk_io_manager, &fs);
    if (err) {
        say("no ext2 file system to mount at /", err);
        mount_error = -EIO;
        return;
    }
    /* Allocation needs the bitmaps; a read-only mount never allocates and saves their memory. */
    if (!read_only) {
        err = ext2fs_read_bitmaps(fs);
        if (err) {
            say("cannot read the allocation bitmaps", err);
            ext2fs_close_free(&fs);
            mount_error = -EIO;
            return;
        }
    }
    /* Modes are given whole by the caller; no umask applies inside a VM. */
    fs->umask = 0;
    time_base = (time_t)fs->super->s_mkfs_time;
    if ((time_t)fs->super->s_wtime > time_base)
        time_base = (time_t)fs->super->s_wtime;
    if ((time_t)fs->super->s_mtime > time_base)
        time_base = (time_t)fs->super->s_mtime;
    guest_time_at_mount = time(NULL);
    mounted = fs;
    mount_error = 0;
}

long ilwaco_fs_get(ext2_filsys *fs)
{
    if (!mount_tried)
        mount_root();
    if (mounted)
        mounted->now = ilwaco_fs_now();
    *fs = mounted;
    return mount_error;
}

time_t ilwaco_fs_now(void)
{
    time_t t = time_base + (time(NULL) - guest_time_at_mount);
    return t > 0 ? t : 1;
}

int ilwaco_fs_errno(errcode_t err)
{
    /* Below the com_err tables' base, a code is an errno (ours, or libext2fs's own). */
    if (err > 0 && err < 256)
        return (int)err;
    switch (err) {
    case EXT2_ET_FILE_NOT_FOUND:
        return ENOENT;
    case EXT2_ET_RO_FILSYS:
        return EROFS;
    case EXT2_ET_FILE_RO:
        return EBADF;
    case EXT2_ET_NO_MEMORY:
        return ENOMEM;
    case EXT2_ET_BLOCK_ALLOC_FAIL:
    case EXT2_ET_INODE_ALLOC_FAIL:
    case EXT2_ET_DIR_NO_SPACE:
    case EXT2_ET_TOOSMALL:
        return ENOSPC;
    case EXT2_ET_NO_DIRECTORY:
        return ENOTDIR;
    case EXT2_ET_DIR_EXISTS:
    case EXT2_ET_FILE_EXISTS:
        return EEXIST;
    case EXT2_ET_SYMLINK_LOOP:
        return ELOOP;
    case EXT2_ET_FILE_TOO_BIG:
        return EFBIG;
    case EXT2_ET_INVALID_ARGUMENT:
        return EINVAL;
    default:
        return EIO;
    }
}

long ilwaco_fs_flush(void)
{
    if (!mounted || !(mounted->flags & EXT2_FLAG_RW))
        return 0;
    /* ext2fs_flush writes the superblocks, descriptors and bitmaps, then flushes the channel. */
    errcode_t err = ext2fs_flush(mounted);
    return err ? -ilwaco_fs_errno(err) : 0;
}

void ilwaco_fs_unmount(void)
{
    if (!mounted)
        return;
    ilwaco_vnode_close_all(mounted);
    errcode_t err = ext2fs_close_free(&mounted);
    if (err)
        say("writing the file system at exit failed", err);
}
