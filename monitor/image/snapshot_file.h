/* The on-disk VM snapshot: a booted guest's RAM and CPU state, versioned and checksummed. */
#ifndef DENALI_SNAPSHOT_FILE_H
#define DENALI_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

/* docs/SNAPSHOT_FORMAT.md describes the file byte by byte. */
#define SNAPSHOT_FORMAT_VERSION 1u
#define SNAPSHOT_CPU_STATE_MAX  4096u /* platform-defined CPU state blob, opaque here */
#define SNAPSHOT_IMAGE_PATH_MAX 4096u

struct snapshot_meta {
    uint32_t platform;    /* enum platform_kind value of the platform that wrote it (opaque here) */
    uint32_t abi_version; /* DENALI_ABI_VERSION of the guest (include/denali/abi.h) */
    uint64_t mem_size;    /* guest RAM bytes; multiple of DENALI_MEM_ALIGN, DENALI_MEM_MIN..MAX */
    uint64_t image_size;  /* size of the guest ELF image file it was booted from */
    uint64_t image_hash;  /* a 64-bit hash of that file's bytes (snapshot_hash below) */
    char image_path[SNAPSHOT_IMAGE_PATH_MAX]; /* absolute path of that image, NUL-terminated */
    uint32_t cpu_state_len; /* bytes used in cpu_state, <= SNAPSHOT_CPU_STATE_MAX */
    uint8_t cpu_state[SNAPSHOT_CPU_STATE_MAX];
};

/* 64-bit hash of len bytes (for image identity and the file's checksums). */
uint64_t snapshot_hash(const void *data, size_t len);

/*
 * Writes meta and the guest RAM (ram, meta->mem_size bytes) to path. Only non-zero pages
 * (DENALI_PAGE_SIZE each) are stored. Written to a temporary file in the same directory then
 * renamed, so a crash never leaves a half-written file under path. Returns 0, or -1 with a
 * one-line reason in err. Prints nothing.
 *
 * meta must pass the checks snapshot_read makes (abi_version == DENALI_ABI_VERSION, mem_size
 * in range, cpu_state_len bounded, image_path absolute and NUL-terminated), so that nothing is
 * written that could not be read back. Bytes past image_path's NUL and past cpu_state_len are
 * not written. The file is created with mode 0600: guest RAM may hold the guest's secrets.
 */
int snapshot_write(const char *path, const struct snapshot_meta *meta, const uint8_t *ram,
                   char *err, size_t errlen);

/*
 * Reads and fully validates path: magic, format version, header fields in range, every
 * checksum, page numbers in range, strictly increasing, no trailing bytes, file not truncated.
 * On success fills *meta and returns a new memfd (close-on-exec) of exactly meta->mem_size
 * bytes holding the RAM (pages not stored are zero). On any problem returns -1 with a one-line
 * reason in err naming what is wrong (e.g. "snap.bin: not a Denali snapshot (bad magic)",
 * "... format version 7, this denali reads 1", "... truncated at byte N", "... checksum mismatch
 * in page data"), having created nothing.
 *
 * The checksums catch corruption, not forgery: platform, image identity and cpu_state are
 * only as trustworthy as whoever could write the file, and the caller checks them.
 */
int snapshot_read(const char *path, struct snapshot_meta *meta, char *err, size_t errlen);

#endif
