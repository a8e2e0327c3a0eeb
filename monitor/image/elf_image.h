/* Parsing and validating a guest ELF image before any VM starts: pure, no KVM, no I/O. */
#ifndef DENALI_ELF_IMAGE_H
#define DENALI_ELF_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_IMAGE_MAX_SEGMENTS 8

struct elf_segment {
    uint64_t vaddr;
    uint64_t memsz;
    uint64_t filesz;
    uint64_t offset;
    bool writable;
    bool executable;
};

struct elf_image {
    uint64_t entry;
    uint64_t image_end; /* page-aligned end of the highest segment */
    unsigned segment_count;
    struct elf_segment segments[ELF_IMAGE_MAX_SEGMENTS]; /* sorted by vaddr */
    uint32_t abi_version;
};

/* Returns 0, or -1 with a one-line reason in err. */
int elf_image_parse(const uint8_t *data, size_t size, struct elf_image *image, char *err,
                    size_t errlen);
/* Checks that the parsed image fits a guest of mem_size bytes. */
int elf_image_check_fits(const struct elf_image *image, uint64_t mem_size, char *err,
                         size_t errlen);

#endif
