/* `denali stats [--no-stream] [ID...]`: the VMs' counters, redrawn each second like docker's. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/stats_view.h"

static int run(int argc, char **argv);

const struct cli_command cli_stats = {
    .name = "stats",
    .usage = "usage: denali stats [--no-stream] [--format json|table] [--api PATH] [ID...]\n"
             "Shows live VMs' counters (all of them, or the IDs given), once a second until\n"
             "interrupted: redrawn in place on a terminal, one table after another otherwise.\n"
             "\n"
             "      --no-stream     print the counters once and end\n"
             "      --format F      table (default): ID STATE EXITS EXITS/S MEMORY NET I/O\n"
             "                      FRAMES I/O BLOCK I/O; json: the API's STATS objects, one\n"
             "                      array (a line of its own when streaming) per sample\n"
             "      --api PATH      the daemon's socket (default $DENALI_API, else\n"
             "                      " API_DEFAULT_SOCKET ")\n"
             "  -h, --help          show this help\n",
    .run = run,
};

struct stream_view {
    bool json, terminal;
    json_object *wanted;   /* {id: true} of the VMs asked for, or NULL for all */
    json_object *previous; /* {id: exits} of the last sample */
    double previous_time;
    char *line;
    size_t length, capacity;
    bool failed;
};

static json_object *only_wanted(json_object *samples, json_object *wanted)
{
    json_object *kept = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(samples); i++) {
        json_object *s = json_object_array_get_idx(samples, i);
        const char *id = cli_json_string(s, "id");
        if (!wanted || (id && json_object_object_get_ex(wanted, id, NULL)))
            json_object_array_add(kept, json_object_get(s));
    }
    return kept;
}

static void show(struct stream_view *v, json_object *samples)
{
    json_object *kept = only_wanted(samples, v->wanted);
    double now = cli_now();
    if (v->json) {
        puts(json_object_to_json_string_ext(kept, JSON_C_TO_STRING_PLAIN |
                                                      JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        struct table t;
        stats_table_init(&t);
        stats_table_add(&t, kept, v->previous, now - v->previous_time);
        /* Home and clear: the new table replaces the old one where it stood. */
        if (v->terminal)
            fputs("\033[H\033[2J", stdout);
        table_print(&t, stdout);
        if (!v->terminal)
            putchar('\n');
        table_free(&t);
    }
    fflush(stdout);
    json_object_put(v->previous);
    v->previous = stats_exits_by_id(kept);
    v->previous_time = now;
    json_object_put(kept);
}

/* The stream is JSON lines, one array per second; a line may come in several pieces. */
static int on_data(void *ctx, const char *data, size_t length)
{
    struct stream_view *v = ctx;
    for (size_t i = 0; i < length; i++) {
        if (data[i] != '\n') {
            if (v->length + 2 > v->capacity) {
                size_t capacity = v->capacity ? v->capacity * 2 : 65536;
                char *line = realloc(v->line, capacity);
                if (!line) {
                    v->failed = true;
                    return -1;
                }
                v->line = line;
                v->capacity = capacity;
            }
            v->line[v->length++] = data[i];
            continue;
        }
        if (v->length == 0)
            continue;
        v->line[v->length] = '\0';
        v->length = 0;
        json_object *samples = json_tokener_parse(v->line);
        if (samples && json_object_is_type(samples, json_type_array))
            show(v, samples);
        json_object_put(samples);
    }
    return 0;
}

/* The VMs' own ids (the arguments may be names): {id: true}, or NULL after saying why not. */
static json_object *resolve(const char *socket, int first, int argc, char **argv)
{
    json_object *wanted = json_object_new_object();
    bool failed = false;
    for (int i = first; i < argc; i++) {
        char id[512], path[600];
        json_object *vm;
        if (cli_escape(id, sizeof(id), argv[i]) < 0) {
            failed = true;
            cli_fail(&cli_stats, "%.40s...: not a VM id (too long)", argv[i]);
            continue;
        }
        snprintf(path, sizeof(path), "/vms/%s", id);
        if (cli_call(&cli_stats, socket, "GET", path, NULL, argv[i], &vm) < 0) {
            failed = true;
            continue;
        }
        const char *own = cli_json_string(vm, "id");
        json_object_object_add(wanted, own ? own : argv[i], json_object_new_boolean(1));
        json_object_put(vm);
    }
    if (failed) {
        json_object_put(wanted);
        return NULL;
    }
    return wanted;
}

static int stream(const char *socket, struct stream_view *v)
{
    char err[512];
    struct api_response failure;
    int result =
        api_stream_checked(socket, "/stats?stream=true", on_data, v, &failure, err, sizeof(err));
    int status = CLI_EXIT_OK;
    if (result < 0)
        status = cli_fail(&cli_stats, "%s", err);
    else if (failure.status < 200 || failure.status > 299)
        status = cli_fail(&cli_stats, "%s", api_fault_message(&failure));
    else if (v->failed)
        status = cli_fail(&cli_stats, "out of memory reading the stream");
    api_response_free(&failure);
    return status;
}

/* --no-stream: GET /stats, or GET /vms/ID/stats for each ID given. */
static int once(const char *socket, bool json, int first, int argc, char **argv)
{
    json_object *samples = NULL;
    int status = CLI_EXIT_OK;
    if (first >= argc) {
        if (cli_call(&cli_stats, socket, "GET", "/stats", NULL, NULL, &samples) < 0)
            return CLI_EXIT_FAILED;
        if (!json_object_is_type(samples, json_type_array)) {
            json_object_put(samples);
            return cli_fail(&cli_stats, "the daemon's stats are not a JSON array");
        }
    } else {
        samples = json_object_new_array();
        for (int i = first; i < argc; i++) {
            char id[512], path[700];
            json_object *one;
            if (cli_escape(id, sizeof(id), argv[i]) < 0) {
                status = cli_fail(&cli_stats, "%.40s...: not a VM id (too long)", argv[i]);
                continue;
            }
            snprintf(path, sizeof(path), "/vms/%s/stats", id);
            if (cli_call(&cli_stats, socket, "GET", path, NULL, argv[i], &one) < 0 || !one) {
                status = CLI_EXIT_FAILED;
                continue;
            }
            json_object_array_add(samples, one);
        }
    }
    if (json) {
        cli_print_json(samples);
    } else {
        struct table t;
        stats_table_init(&t);
        stats_table_add(&t, samples, NULL, 0);
        table_print(&t, stdout);
        table_free(&t);
    }
    json_object_put(samples);
    return status;
}

enum { OPT_NO_STREAM = 1 };

struct stats_options {
    bool json, no_stream;
};

static int stats_option(int c, const char *value, void *ctx)
{
    struct stats_options *o = ctx;
    if (c != OPT_NO_STREAM)
        return cli_parse_format(&cli_stats, value, &o->json);
    o->no_stream = true;
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        {"no-stream", no_argument, NULL, OPT_NO_STREAM},
        {"format", required_argument, NULL, CLI_OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    struct stats_options opts = {0};
    int usage_status;
    if (cli_parse_options(&cli_stats, argc, argv, NULL, options, &api, stats_option, &opts,
                          &usage_status) < 0)
        return usage_status;
    bool json = opts.json, no_stream = opts.no_stream;
    const char *socket = api_socket_path(api);
    if (no_stream)
        return once(socket, json, optind, argc, argv);
    struct stream_view view = {.json = json, .terminal = isatty(STDOUT_FILENO)};
    if (optind < argc && !(view.wanted = resolve(socket, optind, argc, argv)))
        return CLI_EXIT_FAILED;
    int status = stream(socket, &view);
    json_object_put(view.wanted);
    json_object_put(view.previous);
    free(view.line);
    return status;
}
