/* A process's page tables through /proc/PID/pagemap: reference bits and the pages it owns. */
#ifndef DENALI_PAGEMAP_H
#define DENALI_PAGEMAP_H

#include <stdint.h>

/*
 * bits[i] = 1 when virtual page first_page + i is present in the page
 * tables pagemap_fd (an open /proc/PID/pagemap) describes. 0, or -1 when
 * they cannot be read.
 */
int pagemap_present(int pagemap_fd, uint64_t first_page, uint64_t pages, uint8_t *bits);

/*
 * Calls fn(ctx, offset, len) for each run of [addr, addr + len) (whole
 * pages) whose pages are the process's own anonymous memory, in memory or
 * in swap: in a private file mapping, the pages it wrote. Offsets are from
 * addr. 0, -1 with errno when pagemap cannot be read, or what fn returned
 * when it was not 0.
 */
int pagemap_each_private_run(int pagemap_fd, uint64_t addr, uint64_t len,
                             int (*fn)(void *ctx, uint64_t offset, uint64_t len), void *ctx);

#endif
