/* ilwaco's files: disk 0's ext2 file system (libext2fs) mounted at / on first use, behind POSIX
 * calls. */
#ifndef ILWACO_FS_H
#define ILWACO_FS_H

#include <stdbool.h>
#include <stdint.h>
/* ext2fs.h needs dev_t and mode_t but includes sys/types.h only when config.h says to. */
#include <sys/types.h>

#include <ext2fs/ext2fs.h>

/* One per inode that has open descriptors: they share ext2fs's file handle, so they agree. */
struct vnode {
    ext2_ino_t ino;
    ext2_file_t file; /* NULL for a directory */
    unsigned refs;
    bool unlinked; /* its last name is gone: it is freed at its last close */
    bool modified; /* written since its inode was last written: the new mtime is still to go */
    struct vnode *next;
};

/* One per open descriptor. */
struct open_file {
    struct vnode *node;
    int flags;    /* open()'s O_ACCMODE, O_APPEND and O_NONBLOCK bits */
    uint64_t pos; /* a byte offset; in a directory, an entry's (sys_dir.c) */
    bool is_dir;
};

/* fs_ext2.c: the mount and the I/O manager under it. */
/* The mounted file system in *fs; 0, or -ENOENT without a disk, -EIO if it holds no ext2. */
long ilwaco_fs_get(ext2_filsys *fs);
/* The time files are stamped with: the superblock's latest time, moved on by the guest's clock. */
time_t ilwaco_fs_now(void);
/* Positive errno for a libext2fs error code. */
int ilwaco_fs_errno(errcode_t err);
/* Writes ext2fs's metadata (superblocks, bitmaps) and flushes the disk; 0 or -errno. */
long ilwaco_fs_flush(void);
/* At exit: what a writable file system holds in memory goes to disk. */
void ilwaco_fs_unmount(void);

/* fs_node.c: paths, vnodes and inodes. */
/* Resolves path (a relative one from directory base); follow: the last component's symlink too. */
long ilwaco_fs_lookup(ext2_filsys fs, ext2_ino_t base, const char *path, bool follow,
                      ext2_ino_t *ino);
/*
 * Splits path into its parent directory (resolved into *parent) and its last
 * component, copied into leaf (EXT2_NAME_LEN + 1 bytes). 0 or -errno.
 */
long ilwaco_fs_parent(ext2_filsys fs, ext2_ino_t base, const char *path, ext2_ino_t *parent,
                      char *leaf);
/* The inode as open descriptors see it (their cached copy when there is one). */
long ilwaco_fs_read_inode(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode);
/* Writes the inode and refreshes the copy an open vnode caches, so neither overwrites the other. */
long ilwaco_fs_write_inode(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode);
/* The vnode of ino with one more reference (opening ext2fs's file handle if regular). */
long ilwaco_vnode_get(ext2_filsys fs, ext2_ino_t ino, bool is_dir, struct vnode **out);
struct vnode *ilwaco_vnode_find(ext2_ino_t ino);
/* Drops a reference; the last one closes the handle and frees an unlinked inode. */
long ilwaco_vnode_put(ext2_filsys fs, struct vnode *v);
/* At exit: closes every vnode's handle (its buffered data goes to disk) and frees unlinked ones. */
void ilwaco_vnode_close_all(ext2_filsys fs);
/* Frees ino's blocks and the inode itself (its last link is gone and nothing has it open). */
long ilwaco_fs_release_inode(ext2_filsys fs, ext2_ino_t ino);
/* Notes a change to v's data: its mtime and ctime are now, on disk at the next flush or close. */
void ilwaco_vnode_touch(struct vnode *v);
/* Writes v's buffered data and, if it changed, its inode; 0 or -errno. */
long ilwaco_vnode_flush(ext2_filsys fs, struct vnode *v);
/* Flushes every open file (sync). */
void ilwaco_vnode_flush_all(ext2_filsys fs);
/* Fills a Linux struct stat from an inode. */
void ilwaco_fs_fill_stat(ext2_filsys fs, ext2_ino_t ino, const struct ext2_inode *inode, void *st);

/* sys_file.c, sys_dir.c: files and directories on disk 0's ext2 file system (ENOENT without one).
 */
long ilwaco_sys_open(const char *path, long flags, long mode);
long ilwaco_sys_openat(long dirfd, const char *path, long flags, long mode);
long ilwaco_sys_pread(long fd, void *buf, size_t len, long offset);
long ilwaco_sys_pwrite(long fd, const void *buf, size_t len, long offset);
long ilwaco_sys_fstatat(long dirfd, const char *path, void *st, long flags);
long ilwaco_sys_faccessat(long dirfd, const char *path, long amode);
long ilwaco_sys_ftruncate(long fd, long length);
long ilwaco_sys_truncate(const char *path, long length);
long ilwaco_sys_fsync(long fd);
long ilwaco_sys_sync(void);
long ilwaco_sys_getdents64(long fd, void *buf, size_t len);
long ilwaco_sys_mkdir(const char *path, long mode);
long ilwaco_sys_mkdirat(long dirfd, const char *path, long mode);
long ilwaco_sys_unlink(const char *path);
long ilwaco_sys_unlinkat(long dirfd, const char *path, long flags);
long ilwaco_sys_rmdir(const char *path);
long ilwaco_sys_renameat2(long olddirfd, const char *oldpath, long newdirfd, const char *newpath,
                          long flags);

/* sys_file.c: what the descriptor calls in sys_io.c do with a file (files.c's table). */
/* The directory a relative path starts from: the root (AT_FDCWD), or an open directory's inode. */
long ilwaco_fs_base_dir(long dirfd, const char *path, ext2_ino_t *base);
long ilwaco_file_read(struct open_file *f, void *buf, unsigned long len);
long ilwaco_file_write(struct open_file *f, const void *buf, unsigned long len);
long ilwaco_file_readv(struct open_file *f, const void *iov, long iovcnt, int write);
long ilwaco_file_fcntl(struct open_file *f, long cmd, long arg);
long ilwaco_file_lseek(struct open_file *f, long offset, long whence);
long ilwaco_file_fstat(struct open_file *f, void *st);
/* Releases fd and drops f's reference to its vnode. */
long ilwaco_file_close(long fd, struct open_file *f);

#endif
