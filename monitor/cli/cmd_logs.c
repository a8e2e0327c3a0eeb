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

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, 'n'},
        {"api", required_argument, NULL, CLI_OPT_API},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    bool follow = false;
    long tail = -1;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":fn:h", options, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow = true;
            break;
        case 'n':
            if (!cli_parse_count(optarg, LONG_MAX, &tail))
                return cli_usage_error(&cli_logs, "--tail: expected a number of lines, got '%s'",
                                       optarg);
            break;
        case CLI_OPT_API:
            api = optarg;
            break;
        case 'h':
            return cli_help(&cli_logs);
        default:
            return cli_bad_option(&cli_logs, c, argv);
        }
    }
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
