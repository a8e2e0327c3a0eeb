/* A guest image loaded once and shared by every VM: the file mapping, parsed ELF and memory layout.
 */
#ifndef DENALI_GUEST_IMAGE_H
#define DENALI_GUEST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "denali/abi.h"
#include "image/elf_image.h"
#include "image/guest_layout.h"

struct guest_image {
    const char *path;    /* as given to guest_image_load, which keeps the pointer */
    const uint8_t *file; /* the whole file, mapped read-only and private */
    size_t file_size;
    size_t map_size;
    int fd; /* the file, open read-only (close-on-exec) while the image is loaded */
    struct elf_image elf;
    struct guest_layout layout;
    uint32_t argc;
    uint32_t args_len;
    char args[DENALI_ARGS_MAX]; /* argv packed as the virtual registers carry it */
};

/* Loads and validates path for guests of mem_size bytes, with argv[0] = the image's name. */
int guest_image_load(struct guest_image *image, const char *path, uint64_t mem_size, int argc,
                     char **argv, char *err, size_t errlen);
void guest_image_unload(struct guest_image *image);

#endif
