/* `denali inspect ID...`: the VMs' JSON as one array, like docker inspect. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv);

const struct cli_command cli_inspect = {
    .name = "inspect",
    .usage = "usage: denali inspect [--api PATH] ID...\n"
             "Prints the VMs as the API describes them (docs/API.md), as one JSON array; an id\n"
             "may also be a VM's name.\n"
             "\n"
             "      --api PATH      the daemon's socket (default $DENALI_API, else\n"
             "                      " API_DEFAULT_SOCKET ")\n"
             "  -h, --help          show this help\n",
    .run = run,
};

static int run(int argc, char **argv)
{
    const char *api = NULL;
    int status;
    if (cli_parse_options(&cli_inspect, argc, argv, NULL, NULL, &api, cli_no_option, NULL,
                          &status) < 0)
        return status;
    if (optind >= argc)
        return cli_usage_error(&cli_inspect, "no VM given (ID...)");
    const char *socket = api_socket_path(api);
    json_object *found = json_object_new_array();
    status = CLI_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        char id[512], path[600];
        json_object *vm;
        if (cli_escape(id, sizeof(id), argv[i]) < 0) {
            status = cli_fail(&cli_inspect, "%.40s...: not a VM id (too long)", argv[i]);
            continue;
        }
        snprintf(path, sizeof(path), "/vms/%s", id);
        if (cli_call(&cli_inspect, socket, "GET", path, NULL, argv[i], &vm) < 0 || !vm) {
            status = CLI_EXIT_FAILED;
            continue;
        }
        json_object_array_add(found, vm);
    }
    cli_print_json(found);
    json_object_put(found);
    return status;
}
