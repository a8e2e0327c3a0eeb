/* What every client command shares: exit statuses, option handling and calls to the daemon. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void say(const struct cli_command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "denali %s: ", cmd->title ? cmd->title : cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "(see `denali %s --help`)\n", cmd->title ? cmd->title : cmd->name);
    return CLI_EXIT_USAGE;
}

int cli_fail(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(cmd, fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAILED;
}

int cli_bad_option(const struct cli_command *cmd, int c, char **argv)
{
    const char *word = argv[optind - 1];
    if (c == ':')
        return cli_usage_error(cmd, "option '%s' needs a value", word);
    /* For an unknown letter inside a cluster such as -xq, the word itself would mislead. */
    if (optopt && word[0] == '-' && word[1] != '-')
        return cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return cli_usage_error(cmd, "unknown option '%s'", word);
}

int cli_write_stdout(void *ctx, const char *data, size_t length)
{
    (void)ctx;
    if (fwrite(data, 1, length, stdout) != length)
        return -1;
    fflush(stdout);
    return 0;
}

int cli_stream_to_stdout(const struct cli_command *cmd, const char *api, const char *path,
                         const char *id)
{
    char err[512];
    struct api_response failure;
    if (api_stream_checked(api_socket_path(api), path, cli_write_stdout, NULL, &failure, err,
                           sizeof(err)) < 0)
        return cli_fail(cmd, "%s", err);
    int status = CLI_EXIT_OK;
    if (failure.status < 200 || failure.status > 299)
        status = cli_fail(cmd, "%s%s%s", id ? id : "", id ? ": " : "", api_fault_message(&failure));
    api_response_free(&failure);
    return status;
}

bool cli_parse_count(const char *text, long max, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || value > max)
        return false;
    *out = value;
    return true;
}

int cli_parse_options(const struct cli_command *cmd, int argc, char **argv, const char *extra_short,
                      const struct option *extra_long, const char **api,
                      int (*on_option)(int c, const char *value, void *ctx), void *ctx, int *status)
{
    struct option options[8];
    size_t n = 0;
    for (const struct option *o = extra_long; o && o->name && n < 5; o++)
        options[n++] = *o;
    options[n++] = (struct option){"api", required_argument, NULL, CLI_OPT_API};
    options[n++] = (struct option){"help", no_argument, NULL, 'h'};
    options[n] = (struct option){NULL, 0, NULL, 0};
    char shorts[16];
    snprintf(shorts, sizeof(shorts), ":h%s", extra_short ? extra_short : "");
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts, options, NULL)) != -1) {
        if (c == CLI_OPT_API) {
            *api = optarg;
        } else if (c == 'h') {
            *status = cli_help(cmd);
            return -1;
        } else if (c == '?' || c == ':') {
            *status = cli_bad_option(cmd, c, argv);
            return -1;
        } else if (on_option(c, optarg, ctx) < 0) {
            *status = CLI_EXIT_USAGE;
            return -1;
        }
    }
    return 0;
}

int cli_no_option(int c, const char *value, void *ctx)
{
    (void)c;
    (void)value;
    (void)ctx;
    return -1;
}

int cli_help(const struct cli_command *cmd)
{
    fputs(cmd->usage, stdout);
    return CLI_EXIT_OK;
}

int cli_parse_format(const struct cli_command *cmd, const char *text, bool *json)
{
    if (strcmp(text, "json") == 0) {
        *json = true;
    } else if (strcmp(text, "table") == 0) {
        *json = false;
    } else {
        cli_usage_error(cmd, "--format: expected json or table, got '%s'", text);
        return -1;
    }
    return 0;
}

int cli_call(const struct cli_command *cmd, const char *socket_path, const char *method,
             const char *path, const char *body, const char *id, json_object **out)
{
    char err[512];
    struct api_response response;
    *out = NULL;
    if (api_request(socket_path, method, path, body, &response, err, sizeof(err)) < 0) {
        cli_fail(cmd, "%s", err);
        return -1;
    }
    int result = 0;
    if (response.status < 200 || response.status > 299) {
        if (id)
            cli_fail(cmd, "%s: %s", id, api_fault_message(&response));
        else
            cli_fail(cmd, "%s", api_fault_message(&response));
        result = -1;
    } else if (response.length > 0) {
        *out = json_tokener_parse(response.body);
        if (!*out) {
            cli_fail(cmd, "the daemon's answer to %s %s is not JSON", method, path);
            result = -1;
        }
    }
    api_response_free(&response);
    return result;
}

int cli_escape(char *out, size_t outlen, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        size_t need = plain ? 1 : 3;
        if (n + need >= outlen)
            return -1;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n >= outlen)
        return -1;
    out[n] = '\0';
    return 0;
}

const char *cli_json_string(json_object *obj, const char *key)
{
    json_object *value;
    if (!obj || !json_object_object_get_ex(obj, key, &value) ||
        !json_object_is_type(value, json_type_string))
        return NULL;
    return json_object_get_string(value);
}

void cli_print_json(json_object *obj)
{
    /* json-c prints an empty array pretty as "[\n]"; docker prints "[]". */
    if (json_object_is_type(obj, json_type_array) && json_object_array_length(obj) == 0) {
        puts("[]");
        return;
    }
    const char *text = json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    puts(text);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
