/* Snapshot files: a frozen VM's platform state, windows and guest arguments (snapshot_file). */
#include "sched/snapshot_store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/snapshot_file.h"
#include "util/error_text.h"

/*
 * What goes in the file's CPU-state field: the platform's own state, the
 * windows, and the guest's packed arguments (its argv was parsed before the
 * snapshot, so a restore must give it the same ones).
 */
#define STATE_MAGIC 0x54534e44u /* "DNST" */
struct saved_state {
    uint32_t magic;
    uint32_t cpu_state_len;
    uint8_t cpu_state[PLATFORM_CPU_STATE_MAX];
    uint32_t window_count;
    uint32_t argc; /* with the image's name */
    uint64_t windows[PLATFORM_WINDOWS_MAX][2];
    uint32_t args_len;
    uint32_t pad;
    char args[DENALI_ARGS_MAX];
};
_Static_assert(sizeof(struct saved_state) <= SNAPSHOT_CPU_STATE_MAX, "state fits the file's field");

int snapshot_store_save(const char *path, const struct platform_snapshot *snap,
                        const struct guest_image *image, const uint8_t *ram, char *err,
                        size_t errlen)
{
    static struct snapshot_meta meta; /* 8 KiB: not on a worker's stack */
    memset(&meta, 0, sizeof(meta));
    meta.platform = snap->platform;
    meta.abi_version = DENALI_ABI_VERSION;
    meta.mem_size = snap->mem_size;
    meta.image_size = image->file_size;
    meta.image_hash = snapshot_hash(image->file, image->file_size);
    char resolved[PATH_MAX];
    if (!realpath(image->path, resolved) || strlen(resolved) >= sizeof(meta.image_path))
        return fail(err, errlen, "snapshot: cannot resolve the image's path %s", image->path);
    memcpy(meta.image_path, resolved, strlen(resolved) + 1);
    struct saved_state state = {.magic = STATE_MAGIC,
                                .cpu_state_len = snap->cpu_state_len,
                                .window_count = snap->window_count,
                                .argc = image->argc,
                                .args_len = image->args_len};
    memcpy(state.cpu_state, snap->cpu_state, sizeof(state.cpu_state));
    for (unsigned w = 0; w < PLATFORM_WINDOWS_MAX; w++) {
        state.windows[w][0] = snap->windows[w].start;
        state.windows[w][1] = snap->windows[w].end;
    }
    memcpy(state.args, image->args, sizeof(state.args));
    memcpy(meta.cpu_state, &state, sizeof(state));
    meta.cpu_state_len = sizeof(state);
    return snapshot_write(path, &meta, ram, err, errlen);
}

/* The packed arguments are the file's: every count and length is checked before use. */
static int unpack_args(const struct saved_state *state, struct snapshot_guest *guest, char *err,
                       size_t errlen, const char *path)
{
    if (state->args_len > DENALI_ARGS_MAX || state->argc == 0 ||
        state->argc > DENALI_ARGS_MAX / 2 + 1)
        return fail(err, errlen, "%s: bad guest arguments", path);
    memcpy(guest->args, state->args, state->args_len);
    uint32_t at = 0;
    int n = -1; /* the first string is the image's name, which the loader supplies again */
    for (uint32_t i = 0; i < state->argc; i++) {
        const char *end = memchr(guest->args + at, 0, state->args_len - at);
        if (at >= state->args_len || !end)
            return fail(err, errlen, "%s: bad guest arguments", path);
        if (n >= 0)
            guest->argv[n] = guest->args + at;
        n++;
        at = (uint32_t)(end - guest->args) + 1;
    }
    guest->argc = n;
    guest->argv[n] = NULL;
    return 0;
}

int snapshot_store_load(const char *path, struct platform_snapshot *snap,
                        struct snapshot_guest *guest, uint64_t *image_size, uint64_t *image_hash,
                        char *err, size_t errlen)
{
    static struct snapshot_meta meta;
    int memfd = snapshot_read(path, &meta, err, errlen);
    if (memfd < 0)
        return -1;
    struct saved_state state;
    memset(&state, 0, sizeof(state));
    memcpy(&state, meta.cpu_state,
           meta.cpu_state_len < sizeof(state) ? meta.cpu_state_len : sizeof(state));
    memset(snap, 0, sizeof(*snap));
    snap->memfd = -1;
    if (meta.cpu_state_len != sizeof(state) || state.magic != STATE_MAGIC ||
        state.cpu_state_len > PLATFORM_CPU_STATE_MAX || state.window_count > PLATFORM_WINDOWS_MAX) {
        close(memfd);
        return fail(err, errlen, "%s: its VM state is not one this denali wrote", path);
    }
    for (unsigned w = 0; w < state.window_count; w++) {
        uint64_t start = state.windows[w][0], end = state.windows[w][1];
        if (start % DENALI_PAGE_SIZE || end % DENALI_PAGE_SIZE || start < DENALI_LOW_LIMIT ||
            end <= start || end > meta.mem_size) {
            close(memfd);
            return fail(err, errlen, "%s: a shared window outside the guest", path);
        }
        snap->windows[w].start = start;
        snap->windows[w].end = end;
    }
    if (unpack_args(&state, guest, err, errlen, path) < 0) {
        close(memfd);
        return -1;
    }
    snap->platform = meta.platform;
    snap->memfd = memfd;
    snap->mem_size = meta.mem_size;
    snap->cpu_state_len = state.cpu_state_len;
    memcpy(snap->cpu_state, state.cpu_state, sizeof(snap->cpu_state));
    snap->window_count = state.window_count;
    memcpy(guest->image_path, meta.image_path, sizeof(guest->image_path));
    guest->mem_size = meta.mem_size;
    *image_size = meta.image_size;
    *image_hash = meta.image_hash;
    return 0;
}

int snapshot_store_check_image(const struct guest_image *image, uint64_t image_size,
                               uint64_t image_hash, char *err, size_t errlen)
{
    if (image->file_size != image_size ||
        snapshot_hash(image->file, image->file_size) != image_hash)
        return fail(err, errlen, "%s has changed since the snapshot was taken", image->path);
    return 0;
}
