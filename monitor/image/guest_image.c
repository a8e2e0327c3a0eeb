/* A guest image loaded once and shared by every VM: the file mapping, parsed ELF and memory layout.
 */
#include "image/guest_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int pack_args(struct guest_image *image, const char *path, int argc, char **argv, char *err,
                     size_t errlen)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    image->argc = 0;
    image->args_len = 0;
    for (int i = -1; i < argc; i++) {
        const char *arg = i < 0 ? name : argv[i];
        size_t len = strlen(arg) + 1;
        if (len > DENALI_ARGS_MAX - image->args_len) {
            snprintf(err, errlen, "guest arguments exceed %u bytes", DENALI_ARGS_MAX);
            return -1;
        }
        memcpy(image->args + image->args_len, arg, len);
        image->args_len += (uint32_t)len;
        image->argc++;
    }
    return 0;
}

int guest_image_load(struct guest_image *image, const char *path, uint64_t mem_size, int argc,
                     char **argv, char *err, size_t errlen)
{
    memset(image, 0, sizeof(*image));
    image->fd = -1;
    image->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        snprintf(err, errlen, "%s: not a regular, non-empty file", path);
        close(fd);
        return -1;
    }
    image->file_size = (size_t)st.st_size;
    image->map_size = (image->file_size + DENALI_PAGE_SIZE - 1) & ~(size_t)(DENALI_PAGE_SIZE - 1);
    /* One private read-only mapping that every VM's text memslot points into. */
    void *map = mmap(NULL, image->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Kept open: a VM process maps the image's text from the very file the monitor checked. */
    image->fd = fd;
    image->file = map;
    char why[256];
    if (elf_image_parse(image->file, image->file_size, &image->elf, why, sizeof(why)) < 0 ||
        guest_layout_plan(&image->elf, mem_size, &image->layout, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        guest_image_unload(image);
        return -1;
    }
    if (pack_args(image, path, argc, argv, err, errlen) < 0) {
        guest_image_unload(image);
        return -1;
    }
    return 0;
}

void guest_image_unload(struct guest_image *image)
{
    if (image->file)
        munmap((void *)image->file, image->map_size);
    image->file = NULL;
    if (image->fd >= 0)
        close(image->fd);
    image->fd = -1;
}
