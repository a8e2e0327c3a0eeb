/* `denali-oci create`: a created (not started) VM from a bundle, and the stub that stands for it.
 */
#include "oci/annotations.h"
#include "oci/bundle.h"
#include "oci/oci.h"
#include "oci/oci_api.h"
#include "oci/oci_log.h"
#include "oci/stub.h"

#include "cli/api_client.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* mkdir -p: containerd's shim names a --root below directories that may not exist yet. */
static int make_directories(const char *path, mode_t mode)
{
    char partial[4096];
    if (snprintf(partial, sizeof(partial), "%s", path) >= (int)sizeof(partial)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *slash = strchr(partial + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash)
            *slash = '\0';
        if (mkdir(partial, mode) != 0 && errno != EEXIST)
            return -1;
        if (!slash)
            return 0;
        *slash = '/';
    }
}

static char *now_rfc3339(void)
{
    char text[40];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strdup(text);
}

/* runc writes the pid file whole, then renames it: the shim may read it at any moment. */
static int write_pid_file(const char *path, pid_t pid, char *err, size_t errlen)
{
    char *fresh;
    if (asprintf(&fresh, "%s.new", path) < 0)
        return -1;
    FILE *file = fopen(fresh, "we");
    int result = 0;
    if (!file || fprintf(file, "%d", (int)pid) < 0 || fclose(file) != 0 ||
        rename(fresh, path) != 0) {
        snprintf(err, errlen, "cannot write the pid file %s: %s", path, strerror(errno));
        unlink(fresh);
        result = -1;
    }
    free(fresh);
    return result;
}

static json_object *create_body(const struct bundle *bundle, const char *id, char *err,
                                size_t errlen)
{
    char name[64];
    container_vm_name(id, name);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "image", json_object_new_string(bundle->image));
    json_object_object_add(body, "args", json_object_get(bundle->args));
    json_object_object_add(body, "name", json_object_new_string(name));
    json_object_object_add(body, "start", json_object_new_boolean(false));
    if (annotations_to_create_body(bundle->annotations, body, err, errlen) != 0) {
        json_object_put(body);
        return NULL;
    }
    return body;
}

/* The first VM id in a create answer ({"fleet": ..., "ids": [...]}). */
static char *first_vm_id(json_object *answer)
{
    json_object *ids;
    if (!answer || !json_object_object_get_ex(answer, "ids", &ids) ||
        !json_object_is_type(ids, json_type_array) || json_object_array_length(ids) == 0)
        return NULL;
    json_object *first = json_object_array_get_idx(ids, 0);
    return json_object_is_type(first, json_type_string) ? strdup(json_object_get_string(first))
                                                        : NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: denali-oci create [--bundle DIR] [--pid-file FILE] ID\n\n"
            "Creates the VM (not started) that DIR/config.json describes: process.args[0] is the\n"
            "guest image inside root.path, the other args are the guest's. Annotations:\n%s",
            annotations_help);
}

/* Undoes a create that stopped short: the stub, the VM, the record. */
static void undo(const struct container *c, const char *api)
{
    char err[512], path[256];
    if (c->pid > 0)
        kill(c->pid, SIGKILL);
    if (c->vm && c->vm[0]) {
        snprintf(path, sizeof(path), "/vms/%s?force=true", c->vm);
        if (oci_api_call(api, "DELETE", path, NULL, 204, NULL, err, sizeof(err)) != 204)
            oci_warn("could not remove the VM %s: %s", c->vm, err);
    }
    container_remove(c, err, sizeof(err));
}

int oci_create(const struct oci_globals *g, int argc, char **argv)
{
    const char *bundle_dir = ".", *pid_file = NULL, *console_socket = NULL;
    static const struct option options[] = {
        {"bundle", required_argument, NULL, 'b'},
        {"pid-file", required_argument, NULL, 'p'},
        {"console-socket", required_argument, NULL, 'c'},
        {"no-pivot", no_argument, NULL, 'n'},
        {"no-new-keyring", no_argument, NULL, 'k'},
        {"preserve-fds", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "b:h", options, NULL)) != -1) {
        switch (option) {
        case 'b':
            bundle_dir = optarg;
            break;
        case 'p':
            pid_file = optarg;
            break;
        case 'c':
            console_socket = optarg;
            break;
        case 'n':
        case 'k':
        case 'f':
            break; /* nothing to pivot, no keyring, no descriptors: a VM shares none */
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *id = argv[optind];
    if (!container_id_is_valid(id))
        return oci_error("invalid container id %s: it is made of letters, digits and _+.-", id);
    if (console_socket)
        return oci_error("a terminal was asked for (--console-socket): a Denali VM's console is "
                         "not a TTY; run without one (no `ctr run -t`)");
    char err[1024];
    struct bundle bundle;
    if (bundle_load(bundle_dir, &bundle, err, sizeof(err)) != 0)
        return oci_error("%s", err);
    bool sandbox = bundle.sandbox;
    json_object *body =
        sandbox ? json_object_new_object() : create_body(&bundle, id, err, sizeof(err));
    if (!body) {
        bundle_free(&bundle);
        return oci_error("%s", err);
    }

    struct container c = {
        .id = strdup(id),
        .dir = container_dir(g->root, id),
        .api = strdup(g->api_flag && g->api_flag[0] ? g->api_flag : api_socket_path(NULL)),
        .bundle = strdup(bundle.bundle_dir),
        .created = now_rfc3339(),
        .annotations = json_object_get(bundle.annotations),
    };
    bundle_free(&bundle);
    int status = 1;
    json_object *answer = NULL;
    if (make_directories(g->root, 0711) != 0) {
        oci_error("cannot make the state directory %s: %s", g->root, strerror(errno));
        goto done;
    }
    if (mkdir(c.dir, 0700) != 0) {
        if (errno == EEXIST)
            oci_error("container with id exists: %s", id);
        else
            oci_error("cannot make %s: %s", c.dir, strerror(errno));
        goto done;
    }
    if (sandbox) {
        c.vm = strdup("");
    } else if (oci_api_call(c.api, "POST", "/vms", body, 201, &answer, err, sizeof(err)) != 201) {
        oci_error("cannot create the VM: %s", err);
        container_remove(&c, err, sizeof(err));
        goto done;
    } else if (!(c.vm = first_vm_id(answer))) {
        oci_error("the daemon's answer to POST /vms names no VM");
        container_remove(&c, err, sizeof(err));
        goto done;
    }
    int fifo = -1;
    if (container_save(&c, err, sizeof(err)) != 0 ||
        (fifo = stub_prepare_fifo(&c, err, sizeof(err))) < 0 ||
        (c.pid = stub_spawn(g, &c, fifo, err, sizeof(err))) < 0) {
        c.pid = 0;
        oci_error("%s", err);
        if (fifo >= 0)
            close(fifo);
        undo(&c, c.api);
        goto done;
    }
    close(fifo);
    c.pid_start = process_start_time(c.pid);
    if (container_save(&c, err, sizeof(err)) != 0 ||
        (pid_file && write_pid_file(pid_file, c.pid, err, sizeof(err)) != 0)) {
        oci_error("%s", err);
        undo(&c, c.api);
        goto done;
    }
    status = 0;
done:
    json_object_put(answer);
    json_object_put(body);
    container_free(&c);
    return status;
}
