/* `denali version`: this client's version and the daemon's (GET /version). */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv);

const struct cli_command cli_version = {
    .name = "version",
    .usage = "usage: denali version [--format json|table] [--api PATH]\n"
             "Prints this client's version, then the daemon's version, API version and\n"
             "platforms.\n"
             "\n"
             "      --format F      table (default) or json: {\"client\": ..., \"server\": ...}\n"
             "      --api PATH      the daemon's socket (default $DENALI_API, else\n"
             "                      " API_DEFAULT_SOCKET ")\n"
             "  -h, --help          show this help\n",
    .run = run,
};

/* The value of key as text, arrays joined with ", ". */
static void print_field(json_object *server, const char *label, const char *key)
{
    json_object *value;
    if (!json_object_object_get_ex(server, key, &value))
        return;
    printf(" %-18s", label);
    if (json_object_is_type(value, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(value); i++)
            printf("%s%s", i ? ", " : "",
                   json_object_get_string(json_object_array_get_idx(value, i)));
        putchar('\n');
    } else {
        printf("%s\n", json_object_get_string(value));
    }
}

static int format_option(int c, const char *value, void *ctx)
{
    (void)c;
    return cli_parse_format(&cli_version, value, ctx);
}

static int run(int argc, char **argv)
{
    static const struct option extra[] = {
        {"format", required_argument, NULL, CLI_OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    bool json = false;
    int parse_status;
    if (cli_parse_options(&cli_version, argc, argv, NULL, extra, &api, format_option, &json,
                          &parse_status) < 0)
        return parse_status;
    if (optind < argc)
        return cli_usage_error(&cli_version, "takes no arguments, got '%s'", argv[optind]);
    /* The client's part first: it is worth having when the daemon cannot be reached. */
    if (!json) {
        printf("Client:\n %-18s%s\n", "Version:", CLI_CLIENT_VERSION);
        fflush(stdout);
    }
    json_object *server;
    int status =
        cli_call(&cli_version, api_socket_path(api), "GET", "/version", NULL, NULL, &server) < 0
            ? CLI_EXIT_FAILED
            : CLI_EXIT_OK;
    if (json) {
        json_object *both = json_object_new_object(), *client = json_object_new_object();
        json_object_object_add(client, "version", json_object_new_string(CLI_CLIENT_VERSION));
        json_object_object_add(both, "client", client);
        json_object_object_add(both, "server", server ? json_object_get(server) : NULL);
        cli_print_json(both);
        json_object_put(both);
    } else if (server) {
        printf("Server:\n");
        print_field(server, "Version:", "version");
        print_field(server, "API version:", "api_version");
        print_field(server, "Platforms:", "platforms");
        print_field(server, "Default platform:", "default_platform");
    }
    json_object_put(server);
    return status;
}
