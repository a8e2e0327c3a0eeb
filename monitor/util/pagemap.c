/* Reference bits from a process's page tables: which pages of a range are mapped now. */
#include "util/pagemap.h"

#include <sys/types.h>
#include <unistd.h>

#define PAGEMAP_BATCH 512u

int pagemap_present(int pagemap_fd, uint64_t first_page, uint64_t pages, uint8_t *bits)
{
    uint64_t entries[PAGEMAP_BATCH];
    for (uint64_t done = 0; done < pages;) {
        uint64_t n = pages - done < PAGEMAP_BATCH ? pages - done : PAGEMAP_BATCH;
        ssize_t got = pagemap_fd < 0 ? -1
                                     : pread(pagemap_fd, entries, n * sizeof(uint64_t),
                                             (off_t)((first_page + done) * sizeof(uint64_t)));
        if (got != (ssize_t)(n * sizeof(uint64_t)))
            return -1;
        /* Bit 63: the page is present. */
        for (uint64_t i = 0; i < n; i++)
            bits[done + i] = (uint8_t)(entries[i] >> 63);
        done += n;
    }
    return 0;
}
