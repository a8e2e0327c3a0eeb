/* Test guest: POSIX files on disk 0 (tests/lib/make-fs-image.sh's tree): reads, writes,
 * directories, errors.
 *
 * usage: fs_check rw|ro|none
 *   rw    the disk is writable: read the host's files, then write, fsync, read back, list, remove
 *   ro    the disk is read-only: reads work, every change fails with EROFS
 *   none  no disk: every file call fails with ENOENT
 * Prints "fs_check: FAIL ..." lines and exits 1 on any failure; "fs_check: ok MODE" and 0
 * otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

static int check(int ok, const char *what, int line)
{
    if (!ok) {
        printf("fs_check: FAIL line %d: %s (errno %d %s)\n", line, what, errno, strerror(errno));
        failures++;
    }
    return ok;
}

#define CHECK(cond) check((cond) != 0, #cond, __LINE__)

/* A call that must fail with exactly this errno. */
#define CHECK_ERR(call, err)                                                                       \
    check((call) < 0 && errno == (err), #call " fails with " #err, __LINE__)

#define PATTERN_SIZE 100000
#define WRITTEN_SIZE 50000
#define MANY_FILES   120

static unsigned char host_pattern(size_t i)
{
    return (unsigned char)((i * 131 + i / 251) & 0xFF);
}

static unsigned char guest_pattern(size_t i)
{
    return (unsigned char)((i * 7 + 3 + i / 509) & 0xFF);
}

static char buf[PATTERN_SIZE + 16];

/* Reads the whole of path in pieces of odd sizes; the length, or -1. */
static long read_all(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    size_t got = 0;
    size_t piece = 1;
    for (;;) {
        size_t want = piece < cap - got ? piece : cap - got;
        ssize_t n = read(fd, out + got, want);
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        piece = piece * 3 + 1; /* 1, 4, 13, 40, ...: crosses block edges at odd places */
        if (got == cap)
            break;
    }
    close(fd);
    return (long)got;
}

static void check_host_files(void)
{
    struct stat st;
    CHECK(stat("/data/pattern.bin", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == PATTERN_SIZE);
    CHECK(stat("/data", &st) == 0 && S_ISDIR(st.st_mode));

    long n = read_all("/data/pattern.bin", buf, sizeof buf);
    CHECK(n == PATTERN_SIZE);
    size_t bad = 0;
    for (long i = 0; i < n; i++)
        bad += (unsigned char)buf[i] != host_pattern((size_t)i);
    CHECK(bad == 0);

    int fd = open("/data/pattern.bin", O_RDONLY);
    CHECK(fd >= 0);
    char piece[300];
    CHECK(pread(fd, piece, sizeof piece, 4097) == (ssize_t)sizeof piece);
    bad = 0;
    for (size_t i = 0; i < sizeof piece; i++)
        bad += (unsigned char)piece[i] != host_pattern(4097 + i);
    CHECK(bad == 0);
    CHECK(lseek(fd, 0, SEEK_END) == PATTERN_SIZE);
    CHECK(read(fd, piece, sizeof piece) == 0);
    CHECK(lseek(fd, -10, SEEK_CUR) == PATTERN_SIZE - 10);
    CHECK(read(fd, piece, sizeof piece) == 10 &&
          (unsigned char)piece[0] == host_pattern(PATTERN_SIZE - 10));
    CHECK_ERR(write(fd, "x", 1), EBADF);
    CHECK(fstat(fd, &st) == 0 && st.st_size == PATTERN_SIZE);
    CHECK(close(fd) == 0);
    CHECK_ERR(close(fd), EBADF);

    /* stdio over the same calls. */
    FILE *f = fopen("/hello.txt", "r");
    CHECK(f != NULL);
    if (f) {
        char line[64] = "";
        CHECK(fgets(line, sizeof line, f) != NULL && strcmp(line, "hello from the host\n") == 0);
        CHECK(fgets(line, sizeof line, f) == NULL && feof(f));
        fclose(f);
    }
    char cwd[16];
    CHECK(getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, "/") == 0);
    /* Relative paths start at the root. */
    CHECK(stat("data/pattern.bin", &st) == 0 && st.st_size == PATTERN_SIZE);

    CHECK_ERR(open("/no/such/file", O_RDONLY), ENOENT);
    CHECK_ERR(open("/missing.txt", O_RDONLY), ENOENT);
    CHECK_ERR(open("/hello.txt/x", O_RDONLY), ENOTDIR);
    CHECK_ERR(open("/data", O_WRONLY), EISDIR);
    CHECK_ERR(open("/hello.txt", O_RDONLY | O_DIRECTORY), ENOTDIR);
}

/* Lists dir into names (sorted by the caller's expectations); returns the entries seen. */
static int list_dir(const char *dir, const char *const *expect, int expect_count)
{
    DIR *d = opendir(dir);
    if (!CHECK(d != NULL))
        return -1;
    int seen = 0, matched = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        seen++;
        for (int i = 0; i < expect_count; i++)
            if (strcmp(e->d_name, expect[i]) == 0)
                matched++;
    }
    closedir(d);
    CHECK(matched == expect_count);
    return seen;
}

static void check_write_cycle(void)
{
    CHECK(mkdir("/out", 0755) == 0);
    CHECK_ERR(mkdir("/out", 0755), EEXIST);
    struct stat st;
    CHECK(stat("/out", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755);

    int fd = open("/out/written.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    static char out[WRITTEN_SIZE];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)guest_pattern(i);
    size_t done = 0, piece = 7;
    while (done < sizeof out) {
        size_t n = piece < sizeof out - done ? piece : sizeof out - done;
        if (!CHECK(write(fd, out + done, n) == (ssize_t)n))
            break;
        done += n;
        piece = piece * 2 + 1;
    }
    CHECK(fsync(fd) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == WRITTEN_SIZE && (st.st_mode & 0777) == 0644);
    CHECK_ERR(read(fd, buf, 10), EBADF);
    CHECK(close(fd) == 0);

    long n = read_all("/out/written.bin", buf, sizeof buf);
    CHECK(n == WRITTEN_SIZE && memcmp(buf, out, WRITTEN_SIZE) == 0);

    /* O_APPEND, pwrite inside the file, a hole past its end. */
    fd = open("/out/written.bin", O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "tail", 4) == 4);
    CHECK(close(fd) == 0);
    fd = open("/out/written.bin", O_RDWR);
    CHECK(fd >= 0 && pwrite(fd, "MID", 3, 1000) == 3);
    CHECK(pread(fd, buf, 4, WRITTEN_SIZE) == 4 && memcmp(buf, "tail", 4) == 0);
    CHECK(pread(fd, buf, 3, 1000) == 3 && memcmp(buf, "MID", 3) == 0);
    CHECK(lseek(fd, 0, SEEK_END) == WRITTEN_SIZE + 4);
    CHECK(close(fd) == 0);
    fd = open("/out/hole.bin", O_CREAT | O_RDWR | O_EXCL, 0600);
    CHECK(fd >= 0 && pwrite(fd, "end", 3, 20000) == 3);
    CHECK(pread(fd, buf, 10, 5000) == 10 && memcmp(buf, "\0\0\0\0\0\0\0\0\0\0", 10) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 20003);
    CHECK(ftruncate(fd, 100) == 0 && fstat(fd, &st) == 0 && st.st_size == 100);
    CHECK(close(fd) == 0);
    CHECK_ERR(open("/out/hole.bin", O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);

    /* O_TRUNC empties; unlink of an open file keeps it readable until close. */
    fd = open("/out/hole.bin", O_WRONLY | O_TRUNC);
    CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0);
    CHECK(write(fd, "kept", 4) == 4);
    CHECK(unlink("/out/hole.bin") == 0);
    CHECK_ERR(stat("/out/hole.bin", &st), ENOENT);
    CHECK(pread(fd, buf, 4, 0) == -1 && errno == EBADF); /* write-only */
    CHECK(close(fd) == 0);
    CHECK_ERR(unlink("/out/hole.bin"), ENOENT);
    CHECK_ERR(unlink("/out"), EISDIR);

    /* Enough names to grow a 1 KiB-block directory over several blocks, then all removed. */
    CHECK(mkdir("/out/many", 0700) == 0);
    int created = 0;
    for (int i = 0; i < MANY_FILES; i++) {
        char name[64];
        snprintf(name, sizeof name, "/out/many/file-with-a-long-name-%03d.txt", i);
        fd = open(name, O_CREAT | O_WRONLY, 0644);
        if (fd >= 0 && write(fd, name, strlen(name)) == (ssize_t)strlen(name))
            created++;
        if (fd >= 0)
            close(fd);
    }
    CHECK(created == MANY_FILES);
    const char *const dots[] = {".", ".."};
    CHECK(list_dir("/out/many", dots, 2) == MANY_FILES + 2);
    CHECK_ERR(rmdir("/out/many"), ENOTEMPTY);
    char name[64];
    snprintf(name, sizeof name, "/out/many/file-with-a-long-name-%03d.txt", 77);
    CHECK(read_all(name, buf, sizeof buf) == (long)strlen(name) &&
          memcmp(buf, name, strlen(name)) == 0);
    /* Removing each entry as readdir returns it (as rm -r does) must still reach every one. */
    int removed = 0;
    DIR *d = opendir("/out/many");
    CHECK(d != NULL);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[sizeof "/out/many/" + sizeof e->d_name];
        snprintf(path, sizeof path, "/out/many/%s", e->d_name);
        removed += unlink(path) == 0;
    }
    if (d)
        closedir(d);
    CHECK(removed == MANY_FILES);
    CHECK(list_dir("/out/many", dots, 2) == 2);
    CHECK(rmdir("/out/many") == 0);
    CHECK_ERR(stat("/out/many", &st), ENOENT);

    /* A write moves the file's mtime, and the inode on disk has it after close. */
    fd = open("/out/times.txt", O_CREAT | O_WRONLY, 0644);
    struct stat before, after, closed;
    CHECK(fd >= 0 && fstat(fd, &before) == 0);
    sleep(2);
    CHECK(write(fd, "x", 1) == 1 && fstat(fd, &after) == 0);
    CHECK(after.st_mtime >= before.st_mtime + 1);
    CHECK(close(fd) == 0 && stat("/out/times.txt", &closed) == 0);
    CHECK(closed.st_mtime == after.st_mtime && closed.st_size == 1);
    CHECK(unlink("/out/times.txt") == 0);

    /* rename: within a directory, over an existing file, a directory into another. */
    fd = open("/out/a.txt", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0 && write(fd, "first", 5) == 5 && close(fd) == 0);
    fd = open("/out/b.txt", O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0 && write(fd, "second", 6) == 6 && close(fd) == 0);
    CHECK(rename("/out/a.txt", "/out/b.txt") == 0);
    CHECK_ERR(stat("/out/a.txt", &st), ENOENT);
    CHECK(read_all("/out/b.txt", buf, sizeof buf) == 5 && memcmp(buf, "first", 5) == 0);
    CHECK(mkdir("/out/d1", 0755) == 0 && mkdir("/out/d2", 0755) == 0);
    CHECK(rename("/out/b.txt", "/out/d1/c.txt") == 0);
    CHECK(rename("/out/d1", "/out/d2/d1") == 0);
    CHECK_ERR(rename("/out/d2", "/out/d2/d1/inside"), EINVAL);
    CHECK_ERR(rename("/out/d2/d1/c.txt", "/out/d2"), EISDIR);
    CHECK_ERR(rename("/out/missing", "/out/x"), ENOENT);
    struct stat parent_st, dotdot_st;
    CHECK(stat("/out/d2", &parent_st) == 0 && stat("/out/d2/d1/..", &dotdot_st) == 0 &&
          dotdot_st.st_ino == parent_st.st_ino && parent_st.st_nlink == 3);
    CHECK(read_all("/out/d2/d1/c.txt", buf, sizeof buf) == 5 && memcmp(buf, "first", 5) == 0);
    CHECK(unlink("/out/d2/d1/c.txt") == 0 && rmdir("/out/d2/d1") == 0 && rmdir("/out/d2") == 0);

    const char *const out_names[] = {".", "..", "written.bin"};
    CHECK(list_dir("/out", out_names, 3) == 3);
    /* What the host checks after the VM exits: written.bin with the tail and MID in it. */
    fd = open("/out/done.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "written by the guest\n", 21) == 21 && fsync(fd) == 0);
    CHECK(close(fd) == 0);
}

static void check_read_only(void)
{
    CHECK_ERR(open("/new.txt", O_CREAT | O_WRONLY, 0644), EROFS);
    CHECK_ERR(open("/hello.txt", O_WRONLY), EROFS);
    CHECK_ERR(open("/hello.txt", O_RDWR | O_TRUNC), EROFS);
    CHECK_ERR(mkdir("/newdir", 0755), EROFS);
    CHECK_ERR(unlink("/hello.txt"), EROFS);
    CHECK_ERR(rename("/hello.txt", "/moved.txt"), EROFS);
    CHECK(access("/hello.txt", R_OK) == 0);
    CHECK_ERR(access("/hello.txt", W_OK), EROFS);
}

static void check_no_disk(void)
{
    struct stat st;
    CHECK_ERR(open("/hello.txt", O_RDONLY), ENOENT);
    CHECK_ERR(open("/new.txt", O_CREAT | O_WRONLY, 0644), ENOENT);
    CHECK_ERR(stat("/", &st), ENOENT);
    CHECK_ERR(mkdir("/d", 0755), ENOENT);
    CHECK(opendir("/") == NULL && errno == ENOENT);
    CHECK(fopen("/hello.txt", "r") == NULL && errno == ENOENT);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "none") == 0) {
        check_no_disk();
    } else if (strcmp(mode, "ro") == 0 || strcmp(mode, "rw") == 0) {
        check_host_files();
        const char *const root[] = {".", "..", "hello.txt", "data", "www", "lost+found"};
        CHECK(list_dir("/", root, 6) == 6);
        const char *const data[] = {".", "..", "pattern.bin", "sub"};
        CHECK(list_dir("/data", data, 4) == 4);
        if (mode[1] == 'w')
            check_write_cycle();
        else
            check_read_only();
    } else {
        fprintf(stderr, "usage: fs_check rw|ro|none\n");
        return 2;
    }
    if (failures) {
        printf("fs_check: %d failures\n", failures);
        return 1;
    }
    printf("fs_check: ok %s\n", mode);
    return 0;
}
