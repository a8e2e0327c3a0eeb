/* `denali logs [-f] [--tail N] ID`: a VM's console, and with -f what it writes until it ends. */
#include <limits.h>
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv);

const struct cli_command cli_logs = {
    .name = "logs",
    .usage = "usage: denali logs [-f] [--tail N] [--api PATH] ID\n"
             "Prints a VM's console output.\n"
             "\n"
             "  -f, --follow        go on printing what the VM writes, until it ends\n"
             "  -n, --tail N        only the last N lines\n"
             "      --api PATH      the daemon's socket (default $DENALI_API, else\n"
             "                      " API_DEFAULT_SOCKET ")\n"
             "  -h, --help          show this help\n",
    .run = run,
};

struct logs_options {
    bool follow;
    long tail; /* -1: all of it */
};

static int logs_option(int c, const char *value, void *ctx)
{
    struct logs_options *o = ctx;
    if (c == 'f') {
        o->follow = true;
    } else if (!cli_parse_count(value, LONG_MAX, &o->tail)) {
        cli_usage_error(&cli_logs, "--tail: expected a number of lines, got '%s'", value);
        return -1;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    struct logs_options opts = {.tail = -1};
    int status;
    if (cli_parse_options(&cli_logs, argc, argv, "fn:", options, &api, logs_option, &opts,
                          &status) < 0)
        return status;
    bool follow = opts.follow;
    long tail = opts.tail;
    if (optind >= argc)
        return cli_usage_error(&cli_logs, "no VM given (ID)");
    if (optind + 1 < argc)
        return cli_usage_error(&cli_logs, "one VM at a time, got '%s' too", argv[optind + 1]);
    char id[512], path[700];
    if (cli_escape(id, sizeof(id), argv[optind]) < 0)
        return cli_usage_error(&cli_logs, "not a VM id (too long)");
    int n = snprintf(path, sizeof(path), "/vms/%s/logs", id);
    char sep = '?';
    if (follow) {
        n += snprintf(path + n, sizeof(path) - n, "%cfollow=true", sep);
        sep = '&';
    }
    if (tail >= 0)
        snprintf(path + n, sizeof(path) - n, "%ctail=%ld", sep, tail);
    return cli_stream_to_stdout(&cli_logs, api, path, argv[optind]);
}
