/* From a create request to the child monitor's `denali run` command line, checked by its parser. */
#include "daemon/run_command_line.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

struct argv_builder {
    char **argv;
    size_t count, capacity;
    bool failed;
};

static void add(struct argv_builder *b, const char *text)
{
    if (b->failed)
        return;
    if (b->count + 2 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 32;
        char **argv = realloc(b->argv, capacity * sizeof(*argv));
        if (!argv) {
            b->failed = true;
            return;
        }
        b->argv = argv;
        b->capacity = capacity;
    }
    char *copy = strdup(text);
    if (!copy) {
        b->failed = true;
        return;
    }
    b->argv[b->count++] = copy;
    b->argv[b->count] = NULL;
}

static void add_option(struct argv_builder *b, const char *option, const char *value)
{
    if (!value)
        return;
    add(b, option);
    add(b, value);
}

void run_command_line_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char **run_command_line(const struct create_request *request, const char *console_dir,
                        uint64_t *memory_bytes, char *err, size_t errlen)
{
    struct argv_builder b = {0};
    char number[32];
    add(&b, "denali");
    add(&b, "run");
    snprintf(number, sizeof(number), "%d", RUN_CONTROL_FD);
    add_option(&b, "--control-fd", number);
    /* What the option parser checks starts here: --control-fd is the daemon's own. */
    size_t checked_from = b.count - 1;
    char console[4200];
    snprintf(console, sizeof(console), "dir:%s", console_dir);
    add_option(&b, "--console", console);
    add(&b, "--no-progress");
    snprintf(number, sizeof(number), "%u", request->count);
    add_option(&b, "-n", number);
    add_option(&b, "--mem", request->memory);
    add_option(&b, "--platform", request->platform);
    add_option(&b, "--net", request->net ? request->net : "none");
    for (size_t i = 0; i < request->publish_count; i++)
        add_option(&b, "--publish", request->publish[i]);
    if (request->clone)
        add(&b, "--clone");
    add_option(&b, "--restore", request->restore);
    add_option(&b, "--mem-limit", request->mem_limit);
    add_option(&b, "--swap", request->swap);
    add_option(&b, "--hibernate-after", request->hibernate_after);
    add_option(&b, "--quantum", request->quantum_ms);
    add_option(&b, "--time-limit", request->time_limit);
    add_option(&b, "--workers", request->workers);
    for (size_t i = 0; i < request->disk_count; i++)
        add_option(&b, "--disk", request->disks[i]);
    add_option(&b, "--overlay-dir", request->overlay_dir);
    if (request->keep_overlays)
        add(&b, "--keep-overlays");
    if (request->ksm)
        add(&b, "--ksm");
    if (request->image) {
        /* "--" keeps an image path or guest arguments that start with '-' from being options. */
        add(&b, "--");
        add(&b, request->image);
        for (size_t i = 0; i < request->arg_count; i++)
            add(&b, request->args[i]);
    }
    if (b.failed) {
        run_command_line_free(b.argv);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct run_options options;
    char why[512];
    char *control_fd = b.argv[checked_from];
    b.argv[checked_from] = b.argv[1]; /* the parser's argv[0] is "run" */
    /* getopt keeps global state: one request's command line at a time. */
    static pthread_mutex_t parser_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&parser_lock);
    enum options_result parsed = options_parse_run(
        (int)(b.count - checked_from), b.argv + checked_from, &options, why, sizeof(why));
    pthread_mutex_unlock(&parser_lock);
    b.argv[checked_from] = control_fd;
    if (parsed != OPTIONS_OK) {
        snprintf(err, errlen, "%s", parsed == OPTIONS_ERROR ? why : "cannot check the options");
        run_command_line_free(b.argv);
        return NULL;
    }
    *memory_bytes = options.mem_size;
    return b.argv;
}
