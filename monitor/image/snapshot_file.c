/* Writing and validating the on-disk VM snapshot (layout in docs/SNAPSHOT_FORMAT.md). */
#include "image/snapshot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "denali/abi.h"
#include "util/error_text.h"

/* Sizes are byte counts of up to 4 GiB RAM kept in size_t. */
_Static_assert(sizeof(size_t) >= 8, "a 64-bit host");

#define PAGE ((uint64_t)DENALI_PAGE_SIZE)

static const uint8_t snapshot_magic[8] = {'D', 'E', 'N', 'A', 'L', 'I', 'S', 'N'};

/* Header field offsets: fixed by format version 1, see the document. */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_HEADER_LEN = 12,
    OFF_PLATFORM = 16,
    OFF_ABI_VERSION = 20,
    OFF_MEM_SIZE = 24,
    OFF_IMAGE_SIZE = 32,
    OFF_IMAGE_HASH = 40,
    OFF_PAGE_COUNT = 48,
    OFF_CPU_STATE_LEN = 56,
    OFF_RESERVED = 60,
    OFF_IMAGE_PATH = 64,
    OFF_CPU_STATE = OFF_IMAGE_PATH + SNAPSHOT_IMAGE_PATH_MAX,
    OFF_INDEX_HASH = OFF_CPU_STATE + SNAPSHOT_CPU_STATE_MAX,
    OFF_HEADER_HASH = OFF_INDEX_HASH + 8,
    HEADER_LEN = OFF_HEADER_HASH + 8,
    /* An index entry: the page number, then the hash of the page's bytes. */
    ENTRY_LEN = 16,
};

/* Pages per read of page data (1 MiB): amortises the system calls, and the buffer stays small. */
#define READ_CHUNK_PAGES 256u

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

/* ---- the hash ---- */

#define HASH_M1 0x9e3779b97f4a7c15ull
#define HASH_M2 0xbf58476d1ce4e5b9ull
#define HASH_M3 0x94d049bb133111ebull

/* A bijection of 64 bits that lets every input bit reach every output bit. */
static uint64_t hash_finish(uint64_t x)
{
    x ^= x >> 31;
    x *= HASH_M2;
    x ^= x >> 29;
    x *= HASH_M3;
    x ^= x >> 32;
    return x;
}

/*
 * For a fixed lane value this is a bijection of the word, and for a fixed word one of the lane
 * value, so a change confined to one 8-byte word always changes the result.
 */
static uint64_t hash_round(uint64_t lane, uint64_t word)
{
    lane = (lane ^ word) * HASH_M2;
    return lane ^ (lane >> 32);
}

/* The word in file byte order whatever the host's, so a file means the same on every host. */
static uint64_t load_word(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

uint64_t snapshot_hash(const void *data, size_t len)
{
    const uint8_t *p = data;
    /* Four independent lanes, so the multiplications of a 32-byte stripe run in parallel. */
    uint64_t lane[4];
    for (unsigned i = 0; i < 4; i++)
        lane[i] = HASH_M1 * (i + 1);
    size_t words = len / 8;
    size_t w = 0;
    for (; w + 4 <= words; w += 4)
        for (unsigned i = 0; i < 4; i++)
            lane[i] = hash_round(lane[i], load_word(p + 8 * (w + i)));
    for (unsigned i = 0; w < words; w++, i++)
        lane[i] = hash_round(lane[i], load_word(p + 8 * w));
    size_t rest = len % 8;
    if (rest) {
        uint8_t last[8] = {0};
        memcpy(last, p + 8 * words, rest);
        lane[words % 4] = hash_round(lane[words % 4], load_word(last));
    }
    /* The length tells apart inputs that differ only by trailing zero bytes. */
    uint64_t h = (uint64_t)len;
    for (unsigned i = 0; i < 4; i++)
        h = (h ^ hash_finish(lane[i])) * HASH_M1;
    return hash_finish(h);
}

/* ---- checks shared by the writer and the reader ---- */

/* The meta fields' ranges; reason without the path, for both sides to prefix. */
static int check_meta(const struct snapshot_meta *m, char *why, size_t whylen)
{
    if (m->abi_version != DENALI_ABI_VERSION)
        return fail(why, whylen, "guest ABI version %u, this denali runs ABI %u", m->abi_version,
                    DENALI_ABI_VERSION);
    if (m->mem_size < DENALI_MEM_MIN || m->mem_size > DENALI_MEM_MAX)
        return fail(why, whylen, "memory size %llu bytes outside %llu..%llu",
                    (unsigned long long)m->mem_size, (unsigned long long)DENALI_MEM_MIN,
                    (unsigned long long)DENALI_MEM_MAX);
    if (m->mem_size % DENALI_MEM_ALIGN)
        return fail(why, whylen, "memory size %llu bytes is not a multiple of %llu",
                    (unsigned long long)m->mem_size, (unsigned long long)DENALI_MEM_ALIGN);
    if (m->cpu_state_len > SNAPSHOT_CPU_STATE_MAX)
        return fail(why, whylen, "CPU state length %u exceeds %u", m->cpu_state_len,
                    SNAPSHOT_CPU_STATE_MAX);
    if (!memchr(m->image_path, '\0', sizeof(m->image_path)))
        return fail(why, whylen, "image path not NUL-terminated within its %u bytes",
                    SNAPSHOT_IMAGE_PATH_MAX);
    /* A restore may run in another directory than the snapshot did. */
    if (m->image_path[0] != '/')
        return fail(why, whylen, "image path \"%.64s\" is not absolute", m->image_path);
    return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return false;
    return true;
}

static bool page_is_zero(const uint8_t *page)
{
    for (uint64_t off = 0; off < PAGE; off += 64) {
        uint64_t any = 0;
        for (unsigned i = 0; i < 8; i++) {
            uint64_t w;
            memcpy(&w, page + off + 8 * i, sizeof(w));
            any |= w;
        }
        if (any)
            return false;
    }
    return true;
}

/* ---- writing ---- */

/* Writes all of len bytes, through short writes and signals. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            /* A regular file that takes nothing is out of space in all but name. */
            errno = ENOSPC;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The stored pages' index entries, serialised as in the file, for the index hash. */
struct page_index {
    uint8_t *bytes;
    uint64_t count;
    uint64_t capacity;
};

static int index_add(struct page_index *ix, uint64_t page, uint64_t hash)
{
    if (ix->count == ix->capacity) {
        uint64_t capacity = ix->capacity ? ix->capacity * 2 : 256;
        uint8_t *bigger = realloc(ix->bytes, capacity * ENTRY_LEN);
        if (!bigger)
            return -1;
        ix->bytes = bigger;
        ix->capacity = capacity;
    }
    uint8_t *e = ix->bytes + ix->count * ENTRY_LEN;
    put_le64(e, page);
    put_le64(e + 8, hash);
    ix->count++;
    return 0;
}

static void encode_header(uint8_t *h, const struct snapshot_meta *m, uint64_t page_count,
                          uint64_t index_hash)
{
    memset(h, 0, HEADER_LEN);
    memcpy(h + OFF_MAGIC, snapshot_magic, sizeof(snapshot_magic));
    put_le32(h + OFF_VERSION, SNAPSHOT_FORMAT_VERSION);
    put_le32(h + OFF_HEADER_LEN, HEADER_LEN);
    put_le32(h + OFF_PLATFORM, m->platform);
    put_le32(h + OFF_ABI_VERSION, m->abi_version);
    put_le64(h + OFF_MEM_SIZE, m->mem_size);
    put_le64(h + OFF_IMAGE_SIZE, m->image_size);
    put_le64(h + OFF_IMAGE_HASH, m->image_hash);
    put_le64(h + OFF_PAGE_COUNT, page_count);
    put_le32(h + OFF_CPU_STATE_LEN, m->cpu_state_len);
    /* Only up to the NUL and cpu_state_len: the rest of the caller's fields may be stale. */
    memcpy(h + OFF_IMAGE_PATH, m->image_path, strlen(m->image_path));
    memcpy(h + OFF_CPU_STATE, m->cpu_state, m->cpu_state_len);
    put_le64(h + OFF_INDEX_HASH, index_hash);
    put_le64(h + OFF_HEADER_HASH, snapshot_hash(h, OFF_HEADER_HASH));
}

/* Header, index, then each run of consecutive stored pages in one write. */
static int write_contents(int fd, const uint8_t *header, const struct page_index *ix,
                          const uint8_t *ram)
{
    if (write_all(fd, header, HEADER_LEN) < 0 ||
        write_all(fd, ix->bytes, (size_t)(ix->count * ENTRY_LEN)) < 0)
        return -1;
    for (uint64_t i = 0; i < ix->count;) {
        uint64_t first = get_le64(ix->bytes + i * ENTRY_LEN);
        uint64_t run = 1;
        while (i + run < ix->count && get_le64(ix->bytes + (i + run) * ENTRY_LEN) == first + run)
            run++;
        if (write_all(fd, ram + first * PAGE, (size_t)(run * PAGE)) < 0)
            return -1;
        i += run;
    }
    return 0;
}

/* The temporary file's name: hidden, in path's directory, so that rename cannot cross devices. */
static char *temp_template(const char *path)
{
    static const char name[] = ".denali-snapshot-XXXXXX";
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    char *t = malloc(dir_len + sizeof(name));
    if (t) {
        memcpy(t, path, dir_len);
        memcpy(t + dir_len, name, sizeof(name));
    }
    return t;
}

int snapshot_write(const char *path, const struct snapshot_meta *meta, const uint8_t *ram,
                   char *err, size_t errlen)
{
    char why[256];
    if (check_meta(meta, why, sizeof(why)) < 0)
        return fail(err, errlen, "%s: cannot write a snapshot: %s", path, why);

    struct page_index ix = {0};
    for (uint64_t page = 0; page < meta->mem_size / PAGE; page++) {
        const uint8_t *p = ram + page * PAGE;
        if (page_is_zero(p))
            continue;
        if (index_add(&ix, page, snapshot_hash(p, PAGE)) < 0) {
            free(ix.bytes);
            return fail(err, errlen, "%s: out of memory for the page index", path);
        }
    }
    uint8_t *header = malloc(HEADER_LEN);
    char *tmp = temp_template(path);
    if (!header || !tmp) {
        free(header);
        free(tmp);
        free(ix.bytes);
        return fail(err, errlen, "%s: out of memory", path);
    }
    encode_header(header, meta, ix.count, snapshot_hash(ix.bytes, (size_t)(ix.count * ENTRY_LEN)));

    int rc = -1;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        (void)fail(err, errlen, "%s: cannot create a temporary file %s: %s", path, tmp,
                   strerror(errno));
        goto out;
    }
    int written = write_contents(fd, header, &ix, ram);
    int saved = errno;
    /* close reports what some file systems (NFS) only find out at the end. */
    if (close(fd) < 0 && written == 0) {
        written = -1;
        saved = errno;
    }
    if (written < 0) {
        (void)fail(err, errlen, "%s: cannot write: %s", path, strerror(saved));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) < 0) {
        (void)fail(err, errlen, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(header);
    free(tmp);
    free(ix.bytes);
    return rc;
}

/* ---- reading ---- */

/* Reads up to len bytes at off; fewer only at the end of the file. -1 on an error. */
static ssize_t read_at(int fd, uint8_t *p, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/*
 * Reads exactly len bytes at off, or fails naming where the file ended (it may shrink after
 * the size check) or the error.
 */
static int read_exact(int fd, uint8_t *p, size_t len, uint64_t off, const char *path, char *err,
                      size_t errlen)
{
    ssize_t n = read_at(fd, p, len, off);
    if (n < 0)
        return fail(err, errlen, "%s: read error at byte %llu: %s", path, (unsigned long long)off,
                    strerror(errno));
    if ((size_t)n < len)
        return fail(err, errlen, "%s: truncated at byte %llu", path,
                    (unsigned long long)(off + (uint64_t)n));
    return 0;
}

/* Magic, version and header length: the part every format version keeps where it is. */
static int check_preamble(const uint8_t *h, uint64_t size, const char *path, char *err,
                          size_t errlen)
{
    if (size == 0)
        return fail(err, errlen, "%s: empty file, not a Denali snapshot", path);
    size_t have = size < sizeof(snapshot_magic) ? (size_t)size : sizeof(snapshot_magic);
    if (memcmp(h, snapshot_magic, have) != 0)
        return fail(err, errlen, "%s: not a Denali snapshot (bad magic)", path);
    if (size < OFF_VERSION + 4)
        goto truncated;
    uint32_t version = get_le32(h + OFF_VERSION);
    if (version != SNAPSHOT_FORMAT_VERSION)
        return fail(err, errlen, "%s: format version %u, this denali reads %u", path, version,
                    SNAPSHOT_FORMAT_VERSION);
    if (size < OFF_HEADER_LEN + 4)
        goto truncated;
    uint32_t header_len = get_le32(h + OFF_HEADER_LEN);
    if (header_len != HEADER_LEN)
        return fail(err, errlen, "%s: header length %u, format version %u has %u", path, header_len,
                    SNAPSHOT_FORMAT_VERSION, HEADER_LEN);
    if (size < HEADER_LEN)
        goto truncated;
    return 0;
truncated:
    return fail(err, errlen, "%s: truncated at byte %llu in the header (%u bytes)", path,
                (unsigned long long)size, HEADER_LEN);
}

/* The checksummed header's fields into meta, each checked. */
static int decode_header(const uint8_t *h, struct snapshot_meta *meta, uint64_t *page_count,
                         const char *path, char *err, size_t errlen)
{
    if (get_le64(h + OFF_HEADER_HASH) != snapshot_hash(h, OFF_HEADER_HASH))
        return fail(err, errlen, "%s: checksum mismatch in the header", path);
    /* Not yet meaningful, so a writer that sets it is not one of this version. */
    if (get_le32(h + OFF_RESERVED) != 0)
        return fail(err, errlen, "%s: reserved header field is 0x%x, not zero", path,
                    get_le32(h + OFF_RESERVED));
    memset(meta, 0, sizeof(*meta));
    meta->platform = get_le32(h + OFF_PLATFORM);
    meta->abi_version = get_le32(h + OFF_ABI_VERSION);
    meta->mem_size = get_le64(h + OFF_MEM_SIZE);
    meta->image_size = get_le64(h + OFF_IMAGE_SIZE);
    meta->image_hash = get_le64(h + OFF_IMAGE_HASH);
    meta->cpu_state_len = get_le32(h + OFF_CPU_STATE_LEN);
    memcpy(meta->image_path, h + OFF_IMAGE_PATH, SNAPSHOT_IMAGE_PATH_MAX);
    char why[256];
    if (check_meta(meta, why, sizeof(why)) < 0)
        return fail(err, errlen, "%s: %s", path, why);
    /* Padding must be zero, so that one snapshot has exactly one encoding. */
    size_t path_len = strlen(meta->image_path);
    if (!all_zero(h + OFF_IMAGE_PATH + path_len, SNAPSHOT_IMAGE_PATH_MAX - path_len))
        return fail(err, errlen, "%s: non-zero bytes after the image path's NUL", path);
    if (!all_zero(h + OFF_CPU_STATE + meta->cpu_state_len,
                  SNAPSHOT_CPU_STATE_MAX - meta->cpu_state_len))
        return fail(err, errlen, "%s: non-zero bytes after the CPU state's %u bytes", path,
                    meta->cpu_state_len);
    memcpy(meta->cpu_state, h + OFF_CPU_STATE, meta->cpu_state_len);
    *page_count = get_le64(h + OFF_PAGE_COUNT);
    if (*page_count > meta->mem_size / PAGE)
        return fail(err, errlen, "%s: %llu stored pages, more than the %llu of its memory", path,
                    (unsigned long long)*page_count, (unsigned long long)(meta->mem_size / PAGE));
    return 0;
}

/* Page numbers in range and strictly increasing, so each page is written once. */
static int check_index(const uint8_t *index, uint64_t count, uint64_t pages, const char *path,
                       char *err, size_t errlen)
{
    for (uint64_t i = 0; i < count; i++) {
        uint64_t page = get_le64(index + i * ENTRY_LEN);
        if (page >= pages)
            return fail(err, errlen, "%s: page number %llu out of range (%llu pages), entry %llu",
                        path, (unsigned long long)page, (unsigned long long)pages,
                        (unsigned long long)i);
        if (i > 0 && page <= get_le64(index + (i - 1) * ENTRY_LEN))
            return fail(err, errlen,
                        "%s: page numbers not strictly increasing at entry %llu (%llu after %llu)",
                        path, (unsigned long long)i, (unsigned long long)page,
                        (unsigned long long)get_le64(index + (i - 1) * ENTRY_LEN));
    }
    return 0;
}

/* Reads the page data chunk by chunk, checks each page, and writes runs of them into memfd. */
static int load_pages(int fd, int memfd, const uint8_t *index, uint64_t count, uint64_t data_off,
                      const char *path, char *err, size_t errlen)
{
    uint8_t *buf = malloc(READ_CHUNK_PAGES * PAGE);
    if (!buf)
        return fail(err, errlen, "%s: out of memory", path);
    int rc = -1;
    for (uint64_t i = 0; i < count;) {
        uint64_t n = count - i < READ_CHUNK_PAGES ? count - i : READ_CHUNK_PAGES;
        uint64_t off = data_off + i * PAGE;
        if (read_exact(fd, buf, (size_t)(n * PAGE), off, path, err, errlen) < 0)
            goto out;
        for (uint64_t j = 0; j < n; j++) {
            const uint8_t *e = index + (i + j) * ENTRY_LEN;
            if (snapshot_hash(buf + j * PAGE, PAGE) != get_le64(e + 8)) {
                (void)fail(err, errlen,
                           "%s: checksum mismatch in page data (page %llu, at byte %llu)", path,
                           (unsigned long long)get_le64(e), (unsigned long long)(off + j * PAGE));
                goto out;
            }
        }
        for (uint64_t j = 0; j < n;) {
            uint64_t first = get_le64(index + (i + j) * ENTRY_LEN);
            uint64_t run = 1;
            while (j + run < n && get_le64(index + (i + j + run) * ENTRY_LEN) == first + run)
                run++;
            const uint8_t *p = buf + j * PAGE;
            size_t left = (size_t)(run * PAGE);
            uint64_t to = first * PAGE;
            while (left > 0) {
                ssize_t w = pwrite(memfd, p, left, (off_t)to);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    (void)fail(err, errlen, "%s: cannot fill the memory file: %s", path,
                               w < 0 ? strerror(errno) : "no progress");
                    goto out;
                }
                p += w;
                to += (uint64_t)w;
                left -= (size_t)w;
            }
            j += run;
        }
        i += n;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

int snapshot_read(const char *path, struct snapshot_meta *meta, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO under path must be refused below, not block the open. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        (void)fail(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;

    int rc = -1, memfd = -1;
    uint8_t *index = NULL;
    uint8_t *h = malloc(HEADER_LEN);
    struct snapshot_meta m;
    if (!h) {
        (void)fail(err, errlen, "%s: out of memory", path);
        goto out;
    }
    size_t want = size < HEADER_LEN ? (size_t)size : HEADER_LEN;
    if (read_exact(fd, h, want, 0, path, err, errlen) < 0 ||
        check_preamble(h, size, path, err, errlen) < 0)
        goto out;
    uint64_t count = 0;
    if (decode_header(h, &m, &count, path, err, errlen) < 0)
        goto out;

    /* count <= 2^20 here, so none of this can overflow. */
    uint64_t index_len = count * ENTRY_LEN;
    uint64_t data_off = HEADER_LEN + index_len;
    uint64_t expected = data_off + count * PAGE;
    if (size < expected) {
        (void)fail(err, errlen, "%s: truncated at byte %llu in the %s (%llu bytes expected)", path,
                   (unsigned long long)size, size < data_off ? "page index" : "page data",
                   (unsigned long long)expected);
        goto out;
    }
    if (size > expected) {
        (void)fail(err, errlen, "%s: %llu trailing bytes after the page data (byte %llu)", path,
                   (unsigned long long)(size - expected), (unsigned long long)expected);
        goto out;
    }

    index = malloc(index_len ? (size_t)index_len : 1);
    if (!index) {
        (void)fail(err, errlen, "%s: out of memory for %llu index entries", path,
                   (unsigned long long)count);
        goto out;
    }
    if (read_exact(fd, index, (size_t)index_len, HEADER_LEN, path, err, errlen) < 0)
        goto out;
    if (snapshot_hash(index, (size_t)index_len) != get_le64(h + OFF_INDEX_HASH)) {
        (void)fail(err, errlen, "%s: checksum mismatch in the page index", path);
        goto out;
    }
    if (check_index(index, count, m.mem_size / PAGE, path, err, errlen) < 0)
        goto out;

    memfd = memfd_create("denali-snapshot", MFD_CLOEXEC);
    if (memfd < 0) {
        (void)fail(err, errlen, "%s: cannot create a memory file: %s", path, strerror(errno));
        goto out;
    }
    if (ftruncate(memfd, (off_t)m.mem_size) < 0) {
        (void)fail(err, errlen, "%s: cannot size the memory file to %llu bytes: %s", path,
                   (unsigned long long)m.mem_size, strerror(errno));
        goto out;
    }
    if (load_pages(fd, memfd, index, count, data_off, path, err, errlen) < 0)
        goto out;
    /* The file may have grown since fstat; what was checked must be all there is. */
    uint8_t extra;
    ssize_t more = read_at(fd, &extra, 1, expected);
    if (more != 0) {
        (void)fail(err, errlen, "%s: %s past byte %llu", path,
                   more < 0 ? strerror(errno) : "grew while being read",
                   (unsigned long long)expected);
        goto out;
    }
    *meta = m;
    rc = memfd;
    memfd = -1;
out:
    if (memfd >= 0)
        close(memfd);
    free(index);
    free(h);
    close(fd);
    return rc;
}
