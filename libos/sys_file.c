/* ilwaco's file calls: open, read, write, pread, pwrite, lseek, stat, truncate, fsync and close on
 * disk 0's files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fd_table.h"
#include "fs.h"
#include "internal.h"

/* ext2fs counts a transfer in an unsigned int; larger calls do part of it, as read(2) may. */
#define MAX_TRANSFER (1u << 30)

long ilwaco_fs_base_dir(long dirfd, const char *path, ext2_ino_t *base)
{
    *base = EXT2_ROOT_INO;
    if (dirfd == AT_FDCWD || (path && path[0] == '/'))
        return 0;
    struct open_file *f = ilwaco_fd_file(dirfd);
    if (!f)
        return -EBADF;
    if (!f->is_dir)
        return -ENOTDIR;
    *base = f->node->ino;
    return 0;
}

static long create_file(ext2_filsys fs, ext2_ino_t base, const char *path, long mode,
                        ext2_ino_t *out)
{
    ext2_ino_t dir, ino;
    char leaf[EXT2_NAME_LEN + 1];
    long r = ilwaco_fs_parent(fs, base, path, &dir, leaf);
    if (r < 0)
        return r;
    if (!(fs->flags & EXT2_FLAG_RW))
        return -EROFS;
    errcode_t err = ext2fs_new_inode(fs, dir, LINUX_S_IFREG | 0600, 0, &ino);
    if (err)
        return -ilwaco_fs_errno(err);
    struct ext2_inode inode;
    memset(&inode, 0, sizeof inode);
    inode.i_mode = (__u16)(LINUX_S_IFREG | (mode & 07777));
    inode.i_atime = inode.i_ctime = inode.i_mtime = (__u32)ilwaco_fs_now();
    inode.i_links_count = 1;
    if (ext2fs_has_feature_extents(fs->super)) {
        /* Opening an extent handle on the empty inode writes the extent tree's header into it. */
        ext2_extent_handle_t handle;
        err = ext2fs_extent_open2(fs, ino, &inode, &handle);
        if (err)
            return -ilwaco_fs_errno(err);
        ext2fs_extent_free(handle);
    }
    err = ext2fs_write_new_inode(fs, ino, &inode);
    if (err)
        return -ilwaco_fs_errno(err);
    err = ext2fs_link(fs, dir, leaf, ino, EXT2_FT_REG_FILE);
    if (err == EXT2_ET_DIR_NO_SPACE) {
        err = ext2fs_expand_dir(fs, dir);
        if (!err)
            err = ext2fs_link(fs, dir, leaf, ino, EXT2_FT_REG_FILE);
    }
    if (err)
        return -ilwaco_fs_errno(err);
    ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
    *out = ino;
    return 0;
}

long ilwaco_sys_openat(long dirfd, const char *path, long flags, long mode)
{
    ext2_filsys fs;
    ext2_ino_t base, ino;
    long r = ilwaco_fs_get(&fs);
    if (r < 0)
        return r;
    r = ilwaco_fs_base_dir(dirfd, path, &base);
    if (r < 0)
        return r;
    int access = (int)(flags & O_ACCMODE);
    if (access == O_ACCMODE)
        return -EINVAL;
    bool writes = access != O_RDONLY;

    r = ilwaco_fs_lookup(fs, base, path, !(flags & O_NOFOLLOW), &ino);
    if (r == -ENOENT && (flags & O_CREAT))
        r = create_file(fs, base, path, mode, &ino);
    else if (r == 0 && (flags & O_CREAT) && (flags & O_EXCL))
        r = -EEXIST;
    if (r < 0)
        return r;

    struct ext2_inode inode;
    r = ilwaco_fs_read_inode(fs, ino, &inode);
    if (r < 0)
        return r;
    bool is_dir = LINUX_S_ISDIR(inode.i_mode);
    if (is_dir && (writes || (flags & O_CREAT)))
        return -EISDIR;
    if (!is_dir && (flags & O_DIRECTORY))
        return -ENOTDIR;
    if (LINUX_S_ISLNK(inode.i_mode))
        return -ELOOP; /* O_NOFOLLOW met a symlink */
    if (!is_dir && !LINUX_S_ISREG(inode.i_mode))
        return -ENXIO; /* no devices, fifos or sockets live on a VM's disk */
    if ((writes || (flags & O_TRUNC)) && !(fs->flags & EXT2_FLAG_RW))
        return -EROFS;

    struct open_file *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    r = ilwaco_vnode_get(fs, ino, is_dir, &f->node);
    if (r < 0) {
        free(f);
        return r;
    }
    f->is_dir = is_dir;
    f->flags = (int)(flags & (O_ACCMODE | O_APPEND | O_NONBLOCK));
    if ((flags & O_TRUNC) && writes && f->node->file) {
        errcode_t err = ext2fs_file_set_size2(f->node->file, 0);
        if (err)
            r = -ilwaco_fs_errno(err);
        else
            ilwaco_vnode_touch(f->node);
    }
    int fd = r < 0 ? (int)r : ilwaco_fd_install_file(f);
    if (fd < 0) {
        (void)ilwaco_vnode_put(fs, f->node);
        free(f);
    }
    return fd;
}

long ilwaco_sys_open(const char *path, long flags, long mode)
{
    return ilwaco_sys_openat(AT_FDCWD, path, flags, mode);
}

long ilwaco_file_close(long fd, struct open_file *f)
{
    ext2_filsys fs;
    ilwaco_fd_release(fd);
    (void)ilwaco_fs_get(&fs);
    long r = ilwaco_vnode_put(fs, f->node);
    free(f);
    return r;
}

static uint64_t file_size(struct open_file *f)
{
    __u64 size = 0;
    (void)ext2fs_file_get_lsize(f->node->file, &size); /* fails only for a bad handle */
    return size;
}

/* Reads at offset pos; the byte count or -errno. */
static long file_read_at(struct open_file *f, uint64_t pos, void *buf, size_t len)
{
    if (f->is_dir)
        return -EISDIR;
    if ((f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    if (len > MAX_TRANSFER)
        len = MAX_TRANSFER;
    errcode_t err = ext2fs_file_llseek(f->node->file, pos, EXT2_SEEK_SET, NULL);
    unsigned int got = 0;
    if (!err)
        err = ext2fs_file_read(f->node->file, buf, (unsigned int)len, &got);
    if (err && got == 0)
        return -ilwaco_fs_errno(err);
    return got;
}

/* Writes at offset pos (at the end with O_APPEND, reported in *at); the byte count or -errno. */
static long file_write_at(struct open_file *f, uint64_t pos, const void *buf, size_t len,
                          uint64_t *at)
{
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (len > MAX_TRANSFER)
        len = MAX_TRANSFER;
    if (f->flags & O_APPEND)
        pos = file_size(f);
    errcode_t err = ext2fs_file_llseek(f->node->file, pos, EXT2_SEEK_SET, NULL);
    unsigned int put = 0;
    if (!err)
        err = ext2fs_file_write(f->node->file, buf, (unsigned int)len, &put);
    if (err && put == 0)
        return -ilwaco_fs_errno(err);
    if (at)
        *at = pos;
    return put;
}

long ilwaco_file_read(struct open_file *f, void *buf, unsigned long len)
{
    long n = file_read_at(f, f->pos, buf, len);
    if (n > 0)
        f->pos += (uint64_t)n;
    return n;
}

long ilwaco_file_write(struct open_file *f, const void *buf, unsigned long len)
{
    uint64_t at = f->pos;
    long n = file_write_at(f, f->pos, buf, len, &at);
    if (n >= 0)
        f->pos = at + (uint64_t)n;
    if (n > 0)
        ilwaco_vnode_touch(f->node);
    return n;
}

/* readv/writev: piece by piece, stopping at the first short transfer. */
long ilwaco_file_readv(struct open_file *f, const void *iov_arg, long iovcnt, int write)
{
    const struct iovec *iov = iov_arg;
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return -EINVAL;
    long total = 0;
    for (long i = 0; i < iovcnt; i++) {
        long n = write ? ilwaco_file_write(f, iov[i].iov_base, iov[i].iov_len)
                       : ilwaco_file_read(f, iov[i].iov_base, iov[i].iov_len);
        if (n < 0)
            return total ? total : n;
        total += n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    return total;
}

long ilwaco_sys_pread(long fd, void *buf, size_t len, long offset)
{
    struct open_file *f = ilwaco_fd_file(fd);
    if (!f)
        return fd >= 0 && fd < ILWACO_FD_MAX ? -ESPIPE : -EBADF;
    if (offset < 0)
        return -EINVAL;
    return file_read_at(f, (uint64_t)offset, buf, len);
}

long ilwaco_sys_pwrite(long fd, const void *buf, size_t len, long offset)
{
    struct open_file *f = ilwaco_fd_file(fd);
    if (!f)
        return fd >= 0 && fd < ILWACO_FD_MAX ? -ESPIPE : -EBADF;
    if (offset < 0)
        return -EINVAL;
    if (f->is_dir)
        return -EBADF;
    long n = file_write_at(f, (uint64_t)offset, buf, len, NULL);
    if (n > 0)
        ilwaco_vnode_touch(f->node);
    return n;
}

long ilwaco_file_lseek(struct open_file *f, long offset, long whence)
{
    int64_t base;
    if (f->is_dir) {
        /* Directory positions are entry offsets (sys_dir.c): set, or told, never computed. */
        if (whence == SEEK_SET && offset >= 0)
            base = 0;
        else if (whence == SEEK_CUR && offset == 0)
            base = (int64_t)f->pos;
        else
            return -EINVAL;
    } else if (whence == SEEK_SET) {
        base = 0;
    } else if (whence == SEEK_CUR) {
        base = (int64_t)f->pos;
    } else if (whence == SEEK_END) {
        base = (int64_t)file_size(f);
    } else {
        return -EINVAL;
    }
    if ((offset < 0 && base + offset < 0) || (offset > 0 && base > INT64_MAX - offset))
        return -EINVAL;
    f->pos = (uint64_t)(base + offset);
    return (long)f->pos;
}

long ilwaco_file_fcntl(struct open_file *f, long cmd, long arg)
{
    switch (cmd) {
    case F_GETFL:
        return f->flags;
    case F_SETFL:
        f->flags = (f->flags & O_ACCMODE) | (int)(arg & (O_APPEND | O_NONBLOCK));
        return 0;
    case F_GETFD:
    case F_SETFD:
        return 0;
    default:
        return -EINVAL;
    }
}

long ilwaco_file_fstat(struct open_file *f, void *st)
{
    ext2_filsys fs;
    struct ext2_inode inode;
    (void)ilwaco_fs_get(&fs);
    long r = ilwaco_fs_read_inode(fs, f->node->ino, &inode);
    if (r < 0)
        return r;
    ilwaco_fs_fill_stat(fs, f->node->ino, &inode, st);
    return 0;
}

long ilwaco_sys_fstatat(long dirfd, const char *path, void *st, long flags)
{
    if ((flags & AT_EMPTY_PATH) && path && path[0] == '\0')
        return ilwaco_sys_fstat(dirfd, st);
    ext2_filsys fs;
    ext2_ino_t base, ino;
    struct ext2_inode inode;
    long r = ilwaco_fs_get(&fs);
    if (r == 0)
        r = ilwaco_fs_base_dir(dirfd, path, &base);
    if (r == 0)
        r = ilwaco_fs_lookup(fs, base, path, !(flags & AT_SYMLINK_NOFOLLOW), &ino);
    if (r == 0)
        r = ilwaco_fs_read_inode(fs, ino, &inode);
    if (r < 0)
        return r;
    ilwaco_fs_fill_stat(fs, ino, &inode, st);
    return 0;
}

long ilwaco_sys_faccessat(long dirfd, const char *path, long amode)
{
    ext2_filsys fs;
    ext2_ino_t base, ino;
    long r = ilwaco_fs_get(&fs);
    if (r == 0)
        r = ilwaco_fs_base_dir(dirfd, path, &base);
    if (r == 0)
        r = ilwaco_fs_lookup(fs, base, path, true, &ino);
    if (r < 0)
        return r;
    /* One user, who may do anything the file system itself allows. */
    return (amode & W_OK) && !(fs->flags & EXT2_FLAG_RW) ? -EROFS : 0;
}

long ilwaco_sys_ftruncate(long fd, long length)
{
    struct open_file *f = ilwaco_fd_file(fd);
    if (!f)
        return ilwaco_fd_sock(fd) || (fd >= 0 && fd <= 2) ? -EINVAL : -EBADF;
    if (f->is_dir)
        return -EISDIR;
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (length < 0)
        return -EINVAL;
    errcode_t err = ext2fs_file_set_size2(f->node->file, (ext2_off64_t)length);
    if (err)
        return -ilwaco_fs_errno(err);
    ilwaco_vnode_touch(f->node);
    return 0;
}

long ilwaco_sys_truncate(const char *path, long length)
{
    long fd = ilwaco_sys_open(path, O_WRONLY, 0);
    if (fd < 0)
        return fd;
    long r = ilwaco_sys_ftruncate(fd, length);
    long c = ilwaco_file_close(fd, ilwaco_fd_file(fd));
    return r < 0 ? r : c;
}

long ilwaco_sys_fsync(long fd)
{
    struct open_file *f = ilwaco_fd_file(fd);
    if (!f)
        return ilwaco_fd_sock(fd) || (fd >= 0 && fd <= 2) ? -EINVAL : -EBADF;
    ext2_filsys fs;
    (void)ilwaco_fs_get(&fs);
    if (!(fs->flags & EXT2_FLAG_RW))
        return 0;
    long r = ilwaco_vnode_flush(fs, f->node);
    return r < 0 ? r : ilwaco_fs_flush();
}

long ilwaco_sys_sync(void)
{
    ext2_filsys fs;
    if (ilwaco_fs_get(&fs) < 0 || !(fs->flags & EXT2_FLAG_RW))
        return 0;
    ilwaco_vnode_flush_all(fs);
    return ilwaco_fs_flush();
}
