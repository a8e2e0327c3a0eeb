/* ilwaco's file-system nodes: path lookup, the vnodes open descriptors share, inode upkeep and
 * stat. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"

static struct vnode *vnodes;

static long path_ok(const char *path)
{
    if (!path)
        return -EFAULT;
    if (path[0] == '\0')
        return -ENOENT;
    if (strnlen(path, PATH_MAX) == PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

long ilwaco_fs_lookup(ext2_filsys fs, ext2_ino_t base, const char *path, bool follow,
                      ext2_ino_t *ino)
{
    long r = path_ok(path);
    if (r < 0)
        return r;
    errcode_t err = follow ? ext2fs_namei_follow(fs, EXT2_ROOT_INO, base, path, ino)
                           : ext2fs_namei(fs, EXT2_ROOT_INO, base, path, ino);
    return err ? -ilwaco_fs_errno(err) : 0;
}

long ilwaco_fs_parent(ext2_filsys fs, ext2_ino_t base, const char *path, ext2_ino_t *parent,
                      char *leaf)
{
    long r = path_ok(path);
    if (r < 0)
        return r;
    char dir[PATH_MAX];
    size_t len = strlen(path);
    memcpy(dir, path, len + 1);
    /* "a/b/" names b, as it does for the kernel. */
    while (len > 1 && dir[len - 1] == '/')
        dir[--len] = '\0';
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : dir;
    if (name[0] == '\0')
        return -EEXIST; /* the root itself */
    size_t name_len = strlen(name);
    if (name_len > EXT2_NAME_LEN)
        return -ENAMETOOLONG;
    memcpy(leaf, name, name_len + 1);
    errcode_t err;
    if (!slash) {
        *parent = base;
        return 0;
    }
    if (slash == dir)
        slash[1] = '\0'; /* "/name": the parent is the root */
    else
        slash[0] = '\0';
    err = ext2fs_namei_follow(fs, EXT2_ROOT_INO, base, dir, parent);
    if (err)
        return -ilwaco_fs_errno(err);
    struct ext2_inode inode;
    err = ext2fs_read_inode(fs, *parent, &inode);
    if (err)
        return -ilwaco_fs_errno(err);
    return LINUX_S_ISDIR(inode.i_mode) ? 0 : -ENOTDIR;
}

struct vnode *ilwaco_vnode_find(ext2_ino_t ino)
{
    for (struct vnode *v = vnodes; v; v = v->next)
        if (v->ino == ino)
            return v;
    return NULL;
}

long ilwaco_fs_read_inode(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode)
{
    struct vnode *v = ilwaco_vnode_find(ino);
    if (v && v->file) {
        *inode = *ext2fs_file_get_inode(v->file);
        return 0;
    }
    errcode_t err = ext2fs_read_inode(fs, ino, inode);
    return err ? -ilwaco_fs_errno(err) : 0;
}

long ilwaco_fs_write_inode(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *inode)
{
    errcode_t err = ext2fs_write_inode(fs, ino, inode);
    if (err)
        return -ilwaco_fs_errno(err);
    struct vnode *v = ilwaco_vnode_find(ino);
    if (v && v->file)
        *ext2fs_file_get_inode(v->file) = *inode;
    return 0;
}

long ilwaco_vnode_get(ext2_filsys fs, ext2_ino_t ino, bool is_dir, struct vnode **out)
{
    struct vnode *v = ilwaco_vnode_find(ino);
    if (v) {
        v->refs++;
        *out = v;
        return 0;
    }
    v = calloc(1, sizeof *v);
    if (!v)
        return -ENOMEM;
    if (!is_dir) {
        /* One handle serves readers and writers alike; each descriptor checks its own mode. */
        int flags = (fs->flags & EXT2_FLAG_RW) ? EXT2_FILE_WRITE : 0;
        errcode_t err = ext2fs_file_open(fs, ino, flags, &v->file);
        if (err) {
            free(v);
            return -ilwaco_fs_errno(err);
        }
    }
    v->ino = ino;
    v->refs = 1;
    v->next = vnodes;
    vnodes = v;
    *out = v;
    return 0;
}

static void vnode_unlist(struct vnode *v)
{
    for (struct vnode **p = &vnodes; *p; p = &(*p)->next) {
        if (*p == v) {
            *p = v->next;
            return;
        }
    }
}

/* Closes v's handle and frees the inode if it has no name left; 0 or -errno. */
static long vnode_close(ext2_filsys fs, struct vnode *v)
{
    long r = v->unlinked ? 0 : ilwaco_vnode_flush(fs, v);
    if (v->file) {
        errcode_t err = ext2fs_file_close(v->file);
        if (err && r == 0)
            r = -ilwaco_fs_errno(err);
    }
    vnode_unlist(v);
    if (v->unlinked) {
        long released = ilwaco_fs_release_inode(fs, v->ino);
        if (r == 0)
            r = released;
    }
    free(v);
    return r;
}

long ilwaco_vnode_put(ext2_filsys fs, struct vnode *v)
{
    if (--v->refs > 0)
        return 0;
    return vnode_close(fs, v);
}

void ilwaco_vnode_touch(struct vnode *v)
{
    if (!v->file)
        return;
    /* libext2fs moves no file times itself; the cached inode is what stat sees meanwhile. */
    struct ext2_inode *inode = ext2fs_file_get_inode(v->file);
    inode->i_mtime = inode->i_ctime = (__u32)ilwaco_fs_now();
    v->modified = true;
}

long ilwaco_vnode_flush(ext2_filsys fs, struct vnode *v)
{
    if (!v->file)
        return 0;
    errcode_t err = ext2fs_file_flush(v->file);
    if (!err && v->modified) {
        err = ext2fs_write_inode(fs, v->ino, ext2fs_file_get_inode(v->file));
        if (!err)
            v->modified = false;
    }
    return err ? -ilwaco_fs_errno(err) : 0;
}

void ilwaco_vnode_flush_all(ext2_filsys fs)
{
    for (struct vnode *v = vnodes; v; v = v->next)
        (void)ilwaco_vnode_flush(fs, v);
}

void ilwaco_vnode_close_all(ext2_filsys fs)
{
    while (vnodes)
        (void)vnode_close(fs, vnodes);
}

long ilwaco_fs_release_inode(ext2_filsys fs, ext2_ino_t ino)
{
    struct ext2_inode inode;
    errcode_t err = ext2fs_read_inode(fs, ino, &inode);
    if (err)
        return -ilwaco_fs_errno(err);
    /* A fast symlink keeps its target in i_block, which is no block map to free. */
    if (ext2fs_inode_has_valid_blocks2(fs, &inode)) {
        err = ext2fs_punch(fs, ino, &inode, NULL, 0, ~0ULL);
        if (err)
            return -ilwaco_fs_errno(err);
    }
    inode.i_links_count = 0;
    inode.i_dtime = (__u32)ilwaco_fs_now();
    err = ext2fs_write_inode(fs, ino, &inode);
    if (err)
        return -ilwaco_fs_errno(err);
    ext2fs_inode_alloc_stats2(fs, ino, -1, LINUX_S_ISDIR(inode.i_mode));
    return 0;
}

void ilwaco_fs_fill_stat(ext2_filsys fs, ext2_ino_t ino, const struct ext2_inode *inode, void *out)
{
    struct stat *st = out;
    memset(st, 0, sizeof *st);
    st->st_dev = 1; /* one file system per VM */
    st->st_ino = ino;
    st->st_mode = inode->i_mode;
    st->st_nlink = inode->i_links_count;
    st->st_uid = inode_uid(*inode);
    st->st_gid = inode_gid(*inode);
    st->st_size = (off_t)EXT2_I_SIZE(inode);
    st->st_blksize = (blksize_t)fs->blocksize;
    st->st_blocks = (blkcnt_t)ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)inode);
    st->st_atim.tv_sec = inode->i_atime;
    st->st_mtim.tv_sec = inode->i_mtime;
    st->st_ctim.tv_sec = inode->i_ctime;
}
