/* An OCI bundle's config.json, read for what a Denali VM needs: its image, arguments, options. */
#include "oci/bundle.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_inside(const char *path, const char *dir)
{
    if (strcmp(dir, "/") == 0)
        return true;
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Whether path's `..` components climb above where it starts, read as written. */
static bool climbs_out(const char *path)
{
    int depth = 0;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return true;
        } else if (n > 0 && !(n == 1 && p[0] == '.')) {
            depth++;
        }
        p += n;
        while (*p == '/')
            p++;
    }
    return false;
}

char *bundle_resolve_in_rootfs(const char *rootfs, const char *cwd, const char *guest_path,
                               char *err, size_t errlen)
{
    char root[PATH_MAX];
    if (!realpath(rootfs, root)) {
        snprintf(err, errlen, "the rootfs %s: %s", rootfs, strerror(errno));
        return NULL;
    }
    if (!guest_path[0]) {
        snprintf(err, errlen, "process.args[0] is empty: it names the guest image");
        return NULL;
    }
    /* The path as the container would see it, from its root. */
    char inside[PATH_MAX * 2];
    if (guest_path[0] == '/')
        snprintf(inside, sizeof(inside), "%s", guest_path);
    else
        snprintf(inside, sizeof(inside), "%s/%s", cwd && cwd[0] ? cwd : "/", guest_path);
    if (climbs_out(inside)) {
        snprintf(err, errlen, "guest image %s (process.args[0]) leads outside the rootfs %s",
                 guest_path, root);
        return NULL;
    }
    char joined[PATH_MAX * 3];
    int n = snprintf(joined, sizeof(joined), "%s/%s", root, inside);
    if (n < 0 || (size_t)n >= sizeof(joined)) {
        snprintf(err, errlen, "process.args[0] is too long");
        return NULL;
    }
    /*
     * The daemon opens the image by its host path, so the host's resolution is the one that
     * counts: a symbolic link that leads out of the rootfs (an absolute one always does) is
     * refused rather than reinterpreted as if the rootfs were the root.
     */
    char resolved[PATH_MAX];
    if (!realpath(joined, resolved)) {
        snprintf(err, errlen, "guest image %s (process.args[0]) in the rootfs %s: %s", guest_path,
                 root, strerror(errno));
        return NULL;
    }
    if (!is_inside(resolved, root)) {
        snprintf(err, errlen, "guest image %s (process.args[0]) leads outside the rootfs %s",
                 guest_path, root);
        return NULL;
    }
    struct stat st;
    if (stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "guest image %s (process.args[0]) is not a regular file", guest_path);
        return NULL;
    }
    return strdup(resolved);
}

static json_object *member(json_object *object, const char *key, json_type type)
{
    json_object *value;
    if (!object || !json_object_object_get_ex(object, key, &value) ||
        !json_object_is_type(value, type))
        return NULL;
    return value;
}

static int check_strings(json_object *array, const char *what, char *err, size_t errlen)
{
    for (size_t i = 0; i < json_object_array_length(array); i++)
        if (!json_object_is_type(json_object_array_get_idx(array, i), json_type_string)) {
            snprintf(err, errlen, "config.json: %s[%zu] is not a string", what, i);
            return -1;
        }
    return 0;
}

static int read_annotations(json_object *config, struct bundle *out, char *err, size_t errlen)
{
    json_object *given = member(config, "annotations", json_type_object);
    out->annotations = json_object_new_object();
    if (!given)
        return 0;
    json_object_object_foreach(given, key, value)
    {
        if (!json_object_is_type(value, json_type_string)) {
            snprintf(err, errlen, "config.json: annotation %s is not a string", key);
            return -1;
        }
        json_object_object_add(out->annotations, key, json_object_get(value));
    }
    return 0;
}

static int read_process(json_object *config, const char *rootfs, struct bundle *out, char *err,
                        size_t errlen)
{
    json_object *process = member(config, "process", json_type_object);
    if (!process) {
        snprintf(err, errlen, "config.json has no process object");
        return -1;
    }
    json_object *terminal = member(process, "terminal", json_type_boolean);
    if (terminal && json_object_get_boolean(terminal)) {
        snprintf(err, errlen,
                 "config.json asks for a terminal (process.terminal, `ctr run -t`): a Denali "
                 "VM's console is not a TTY; run without one");
        return -1;
    }
    json_object *args = member(process, "args", json_type_array);
    if (!args || json_object_array_length(args) == 0) {
        snprintf(err, errlen,
                 "config.json: process.args is missing or empty: args[0] names the "
                 "guest image inside the rootfs");
        return -1;
    }
    if (check_strings(args, "process.args", err, errlen) != 0)
        return -1;
    json_object *cwd = member(process, "cwd", json_type_string);
    out->image = bundle_resolve_in_rootfs(
        rootfs, cwd ? json_object_get_string(cwd) : "/",
        json_object_get_string(json_object_array_get_idx(args, 0)), err, errlen);
    if (!out->image)
        return -1;
    out->args = json_object_new_array();
    for (size_t i = 1; i < json_object_array_length(args); i++)
        json_object_array_add(out->args, json_object_get(json_object_array_get_idx(args, i)));
    return 0;
}

/*
 * A Kubernetes pod's first container holds the pod's namespaces and runs the pause program, a
 * Linux binary: CRI runtimes (containerd, CRI-O) mark it with these annotations.
 */
static bool is_pod_sandbox(json_object *annotations)
{
    static const char *const keys[] = {"io.kubernetes.cri.container-type",
                                       "io.kubernetes.cri-o.ContainerType"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_object *value;
        if (json_object_object_get_ex(annotations, keys[i], &value) &&
            strcmp(json_object_get_string(value), "sandbox") == 0)
            return true;
    }
    return false;
}

int bundle_load(const char *dir, struct bundle *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    char absolute[PATH_MAX];
    if (!realpath(dir, absolute)) {
        snprintf(err, errlen, "bundle %s: %s", dir, strerror(errno));
        return -1;
    }
    out->bundle_dir = strdup(absolute);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/config.json", absolute);
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        bundle_free(out);
        return -1;
    }
    json_object *config = json_object_from_file(path);
    if (!config || !json_object_is_type(config, json_type_object)) {
        snprintf(err, errlen, "%s is not a JSON object", path);
        json_object_put(config);
        bundle_free(out);
        return -1;
    }
    int result = -1;
    json_object *root_path =
        member(member(config, "root", json_type_object), "path", json_type_string);
    if (!root_path) {
        snprintf(err, errlen, "config.json has no root.path (the directory holding the image)");
        goto done;
    }
    char rootfs[PATH_MAX * 2];
    const char *given = json_object_get_string(root_path);
    if (given[0] == '/')
        snprintf(rootfs, sizeof(rootfs), "%s", given);
    else
        snprintf(rootfs, sizeof(rootfs), "%s/%s", absolute, given);
    if (read_annotations(config, out, err, errlen) != 0)
        goto done;
    out->sandbox = is_pod_sandbox(out->annotations);
    if (!out->sandbox && read_process(config, rootfs, out, err, errlen) != 0)
        goto done;
    result = 0;
done:
    json_object_put(config);
    if (result != 0)
        bundle_free(out);
    return result;
}

void bundle_free(struct bundle *bundle)
{
    free(bundle->bundle_dir);
    free(bundle->image);
    json_object_put(bundle->args);
    json_object_put(bundle->annotations);
    memset(bundle, 0, sizeof(*bundle));
}
