/* pread and pwrite of exactly the bytes asked for, through short transfers and signals. */
#ifndef DENALI_FULL_IO_H
#define DENALI_FULL_IO_H

#include <stddef.h>
#include <stdint.h>

/* 0, or -1 on an error or at the end of the file. */
int pread_full(int fd, void *buf, size_t len, uint64_t offset);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t offset);

#endif
