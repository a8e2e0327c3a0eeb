/* The commands that only tell: state, ps, list, features. */
#include "oci/oci.h"
#include "oci/oci_log.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void print_json(json_object *value)
{
    printf("%s\n",
           json_object_to_json_string_ext(value, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* "--format json" or "--format table" (the default); -1 after a usage line otherwise. */
static int parse_format(int argc, char **argv, const char *usage, int positional, bool *json)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
    int option;
    *json = false;
    while ((option = getopt_long(argc, argv, "f:h", options, NULL)) != -1) {
        if (option == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0)) {
            *json = strcmp(optarg, "json") == 0;
        } else if (option == 'h') {
            printf("usage: denali-oci %s\n", usage);
            return 1;
        } else {
            fprintf(stderr, "usage: denali-oci %s\n", usage);
            return -1;
        }
    }
    if (argc - optind != positional) {
        fprintf(stderr, "usage: denali-oci %s\n", usage);
        return -1;
    }
    return 0;
}

/* The state the runtime spec defines (plus runc's "created" time and Denali's VM id). */
static json_object *oci_state_object(const struct oci_globals *g, const struct container *c)
{
    const char *status = oci_status(g, c);
    json_object *state = json_object_new_object();
    json_object_object_add(state, "ociVersion", json_object_new_string(OCI_SPEC_VERSION));
    json_object_object_add(state, "id", json_object_new_string(c->id));
    json_object_object_add(state, "status", json_object_new_string(status));
    /* As runc does: a stopped container has no process. */
    json_object_object_add(state, "pid",
                           json_object_new_int(strcmp(status, "stopped") == 0 ? 0 : c->pid));
    json_object_object_add(state, "bundle", json_object_new_string(c->bundle ? c->bundle : ""));
    json_object_object_add(state, "rootfs", json_object_new_string(""));
    json_object_object_add(state, "created", json_object_new_string(c->created ? c->created : ""));
    json_object_object_add(state, "annotations", json_object_get(c->annotations));
    json_object_object_add(state, "owner", json_object_new_string(""));
    json_object_object_add(state, "org.denali.vm", json_object_new_string(c->vm));
    return state;
}

int oci_state(const struct oci_globals *g, int argc, char **argv)
{
    bool json;
    int r = parse_format(argc, argv, "state ID", 1, &json);
    if (r != 0)
        return r > 0 ? 0 : 2;
    struct container c;
    if (oci_load(g, argv[optind], &c) != 0)
        return 1;
    json_object *state = oci_state_object(g, &c);
    print_json(state);
    json_object_put(state);
    container_free(&c);
    return 0;
}

int oci_ps(const struct oci_globals *g, int argc, char **argv)
{
    bool json;
    int r = parse_format(argc, argv, "ps [--format table|json] ID", 1, &json);
    if (r != 0)
        return r > 0 ? 0 : 2;
    struct container c;
    if (oci_load(g, argv[optind], &c) != 0)
        return 1;
    bool alive = container_stub_is_alive(&c);
    if (json) {
        json_object *pids = json_object_new_array();
        if (alive)
            json_object_array_add(pids, json_object_new_int(c.pid));
        printf("%s\n", json_object_to_json_string_ext(pids, JSON_C_TO_STRING_PLAIN));
        json_object_put(pids);
    } else {
        printf("PID     VM\n");
        if (alive)
            printf("%-7d %s\n", (int)c.pid, c.vm);
    }
    container_free(&c);
    return 0;
}

int oci_list(const struct oci_globals *g, int argc, char **argv)
{
    bool json;
    int r = parse_format(argc, argv, "list [--format table|json]", 0, &json);
    if (r != 0)
        return r > 0 ? 0 : 2;
    json_object *all = json_object_new_array();
    DIR *root = opendir(g->root);
    if (!root && errno != ENOENT) {
        json_object_put(all);
        return oci_error("cannot read %s: %s", g->root, strerror(errno));
    }
    struct dirent *entry;
    while (root && (entry = readdir(root))) {
        struct container c;
        char err[512];
        if (!container_id_is_valid(entry->d_name) ||
            container_load(g->root, entry->d_name, &c, err, sizeof(err)) != 0)
            continue;
        json_object_array_add(all, oci_state_object(g, &c));
        container_free(&c);
    }
    if (root)
        closedir(root);
    if (json) {
        print_json(all);
    } else {
        printf("%-24s %-8s %-8s %-10s %s\n", "ID", "PID", "STATUS", "VM", "BUNDLE");
        for (size_t i = 0; i < json_object_array_length(all); i++) {
            json_object *s = json_object_array_get_idx(all, i), *v[5];
            const char *keys[] = {"id", "pid", "status", "org.denali.vm", "bundle"};
            for (int k = 0; k < 5; k++)
                json_object_object_get_ex(s, keys[k], &v[k]);
            printf("%-24s %-8s %-8s %-10s %s\n", json_object_get_string(v[0]),
                   json_object_get_string(v[1]), json_object_get_string(v[2]),
                   json_object_get_string(v[3]), json_object_get_string(v[4]));
        }
    }
    json_object_put(all);
    return 0;
}

int oci_features(const struct oci_globals *g, int argc, char **argv)
{
    (void)g;
    (void)argc;
    (void)argv;
    json_object *features = json_object_new_object();
    json_object_object_add(features, "ociVersionMin", json_object_new_string("1.0.0"));
    json_object_object_add(features, "ociVersionMax", json_object_new_string(OCI_SPEC_VERSION));
    json_object_object_add(features, "hooks", json_object_new_array());
    json_object_object_add(features, "mountOptions", json_object_new_array());
    print_json(features);
    json_object_put(features);
    return 0;
}
