/* libslirp, loaded when a VM first needs `--net user`, so that a monitor without it starts fast. */
#include "net/slirp_library.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util/error_text.h"

/*
 * Linking libslirp pulls GLib and PCRE2 into every start of the monitor:
 * about a hundred page faults and 2.5 ms here, before `main`, even for a run
 * with `--net none`. The soname is the one Debian's libslirp0 package ships.
 */
#define SLIRP_SONAME "libslirp.so.0"

static struct slirp_library library;
static const char *load_error;
static char load_error_text[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* Each entry point by name, and where in the table its address goes. */
static const struct {
    const char *name;
    size_t offset;
} entry_points[] = {
    {"slirp_new", offsetof(struct slirp_library, create)},
    {"slirp_cleanup", offsetof(struct slirp_library, cleanup)},
    {"slirp_input", offsetof(struct slirp_library, input)},
    {"slirp_pollfds_fill", offsetof(struct slirp_library, pollfds_fill)},
    {"slirp_pollfds_poll", offsetof(struct slirp_library, pollfds_poll)},
    {"slirp_add_hostfwd", offsetof(struct slirp_library, add_hostfwd)},
};

static void load(void)
{
    void *handle = dlopen(SLIRP_SONAME, RTLD_LAZY | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(load_error_text, sizeof(load_error_text),
                 "cannot load %s (Debian package libslirp0): %s", SLIRP_SONAME,
                 why ? why : "unknown error");
        load_error = load_error_text;
        return;
    }
    for (size_t i = 0; i < sizeof(entry_points) / sizeof(entry_points[0]); i++) {
        void *fn = dlsym(handle, entry_points[i].name);
        if (!fn) {
            snprintf(load_error_text, sizeof(load_error_text), "%s lacks %s", SLIRP_SONAME,
                     entry_points[i].name);
            load_error = load_error_text;
            return;
        }
        /* A data pointer stored as a function pointer: POSIX guarantees dlsym's result converts. */
        memcpy((char *)&library + entry_points[i].offset, &fn, sizeof(fn));
    }
    /* Never dlclose'd: GLib must not be unloaded from a running process. */
}

const struct slirp_library *slirp_library_load(char *err, size_t errlen)
{
    pthread_once(&load_once, load);
    if (load_error) {
        (void)fail(err, errlen, "slirp: %s", load_error);
        return NULL;
    }
    return &library;
}
