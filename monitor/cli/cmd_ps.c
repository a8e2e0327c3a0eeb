/* `denali ps`: the daemon's VMs as a table (live ones unless -a), their ids, or their JSON. */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/table.h"
#include "cli/vm_view.h"

static int run(int argc, char **argv);

const struct cli_command cli_ps = {
    .name = "ps",
    .usage = "usage: denali ps [-a] [-q] [--format json|table] [--api PATH]\n"
             "Lists the daemon's VMs: running, paused and hibernated ones, or all with -a.\n"
             "\n"
             "  -a, --all           every VM, created and ended ones too\n"
             "  -q, --quiet         only the VM ids, one per line\n"
             "      --format F      table (default): ID NAME IMAGE STATE STATUS PLATFORM\n"
             "                      ADDRESS PORTS; json: the VMs as the API gives them\n"
             "      --api PATH      the daemon's socket (default $DENALI_API, else\n"
             "                      " API_DEFAULT_SOCKET ")\n"
             "  -h, --help          show this help\n",
    .run = run,
};

static void print_table(json_object *shown)
{
    static const char *const headings[] = {"ID",       "NAME",    "IMAGE", "STATE", "STATUS",
                                           "PLATFORM", "ADDRESS", "PORTS", NULL};
    struct table t;
    table_init(&t, headings);
    time_t now = time(NULL);
    for (size_t i = 0; i < json_object_array_length(shown); i++) {
        json_object *vm = json_object_array_get_idx(shown, i), *network = NULL;
        char status[256], ports[512];
        vm_status(vm, now, status, sizeof(status));
        vm_ports(vm, ports, sizeof(ports));
        json_object_object_get_ex(vm, "network", &network);
        const char *cells[] = {cli_json_string(vm, "id"),
                               cli_json_string(vm, "name"),
                               vm_image_name(cli_json_string(vm, "image")),
                               cli_json_string(vm, "state"),
                               status,
                               cli_json_string(vm, "platform"),
                               cli_json_string(network, "ipv4"),
                               ports};
        table_add_row(&t, cells);
    }
    table_print(&t, stdout);
    table_free(&t);
}

struct ps_options {
    bool all, quiet, json;
};

static int ps_option(int c, const char *value, void *ctx)
{
    struct ps_options *o = ctx;
    if (c == 'a')
        o->all = true;
    else if (c == 'q')
        o->quiet = true;
    else
        return cli_parse_format(&cli_ps, value, &o->json);
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option options[] = {
        {"all", no_argument, NULL, 'a'},
        {"quiet", no_argument, NULL, 'q'},
        {"format", required_argument, NULL, CLI_OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    struct ps_options opts = {0};
    const char *api = NULL;
    int status;
    if (cli_parse_options(&cli_ps, argc, argv, "aq", options, &api, ps_option, &opts, &status) < 0)
        return status;
    bool all = opts.all, quiet = opts.quiet, json = opts.json;
    if (optind < argc)
        return cli_usage_error(&cli_ps, "takes no arguments, got '%s'", argv[optind]);
    json_object *vms;
    if (cli_call(&cli_ps, api_socket_path(api), "GET", "/vms", NULL, NULL, &vms) < 0)
        return CLI_EXIT_FAILED;
    if (!json_object_is_type(vms, json_type_array)) {
        json_object_put(vms);
        return cli_fail(&cli_ps, "the daemon's list of VMs is not a JSON array");
    }
    json_object *shown = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(vms); i++) {
        json_object *vm = json_object_array_get_idx(vms, i);
        if (all || vm_state_is_live(cli_json_string(vm, "state")))
            json_object_array_add(shown, json_object_get(vm));
    }
    if (json) {
        cli_print_json(shown);
    } else if (quiet) {
        for (size_t i = 0; i < json_object_array_length(shown); i++) {
            const char *id = cli_json_string(json_object_array_get_idx(shown, i), "id");
            if (id)
                puts(id);
        }
    } else {
        print_table(shown);
    }
    json_object_put(shown);
    json_object_put(vms);
    return CLI_EXIT_OK;
}
