/* Reference bits from a process's page tables: which pages of a range are mapped now. */
#ifndef DENALI_PAGEMAP_H
#define DENALI_PAGEMAP_H

#include <stdint.h>

/*
 * bits[i] = 1 when virtual page first_page + i is present in the page
 * tables pagemap_fd (an open /proc/PID/pagemap) describes. 0, or -1 when
 * they cannot be read.
 */
int pagemap_present(int pagemap_fd, uint64_t first_page, uint64_t pages, uint8_t *bits);

#endif
