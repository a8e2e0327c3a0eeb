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

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        {"format", required_argument, NULL, CLI_OPT_FORMAT},
        {"api", required_argument, NULL, CLI_OPT_API},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    bool json = false;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case CLI_OPT_FORMAT:
            if (cli_parse_format(&cli_version, optarg, &json) < 0)
                return CLI_EXIT_USAGE;
            break;
        case CLI_OPT_API:
            api = optarg;
            break;
        case 'h':
            return cli_help(&cli_version);
        default:
            return cli_bad_option(&cli_version, c, argv);
        }
    }
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
