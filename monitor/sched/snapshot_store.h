/* Snapshot files: a frozen VM's platform state, windows and guest arguments (snapshot_file). */
#ifndef DENALI_SNAPSHOT_STORE_H
#define DENALI_SNAPSHOT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "image/guest_image.h"
#include "platform/platform.h"

/* A snapshot file's guest: where its image is and the arguments it was booted with. */
struct snapshot_guest {
    char image_path[4096];
    uint64_t mem_size;
    int argc; /* arguments after the image's name */
    char *argv[DENALI_ARGS_MAX / 2 + 1];
    char args[DENALI_ARGS_MAX]; /* argv's strings */
};

/*
 * Writes snap, taken from a VM of image whose RAM is ram, to path. 0, or -1
 * with a one-line reason.
 */
int snapshot_store_save(const char *path, const struct platform_snapshot *snap,
                        const struct guest_image *image, const uint8_t *ram, char *err,
                        size_t errlen);

/*
 * Reads path, validated, into snap (its memfd is new) and guest; the caller
 * then loads guest's image and checks it with snapshot_store_check_image.
 */
int snapshot_store_load(const char *path, struct platform_snapshot *snap,
                        struct snapshot_guest *guest, uint64_t *image_size, uint64_t *image_hash,
                        char *err, size_t errlen);

/* The image loaded for a restore is the one the snapshot was taken from: 0, or -1 and why. */
int snapshot_store_check_image(const struct guest_image *image, uint64_t image_size,
                               uint64_t image_hash, char *err, size_t errlen);

#endif
