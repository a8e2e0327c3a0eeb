/* A process's page tables through /proc/PID/pagemap: reference bits and the pages it owns. */
#include "util/pagemap.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

#define PAGEMAP_BATCH       512u
#define PAGEMAP_PAGE        4096u
#define PAGEMAP_PRESENT     (1ull << 63)
#define PAGEMAP_SWAPPED     (1ull << 62)
#define PAGEMAP_FILE_SHARED (1ull << 61)

/* Entries for n pages from first_page; 0, or -1 (with errno). */
static int read_entries(int pagemap_fd, uint64_t first_page, uint64_t n, uint64_t *entries)
{
    ssize_t got = pagemap_fd < 0 ? -1
                                 : pread(pagemap_fd, entries, n * sizeof(uint64_t),
                                         (off_t)(first_page * sizeof(uint64_t)));
    if (got == (ssize_t)(n * sizeof(uint64_t)))
        return 0;
    if (got >= 0 || pagemap_fd < 0)
        errno = got >= 0 ? EIO : EBADF;
    return -1;
}

int pagemap_present(int pagemap_fd, uint64_t first_page, uint64_t pages, uint8_t *bits)
{
    uint64_t entries[PAGEMAP_BATCH];
    for (uint64_t done = 0; done < pages;) {
        uint64_t n = pages - done < PAGEMAP_BATCH ? pages - done : PAGEMAP_BATCH;
        if (read_entries(pagemap_fd, first_page + done, n, entries) < 0)
            return -1;
        for (uint64_t i = 0; i < n; i++)
            bits[done + i] = (uint8_t) !!(entries[i] & PAGEMAP_PRESENT);
        done += n;
    }
    return 0;
}

int pagemap_each_private_run(int pagemap_fd, uint64_t addr, uint64_t len,
                             int (*fn)(void *ctx, uint64_t offset, uint64_t len), void *ctx)
{
    uint64_t entries[PAGEMAP_BATCH];
    uint64_t pages = len / PAGEMAP_PAGE, run_start = 0, run_len = 0;
    for (uint64_t done = 0; done < pages;) {
        uint64_t n = pages - done < PAGEMAP_BATCH ? pages - done : PAGEMAP_BATCH;
        if (read_entries(pagemap_fd, addr / PAGEMAP_PAGE + done, n, entries) < 0)
            return -1;
        for (uint64_t i = 0; i < n; i++, done++) {
            /* The page cache's pages (a file's, or shared memory) are not the process's own. */
            bool own = (entries[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) &&
                       !(entries[i] & PAGEMAP_FILE_SHARED);
            uint64_t at = done * PAGEMAP_PAGE;
            if (own && run_len && run_start + run_len == at) {
                run_len += PAGEMAP_PAGE;
                continue;
            }
            int rc = run_len ? fn(ctx, run_start, run_len) : 0;
            if (rc != 0)
                return rc;
            run_start = at;
            run_len = own ? PAGEMAP_PAGE : 0;
        }
    }
    return run_len ? fn(ctx, run_start, run_len) : 0;
}
