/* `denali run -d`'s command line made into the create body of POST /vms (docs/API.md): pure. */
#include "cli/create_body.h"

#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "util/vm_name.h"

/* run -d's own options, after `denali run`'s. */
enum { OPT_NAME = OPT_RUN_CODES_END, OPT_API };
static const struct option detached_options[] = {
    {"detach", no_argument, NULL, 'd'},
    {"name", required_argument, NULL, OPT_NAME},
    {"api", required_argument, NULL, OPT_API},
};
#define DETACHED_COUNT (sizeof(detached_options) / sizeof(detached_options[0]))
/* Room for run -d's options and `denali run`'s (checked when the table is made). */
#define LONG_OPTIONS_MAX 64
/* run -d's short options: `denali run`'s and -d. */
static const char short_options[] = OPTIONS_RUN_SHORT "d";

/* The table getopt_long gets: run -d's options, then every one of `denali run`'s. */
static const struct option *long_options(void)
{
    static struct option table[LONG_OPTIONS_MAX + 1];
    if (!table[0].name) {
        size_t n = 0;
        for (; n < DETACHED_COUNT; n++)
            table[n] = detached_options[n];
        for (const struct option *o = options_run_long_options; o->name; o++) {
            if (n == LONG_OPTIONS_MAX)
                abort(); /* a programming error: LONG_OPTIONS_MAX is too small */
            table[n++] = *o;
        }
    }
    return table;
}

static enum create_result fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return CREATE_ERROR;
}

bool create_body_is_detached(int argc, char **argv)
{
    optind = 0;
    opterr = 0;
    int c;
    bool detached = false;
    while ((c = getopt_long(argc, argv, short_options, long_options(), NULL)) != -1)
        if (c == 'd')
            detached = true;
    return detached;
}

/* Why an option of an attached `denali run` has no meaning for a detached one. */
static const char *not_detached(int c)
{
    switch (c) {
    case OPT_CONSOLE:
        return "--console: the daemon keeps each VM's console (see `denali logs`)";
    case OPT_STATS:
        return "--stats: a detached run prints no summary (see `denali stats`)";
    case OPT_PROGRESS:
    case OPT_NO_PROGRESS:
        return "--progress: a detached fleet's progress shows on a terminal by itself";
    case OPT_MAX_RESIDENT:
        return "--max-resident: not in the API's create body";
    case OPT_NET_EVENTS:
        return "--net-events: not in the API's create body";
    case 'o':
        return "-o/--output is for `denali snapshot`";
    case OPT_CONTROL_FD:
        return "--control-fd: the daemon gives its own monitors their control channel";
    default:
        return NULL;
    }
}

/* path made absolute against cwd, as a new JSON string. */
static json_object *absolute(const char *cwd, const char *path, char *err, size_t errlen)
{
    char joined[PATH_MAX];
    if (path[0] == '/') {
        snprintf(joined, sizeof(joined), "%s", path);
    } else {
        while (strncmp(path, "./", 2) == 0)
            path += 2;
        if (snprintf(joined, sizeof(joined), "%s/%s", cwd, path) >= (int)sizeof(joined)) {
            fail(err, errlen, "path too long: %s", path);
            return NULL;
        }
    }
    return json_object_new_string(joined);
}

static int add_path(json_object *body, const char *key, const char *cwd, const char *path,
                    char *err, size_t errlen)
{
    json_object *value = absolute(cwd, path, err, errlen);
    if (!value)
        return -1;
    json_object_object_add(body, key, value);
    return 0;
}

/* The body from the options `denali run`'s parser accepted. */
static enum create_result make_body(const struct run_options *o, const char *name,
                                    const char *net_text, bool quantum_set, const char *cwd,
                                    json_object *body, char *err, size_t errlen)
{
    if (o->image_path && add_path(body, "image", cwd, o->image_path, err, errlen) < 0)
        return CREATE_ERROR;
    json_object *args = json_object_new_array();
    for (int i = 0; i < o->guest_argc; i++)
        json_object_array_add(args, json_object_new_string(o->guest_argv[i]));
    json_object_object_add(body, "args", args);
    json_object_object_add(body, "count", json_object_new_int64(o->count));
    if (name)
        json_object_object_add(body, "name", json_object_new_string(name));
    if (o->mem_set)
        json_object_object_add(body, "memory", json_object_new_int64((int64_t)o->mem_size));
    if (o->platform_set)
        json_object_object_add(body, "platform",
                               json_object_new_string(platform_kind_name(o->platform)));
    if (net_text)
        json_object_object_add(body, "net", json_object_new_string(net_text));
    if (o->publish_count) {
        json_object *publish = json_object_new_array();
        for (unsigned i = 0; i < o->publish_count; i++) {
            char text[PUBLISH_TEXT_MAX];
            publish_format(&o->publish[i], text);
            json_object_array_add(publish, json_object_new_string(text));
        }
        json_object_object_add(body, "publish", publish);
    }
    if (o->clone)
        json_object_object_add(body, "clone", json_object_new_boolean(1));
    if (o->restore_path && add_path(body, "restore", cwd, o->restore_path, err, errlen) < 0)
        return CREATE_ERROR;
    if (o->mem_limit)
        json_object_object_add(body, "mem_limit", json_object_new_int64((int64_t)o->mem_limit));
    if (o->swap_path && add_path(body, "swap", cwd, o->swap_path, err, errlen) < 0)
        return CREATE_ERROR;
    if (o->hibernate_after_s > 0)
        json_object_object_add(body, "hibernate_after",
                               json_object_new_double(o->hibernate_after_s));
    if (quantum_set)
        json_object_object_add(body, "quantum_ms", json_object_new_int64(o->quantum_ms));
    if (o->time_limit_s > 0)
        json_object_object_add(body, "time_limit", json_object_new_double(o->time_limit_s));
    if (o->workers)
        json_object_object_add(body, "workers", json_object_new_int64(o->workers));
    if (o->disk_count) {
        json_object *disks = json_object_new_array();
        json_object_object_add(body, "disks", disks);
        for (unsigned i = 0; i < o->disk_count; i++) {
            json_object *path = absolute(cwd, o->disks[i].path, err, errlen);
            if (!path)
                return CREATE_ERROR;
            if (o->disks[i].read_only) {
                char text[PATH_MAX + 4];
                snprintf(text, sizeof(text), "%s,ro", json_object_get_string(path));
                json_object_put(path);
                path = json_object_new_string(text);
            }
            json_object_array_add(disks, path);
        }
    }
    if (o->overlay_dir && add_path(body, "overlay_dir", cwd, o->overlay_dir, err, errlen) < 0)
        return CREATE_ERROR;
    if (o->keep_overlays)
        json_object_object_add(body, "keep_overlays", json_object_new_boolean(1));
    if (o->ksm)
        json_object_object_add(body, "ksm", json_object_new_boolean(1));
    return CREATE_OK;
}

enum create_result create_body_parse(int argc, char **argv, const char *cwd,
                                     struct create_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    /* What `denali run`'s parser gets: the same options, without -d, --name and --api. */
    char **run_argv = calloc((size_t)argc * 2 + 2, sizeof(*run_argv));
    if (!run_argv)
        return fail(err, errlen, "out of memory");
    int run_argc = 0;
    run_argv[run_argc++] = "run";
    const char *name = NULL, *net_text = NULL;
    bool detached = false, quantum_set = false;
    enum create_result result = CREATE_OK;
    optind = 0;
    opterr = 0;
    int c;
    while (result == CREATE_OK &&
           (c = getopt_long(argc, argv, short_options, long_options(), NULL)) != -1) {
        const char *why = not_detached(c);
        if (why) {
            result = fail(err, errlen, "%s", why);
            break;
        }
        switch (c) {
        case 'd':
            detached = true;
            break;
        case OPT_NAME:
            name = optarg;
            break;
        case OPT_API:
            out->api = optarg;
            break;
        case 'h':
            result = CREATE_HELP;
            break;
        case ':':
            result = fail(err, errlen, "option '%s' needs a value", argv[optind - 1]);
            break;
        case '?':
            result = fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
            break;
        default: {
            /* Passed on in its long form, which every option has. */
            const struct option *table = long_options(), *o = table;
            while (o->name && o->val != c)
                o++;
            if (!o->name) {
                result = fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
                break;
            }
            static char words[LONG_OPTIONS_MAX][24];
            char *word = words[o - table];
            snprintf(word, sizeof(words[0]), "--%s", o->name);
            run_argv[run_argc++] = word;
            if (o->has_arg == required_argument)
                run_argv[run_argc++] = optarg;
            if (c == OPT_NET)
                net_text = optarg;
            if (c == 'q')
                quantum_set = true;
            break;
        }
        }
    }
    if (result == CREATE_OK && !detached)
        result = fail(err, errlen, "run: not a detached run (-d)");
    if (result == CREATE_OK && name && !vm_name_valid(name))
        result = fail(err, errlen,
                      "--name: '%s' is not a name: a letter or digit, then up to 62 letters, "
                      "digits, '_' or '-', and not f followed by digits (a fleet's id)",
                      name);
    struct run_options options;
    if (result == CREATE_OK) {
        for (int i = optind; i < argc; i++)
            run_argv[run_argc++] = argv[i];
        switch (options_parse_run(run_argc, run_argv, &options, err, errlen)) {
        case OPTIONS_HELP:
            result = CREATE_HELP;
            break;
        case OPTIONS_ERROR:
            result = CREATE_ERROR;
            break;
        case OPTIONS_OK:
            break;
        }
    }
    if (result == CREATE_OK) {
        out->body = json_object_new_object();
        out->count = options.count;
        result = make_body(&options, name, net_text, quantum_set, cwd, out->body, err, errlen);
        if (result != CREATE_OK) {
            json_object_put(out->body);
            out->body = NULL;
        }
    }
    free(run_argv);
    return result;
}
