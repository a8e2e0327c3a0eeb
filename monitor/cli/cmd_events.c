/* `denali events [--since 0]`: the daemon's events as JSON lines, as they happen. */
#include <limits.h>
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv);

const struct cli_command cli_events = {
    .name = "events",
    .usage =
        "usage: denali events [--since 0] [--api PATH]\n"
        "Prints the daemon's events, one JSON object per line, as they happen, until\n"
        "interrupted: {\"time\": ..., \"type\": ..., \"id\": ...} with type created, started,\n"
        "ready, exited, stopped, paused, resumed, hibernated, woken or deleted.\n"
        "\n"
        "      --since 0       first replay the daemon's last 1,000 events\n"
        "      --api PATH      the daemon's socket (default $DENALI_API, else\n"
        "                      " API_DEFAULT_SOCKET ")\n"
        "  -h, --help          show this help\n",
    .run = run,
};

static int since_option(int c, const char *value, void *ctx)
{
    (void)c;
    if (!cli_parse_count(value, LONG_MAX, ctx)) {
        cli_usage_error(&cli_events, "--since: expected 0 or more, got '%s'", value);
        return -1;
    }
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option extra[] = {
        {"since", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    long since = -1;
    int status;
    if (cli_parse_options(&cli_events, argc, argv, NULL, extra, &api, since_option, &since,
                          &status) < 0)
        return status;
    if (optind < argc)
        return cli_usage_error(&cli_events, "takes no arguments, got '%s'", argv[optind]);
    char path[64] = "/events";
    if (since >= 0)
        snprintf(path, sizeof(path), "/events?since=%ld", since);
    return cli_stream_to_stdout(&cli_events, api, path, NULL);
}
