/* An OCI bundle's config.json, read for what a Denali VM needs: its image, arguments, options. */
#ifndef DENALI_OCI_BUNDLE_H
#define DENALI_OCI_BUNDLE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

struct bundle {
    char *bundle_dir;         /* absolute */
    char *image;              /* absolute host path of process.args[0], inside the rootfs */
    json_object *args;        /* array of strings: process.args[1..] */
    json_object *annotations; /* object of strings (never NULL after a load) */
    bool sandbox;             /* a Kubernetes pod's sandbox ("pause") container: no VM */
};

/*
 * Reads DIR/config.json. 0, or -1 with one line in err: no or malformed config.json, a terminal
 * requested, no process.args, or args[0] not a regular file inside root.path. A pod sandbox's
 * process is not read: it runs no guest.
 */
int bundle_load(const char *dir, struct bundle *out, char *err, size_t errlen);
void bundle_free(struct bundle *bundle);

/*
 * Resolves guest_path (absolute, or relative to cwd, both as the container sees them) inside the
 * host directory rootfs. The result (malloc'd, absolute) is refused when it leaves rootfs, by
 * `..` or through a symbolic link, or is not a regular file.
 */
char *bundle_resolve_in_rootfs(const char *rootfs, const char *cwd, const char *guest_path,
                               char *err, size_t errlen);

#endif
