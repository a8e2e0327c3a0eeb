/* denali-oci: a runc-compatible OCI runtime whose containers are VMs of the Denali daemon. */
#include "oci/oci.h"
#include "oci/oci_log.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(const struct oci_globals *g, int argc, char **argv);
    const char *usage;
};

static const struct command commands[] = {
    {"create", oci_create,
     "create [--bundle DIR] [--pid-file FILE] ID\n"
     "      make the VM that DIR/config.json describes, not started"},
    {"start", oci_start, "start ID                    start a created container's VM"},
    {"state", oci_state, "state ID                    the container's OCI state, as JSON"},
    {"kill", oci_kill, "kill [--all] ID [SIGNAL]    signal the VM (default SIGTERM)"},
    {"delete", oci_delete, "delete [--force] ID         forget a stopped (--force: any) container"},
    {"ps", oci_ps, "ps [--format FORMAT] ID     the container's process (its stub)"},
    {"pause", oci_pause, "pause ID                    stop scheduling the VM"},
    {"resume", oci_resume, "resume ID                   schedule a paused VM again"},
    {"list", oci_list, "list [--format FORMAT]      the containers under --root"},
    {"features", oci_features, "features                    what this runtime supports, as JSON"},
    {"exec", oci_refuse, NULL},
    {"update", oci_refuse, NULL},
    {"checkpoint", oci_refuse, NULL},
    {"restore", oci_refuse, NULL},
    {"run", oci_refuse, NULL},
    {"events", oci_refuse, NULL},
    {"stub", oci_stub, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: denali-oci [GLOBAL OPTIONS] COMMAND [OPTIONS] ID\n\n"
                 "A runc-compatible OCI runtime: each container is a VM of the Denali daemon\n"
                 "(docs/OCI.md). process.args[0] names the guest image inside the rootfs.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (commands[i].usage)
            fprintf(out, "  %s\n", commands[i].usage);
    fprintf(out, "\nFORMAT is table (the default) or json.\n\n"
                 "global options:\n"
                 "  --root DIR             containers' records (default " OCI_DEFAULT_ROOT ")\n"
                 "  --api PATH             the daemon's socket (default $DENALI_API, else\n"
                 "                         /run/denali/api.sock)\n"
                 "  --log FILE             also write errors to FILE\n"
                 "  --log-format text|json  how the --log file is written (default text)\n"
                 "  --systemd-cgroup, --debug, --rootless, --criu\n"
                 "                         accepted and ignored\n"
                 "  --version, --help\n");
}

int main(int argc, char **argv)
{
    struct oci_globals g = {.root = OCI_DEFAULT_ROOT, .log_format = "text"};
    enum { OPT_ROOT = 256, OPT_API, OPT_LOG, OPT_LOG_FORMAT, OPT_IGNORED, OPT_IGNORED_VALUE };
    static const struct option options[] = {
        {"root", required_argument, NULL, OPT_ROOT},
        {"api", required_argument, NULL, OPT_API},
        {"log", required_argument, NULL, OPT_LOG},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"systemd-cgroup", no_argument, NULL, OPT_IGNORED},
        {"debug", no_argument, NULL, OPT_IGNORED},
        {"rootless", required_argument, NULL, OPT_IGNORED_VALUE},
        {"criu", required_argument, NULL, OPT_IGNORED_VALUE},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int option;
    /* "+": the global options end at the command, whose own options follow it. */
    while ((option = getopt_long(argc, argv, "+vh", options, NULL)) != -1) {
        switch (option) {
        case OPT_ROOT:
            g.root = optarg;
            break;
        case OPT_API:
            g.api_flag = optarg;
            break;
        case OPT_LOG:
            g.log_path = optarg;
            break;
        case OPT_LOG_FORMAT:
            g.log_format = optarg;
            break;
        case OPT_IGNORED:
        case OPT_IGNORED_VALUE:
            break;
        case 'v':
            printf("denali-oci version " OCI_VERSION "\nspec: " OCI_SPEC_VERSION "\n");
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (oci_log_setup(g.log_path, g.log_format) != 0)
        return oci_error("--log-format %s: text or json", g.log_format);
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i].name) == 0) {
            int command_argc = argc - optind;
            char **command_argv = argv + optind;
            optind = 0; /* the command parses its own options from its own argv */
            return commands[i].run(&g, command_argc, command_argv);
        }
    return oci_error("unknown command %s (denali-oci --help lists them)", name);
}
