/* ilwaco's directory calls: getdents64 (under opendir/readdir), mkdir, unlink and rmdir on disk 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>

#include "fd_table.h"
#include "fs.h"
#include "internal.h"

/* The kernel's record, which musl's readdir walks. */
struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/*
 * A directory position is an entry's byte offset in the directory (its
 * block's index times the block size, plus its offset in the block), and a
 * descriptor's position is the offset just past the last entry it returned.
 * Removing an entry only merges it into its neighbour, so the entries after
 * it keep their offsets: a reader that removes what it has read (rm -r)
 * still sees every other entry.
 */
struct dents_fill {
    uint64_t from;  /* entries before this offset were returned already */
    uint64_t block; /* the directory block being walked */
    bool started;
    uint64_t next; /* the descriptor's position after this call */
    char *buf;
    size_t len, used;
    bool full;
};

static unsigned char dirent_type(int ext2_type)
{
    switch (ext2_type) {
    case EXT2_FT_REG_FILE:
        return DT_REG;
    case EXT2_FT_DIR:
        return DT_DIR;
    case EXT2_FT_SYMLINK:
        return DT_LNK;
    case EXT2_FT_CHRDEV:
        return DT_CHR;
    case EXT2_FT_BLKDEV:
        return DT_BLK;
    case EXT2_FT_FIFO:
        return DT_FIFO;
    case EXT2_FT_SOCK:
        return DT_SOCK;
    default:
        return DT_UNKNOWN;
    }
}

static int fill_one(struct ext2_dir_entry *dirent, int offset, int blocksize, char *block,
                    void *arg)
{
    (void)block;
    struct dents_fill *d = arg;
    /* Empty entries are walked too, so that every block shows its entry at offset 0. */
    if (offset == 0 && d->started)
        d->block++;
    d->started = true;
    uint64_t at = d->block * (uint64_t)blocksize + (uint64_t)offset;
    if (dirent->inode == 0 || at < d->from)
        return 0;
    size_t name_len = (size_t)ext2fs_dirent_name_len(dirent);
    size_t reclen = (offsetof(struct linux_dirent64, d_name) + name_len + 1 + 7) & ~(size_t)7;
    if (d->used + reclen > d->len) {
        d->full = true;
        return DIRENT_ABORT;
    }
    struct linux_dirent64 *out = (struct linux_dirent64 *)(d->buf + d->used);
    out->d_ino = dirent->inode;
    out->d_off = (int64_t)(at + 1);
    out->d_reclen = (unsigned short)reclen;
    out->d_type = dirent_type(ext2fs_dirent_file_type(dirent));
    memcpy(out->d_name, dirent->name, name_len);
    memset(out->d_name + name_len, 0, reclen - offsetof(struct linux_dirent64, d_name) - name_len);
    d->used += reclen;
    d->next = at + 1;
    return 0;
}

long ilwaco_sys_getdents64(long fd, void *buf, size_t len)
{
    struct open_file *f = ilwaco_fd_file(fd);
    if (!f)
        return ilwaco_fd_sock(fd) || (fd >= 0 && fd <= 2) ? -ENOTDIR : -EBADF;
    if (!f->is_dir)
        return -ENOTDIR;
    ext2_filsys fs;
    (void)ilwaco_fs_get(&fs);
    /* Each call walks the directory from its start to its position: simple, and small dirs. */
    struct dents_fill d = {.from = f->pos, .next = f->pos, .buf = buf, .len = len};
    errcode_t err =
        ext2fs_dir_iterate(fs, f->node->ino, DIRENT_FLAG_INCLUDE_EMPTY, NULL, fill_one, &d);
    if (err)
        return -ilwaco_fs_errno(err);
    if (d.full && d.used == 0)
        return -EINVAL; /* not even one entry fits */
    f->pos = d.next;
    return (long)d.used;
}

long ilwaco_sys_mkdirat(long dirfd, const char *path, long mode)
{
    ext2_filsys fs;
    ext2_ino_t base, dir, ino;
    char leaf[EXT2_NAME_LEN + 1];
    long r = ilwaco_fs_get(&fs);
    if (r == 0)
        r = ilwaco_fs_base_dir(dirfd, path, &base);
    if (r == 0)
        r = ilwaco_fs_parent(fs, base, path, &dir, leaf);
    if (r < 0)
        return r;
    if (ext2fs_lookup(fs, dir, leaf, (int)strlen(leaf), NULL, &ino) == 0)
        return -EEXIST;
    if (!(fs->flags & EXT2_FLAG_RW))
        return -EROFS;
    errcode_t err = ext2fs_mkdir(fs, dir, 0, leaf);
    if (err == EXT2_ET_DIR_NO_SPACE) {
        err = ext2fs_expand_dir(fs, dir);
        if (!err)
            err = ext2fs_mkdir(fs, dir, 0, leaf);
    }
    if (!err)
        err = ext2fs_lookup(fs, dir, leaf, (int)strlen(leaf), NULL, &ino);
    if (err)
        return -ilwaco_fs_errno(err);
    /* ext2fs_mkdir gives 0777 less the (zero) umask; the caller's mode is the one asked for. */
    struct ext2_inode inode;
    r = ilwaco_fs_read_inode(fs, ino, &inode);
    if (r < 0)
        return r;
    inode.i_mode = (__u16)(LINUX_S_IFDIR | (mode & 07777));
    return ilwaco_fs_write_inode(fs, ino, &inode);
}

long ilwaco_sys_mkdir(const char *path, long mode)
{
    return ilwaco_sys_mkdirat(AT_FDCWD, path, mode);
}

struct empty_check {
    bool has_entries;
};

static int note_entry(struct ext2_dir_entry *dirent, int offset, int blocksize, char *block,
                      void *arg)
{
    (void)offset, (void)blocksize, (void)block;
    struct empty_check *c = arg;
    int n = ext2fs_dirent_name_len(dirent);
    bool dot = (n == 1 && dirent->name[0] == '.') ||
               (n == 2 && dirent->name[0] == '.' && dirent->name[1] == '.');
    if (dot)
        return 0;
    c->has_entries = true;
    return DIRENT_ABORT;
}

/* Removes leaf's entry from dir and drops the inode's link; rmdir: it must be an empty directory.
 */
static long remove_entry(ext2_filsys fs, ext2_ino_t dir, const char *leaf, bool rmdir)
{
    ext2_ino_t ino;
    errcode_t err = ext2fs_lookup(fs, dir, leaf, (int)strlen(leaf), NULL, &ino);
    if (err)
        return -ilwaco_fs_errno(err);
    struct ext2_inode inode;
    long r = ilwaco_fs_read_inode(fs, ino, &inode);
    if (r < 0)
        return r;
    bool is_dir = LINUX_S_ISDIR(inode.i_mode);
    if (rmdir) {
        if (!is_dir)
            return -ENOTDIR;
        if (strcmp(leaf, ".") == 0)
            return -EINVAL;
        if (strcmp(leaf, "..") == 0 || ino == EXT2_ROOT_INO)
            return -ENOTEMPTY;
        struct empty_check c = {false};
        err = ext2fs_dir_iterate(fs, ino, 0, NULL, note_entry, &c);
        if (err)
            return -ilwaco_fs_errno(err);
        if (c.has_entries)
            return -ENOTEMPTY;
    } else if (is_dir) {
        return -EISDIR;
    }
    if (!(fs->flags & EXT2_FLAG_RW))
        return -EROFS;
    err = ext2fs_unlink(fs, dir, leaf, ino, 0);
    if (err)
        return -ilwaco_fs_errno(err);

    if (is_dir) {
        /* The directory's ".." was a link to its parent. */
        struct ext2_inode parent;
        r = ilwaco_fs_read_inode(fs, dir, &parent);
        if (r == 0 && parent.i_links_count > 1) {
            parent.i_links_count--;
            r = ilwaco_fs_write_inode(fs, dir, &parent);
        }
        if (r < 0)
            return r;
        inode.i_links_count = 0;
    } else if (inode.i_links_count > 0) {
        inode.i_links_count--;
    }
    inode.i_ctime = (__u32)ilwaco_fs_now();
    r = ilwaco_fs_write_inode(fs, ino, &inode);
    if (r < 0 || inode.i_links_count > 0)
        return r;
    /* Still open somewhere: it goes at its last close, as on Linux. */
    struct vnode *v = ilwaco_vnode_find(ino);
    if (v) {
        v->unlinked = true;
        return 0;
    }
    return ilwaco_fs_release_inode(fs, ino);
}

long ilwaco_sys_unlinkat(long dirfd, const char *path, long flags)
{
    ext2_filsys fs;
    ext2_ino_t base, dir;
    char leaf[EXT2_NAME_LEN + 1];
    if (flags & ~AT_REMOVEDIR)
        return -EINVAL;
    long r = ilwaco_fs_get(&fs);
    if (r == 0)
        r = ilwaco_fs_base_dir(dirfd, path, &base);
    if (r == 0)
        r = ilwaco_fs_parent(fs, base, path, &dir, leaf);
    if (r == -EEXIST)
        r = (flags & AT_REMOVEDIR) ? -EBUSY : -EISDIR; /* the root */
    if (r < 0)
        return r;
    return remove_entry(fs, dir, leaf, flags & AT_REMOVEDIR);
}

long ilwaco_sys_unlink(const char *path)
{
    return ilwaco_sys_unlinkat(AT_FDCWD, path, 0);
}

long ilwaco_sys_rmdir(const char *path)
{
    return ilwaco_sys_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

static int file_type_of(__u16 mode)
{
    if (LINUX_S_ISDIR(mode))
        return EXT2_FT_DIR;
    if (LINUX_S_ISREG(mode))
        return EXT2_FT_REG_FILE;
    if (LINUX_S_ISLNK(mode))
        return EXT2_FT_SYMLINK;
    return EXT2_FT_UNKNOWN;
}

/* Whether directory ino is dir or one of dir's ancestors (a rename must not move a tree into
 * itself). */
static long is_ancestor(ext2_filsys fs, ext2_ino_t ino, ext2_ino_t dir, bool *result)
{
    for (unsigned depth = 0; depth < 4096; depth++) {
        if (dir == ino) {
            *result = true;
            return 0;
        }
        if (dir == EXT2_ROOT_INO) {
            *result = false;
            return 0;
        }
        errcode_t err = ext2fs_lookup(fs, dir, "..", 2, NULL, &dir);
        if (err)
            return -ilwaco_fs_errno(err);
    }
    return -ELOOP;
}

struct dotdot {
    ext2_ino_t parent;
};

static int set_dotdot(struct ext2_dir_entry *dirent, int offset, int blocksize, char *block,
                      void *arg)
{
    (void)offset, (void)blocksize, (void)block;
    if (ext2fs_dirent_name_len(dirent) != 2 || dirent->name[0] != '.' || dirent->name[1] != '.')
        return 0;
    dirent->inode = ((struct dotdot *)arg)->parent;
    return DIRENT_CHANGED | DIRENT_ABORT;
}

static long adjust_links(ext2_filsys fs, ext2_ino_t dir, int by)
{
    struct ext2_inode inode;
    long r = ilwaco_fs_read_inode(fs, dir, &inode);
    if (r < 0)
        return r;
    inode.i_links_count = (__u16)(inode.i_links_count + by);
    return ilwaco_fs_write_inode(fs, dir, &inode);
}

long ilwaco_sys_renameat2(long olddirfd, const char *oldpath, long newdirfd, const char *newpath,
                          long flags)
{
    ext2_filsys fs;
    ext2_ino_t old_base, new_base, old_dir, new_dir, ino, target;
    char old_leaf[EXT2_NAME_LEN + 1], new_leaf[EXT2_NAME_LEN + 1];
    if (flags != 0)
        return -EINVAL; /* RENAME_NOREPLACE and friends are not offered */
    long r = ilwaco_fs_get(&fs);
    if (r == 0)
        r = ilwaco_fs_base_dir(olddirfd, oldpath, &old_base);
    if (r == 0)
        r = ilwaco_fs_base_dir(newdirfd, newpath, &new_base);
    if (r == 0)
        r = ilwaco_fs_parent(fs, old_base, oldpath, &old_dir, old_leaf);
    if (r == 0)
        r = ilwaco_fs_parent(fs, new_base, newpath, &new_dir, new_leaf);
    if (r == -EEXIST)
        r = -EBUSY; /* the root */
    if (r < 0)
        return r;
    if (strcmp(old_leaf, ".") == 0 || strcmp(old_leaf, "..") == 0 || strcmp(new_leaf, ".") == 0 ||
        strcmp(new_leaf, "..") == 0)
        return -EINVAL;
    errcode_t err = ext2fs_lookup(fs, old_dir, old_leaf, (int)strlen(old_leaf), NULL, &ino);
    if (err)
        return -ilwaco_fs_errno(err);
    struct ext2_inode inode;
    r = ilwaco_fs_read_inode(fs, ino, &inode);
    if (r < 0)
        return r;
    bool is_dir = LINUX_S_ISDIR(inode.i_mode);
    if (!(fs->flags & EXT2_FLAG_RW))
        return -EROFS;
    if (is_dir && old_dir != new_dir) {
        bool inside = false;
        r = is_ancestor(fs, ino, new_dir, &inside);
        if (r < 0)
            return r;
        if (inside)
            return -EINVAL;
    }

    /* What the new name names now goes first, as rename(2) replaces it. */
    if (ext2fs_lookup(fs, new_dir, new_leaf, (int)strlen(new_leaf), NULL, &target) == 0) {
        if (target == ino)
            return 0;
        struct ext2_inode target_inode;
        r = ilwaco_fs_read_inode(fs, target, &target_inode);
        if (r < 0)
            return r;
        bool target_dir = LINUX_S_ISDIR(target_inode.i_mode);
        if (is_dir && !target_dir)
            return -ENOTDIR;
        if (!is_dir && target_dir)
            return -EISDIR;
        r = remove_entry(fs, new_dir, new_leaf, target_dir);
        if (r < 0)
            return r;
    }

    err = ext2fs_link(fs, new_dir, new_leaf, ino, file_type_of(inode.i_mode));
    if (err == EXT2_ET_DIR_NO_SPACE) {
        err = ext2fs_expand_dir(fs, new_dir);
        if (!err)
            err = ext2fs_link(fs, new_dir, new_leaf, ino, file_type_of(inode.i_mode));
    }
    if (err)
        return -ilwaco_fs_errno(err);
    err = ext2fs_unlink(fs, old_dir, old_leaf, ino, 0);
    if (err)
        return -ilwaco_fs_errno(err);
    if (is_dir && old_dir != new_dir) {
        struct dotdot d = {new_dir};
        err = ext2fs_dir_iterate(fs, ino, 0, NULL, set_dotdot, &d);
        if (err)
            return -ilwaco_fs_errno(err);
        r = adjust_links(fs, old_dir, -1);
        if (r == 0)
            r = adjust_links(fs, new_dir, +1);
        if (r < 0)
            return r;
    }
    inode.i_ctime = (__u32)ilwaco_fs_now();
    return ilwaco_fs_write_inode(fs, ino, &inode);
}
