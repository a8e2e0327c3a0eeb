/* What every client command shares: exit statuses, option handling and calls to the daemon. */
#ifndef DENALI_CLI_H
#define DENALI_CLI_H

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/api_client.h"

#define CLI_CLIENT_VERSION "0.11.0"

/* As docker: 1 for anything the daemon refused or could not do, 2 for a bad command line. */
#define CLI_EXIT_OK     0
#define CLI_EXIT_FAILED 1
#define CLI_EXIT_USAGE  2

/* getopt codes of the long options every command shares. */
enum { CLI_OPT_API = 1000, CLI_OPT_FORMAT };

struct cli_command {
    const char *name;
    const char *title; /* how messages name it when not by name alone ("run -d"), or NULL */
    const char *usage; /* the whole --help text */
    int (*run)(int argc, char **argv);
};

extern const struct cli_command cli_ps, cli_inspect, cli_logs, cli_stats, cli_start, cli_stop,
    cli_kill, cli_rm, cli_pause, cli_resume, cli_events, cli_version, cli_run_detached;

/* "denali CMD: MESSAGE" and a pointer to --help on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "denali CMD: MESSAGE" on stderr; returns CLI_EXIT_FAILED. */
int cli_fail(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The usage error for whatever getopt_long refused (c is its '?' or ':'); returns 2. */
int cli_bad_option(const struct cli_command *cmd, int c, char **argv);
/* Prints the command's --help text on stdout; returns 0. */
int cli_help(const struct cli_command *cmd);
/*
 * Parses the options every command has (--api, --help) and those in extra_short and extra_long
 * (at most 5), handing each extra one to on_option (-1 from it: a usage error it has said). -1
 * when the command should end with *status; otherwise optind is at the first argument.
 */
int cli_parse_options(const struct cli_command *cmd, int argc, char **argv, const char *extra_short,
                      const struct option *extra_long, const char **api,
                      int (*on_option)(int c, const char *value, void *ctx), void *ctx,
                      int *status);
/* The on_option of a command with no options of its own. */
int cli_no_option(int c, const char *value, void *ctx);
/* --format's value: "json" sets *json, "table" clears it; anything else is a usage error (-1). */
int cli_parse_format(const struct cli_command *cmd, const char *text, bool *json);

/*
 * One request whose answer is JSON. On a 2xx status: 0 with *out set (NULL for an empty body,
 * e.g. 204). Otherwise -1, after one line on stderr naming id (when not NULL) and saying why: the
 * daemon unreachable, its fault_message, or an answer that is not JSON.
 */
int cli_call(const struct cli_command *cmd, const char *socket_path, const char *method,
             const char *path, const char *body, const char *id, json_object **out);

/* text percent-encoded for a path segment or a query value; -1 when out is too small. */
int cli_escape(char *out, size_t outlen, const char *text);

/* obj[key] as a string, or NULL when absent, null or not a string. */
const char *cli_json_string(json_object *obj, const char *key);

/*
 * A stream's sink (api_stream's on_data): writes each piece to stdout and flushes it at once, so
 * that a followed console or event stream shows each line when it comes. -1 when stdout fails.
 */
int cli_write_stdout(void *ctx, const char *data, size_t length);

/*
 * Streams GET path to stdout (cli_write_stdout) until the daemon ends it. 0, or CLI_EXIT_FAILED
 * after one line on stderr: the daemon unreachable, or its fault_message (after "id: " when id
 * is not NULL).
 */
int cli_stream_to_stdout(const struct cli_command *cmd, const char *api, const char *path,
                         const char *id);

/* text as a whole decimal number from 0 to max: true with *out set, false for anything else. */
bool cli_parse_count(const char *text, long max, long *out);

/* Prints JSON as the API gave it, pretty and with a final newline. */
void cli_print_json(json_object *obj);

/* A monotonic clock in seconds, for redraw and poll intervals. */
double cli_now(void);

#endif
