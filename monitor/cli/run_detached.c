/* `denali run -d`: creates and starts VMs through the daemon and prints their ids. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/create_body.h"

#define POLL_INTERVAL_NS 250000000L

static int run(int argc, char **argv);

const struct cli_command cli_run_detached = {
    .name = "run",
    .title = "run -d",
    .usage = "usage: denali run -d [OPTIONS] [--name NAME] [--api PATH] IMAGE [GUEST-ARGS...]\n"
             "       denali run -d [OPTIONS] [--name NAME] [--api PATH] --restore FILE\n"
             "Creates VMs in the daemon (`denali daemon`) and starts them, then prints their\n"
             "ids, one per line. The OPTIONS are `denali run`'s (see `denali run --help`):\n"
             "-n, -m, -j, --platform, -q, -t, --clone, --restore, --mem-limit, --hibernate-after,\n"
             "--swap, --net, -p; --console, --stats, --progress and --max-resident are not for a\n"
             "detached run. On a terminal, a fleet's boot shows its progress first.\n"
             "\n"
             "  -d, --detach        run in the daemon (without it, `denali run` is the monitor)\n"
             "      --name NAME     the VMs' name: NAME for one VM, NAME.INDEX for a fleet\n"
             "      --api PATH      the daemon's socket (default $DENALI_API, else\n"
             "                      " API_DEFAULT_SOCKET ")\n"
             "  -h, --help          show this help\n",
    .run = run,
};

/* How many of the fleet's VMs are still waiting to start; -1 when the daemon cannot say. */
static long still_created(const char *socket, const char *fleet)
{
    char escaped[256], path[400];
    if (cli_escape(escaped, sizeof(escaped), fleet) < 0)
        return -1;
    snprintf(path, sizeof(path), "/vms?fleet=%s&state=created", escaped);
    json_object *waiting;
    if (cli_call(&cli_run_detached, socket, "GET", path, NULL, NULL, &waiting) < 0)
        return -1;
    long n = json_object_is_type(waiting, json_type_array) ? (long)json_object_array_length(waiting)
                                                           : -1;
    json_object_put(waiting);
    return n;
}

/* "booting 734/1000" on the terminal until every VM of the fleet has started (or ended). */
static void show_boot(const char *socket, const char *fleet, size_t count)
{
    long waiting;
    while ((waiting = still_created(socket, fleet)) > 0) {
        fprintf(stderr, "\rdenali: booting %zu/%zu ", count - (size_t)waiting, count);
        struct timespec pause = {0, POLL_INTERVAL_NS};
        nanosleep(&pause, NULL);
    }
    if (waiting == 0)
        fprintf(stderr, "\rdenali: booted %zu/%zu \n", count, count);
}

static int run(int argc, char **argv)
{
    char cwd[PATH_MAX], err[512];
    if (!getcwd(cwd, sizeof(cwd)))
        return cli_fail(&cli_run_detached, "cannot read the working directory");
    struct create_request request;
    switch (create_body_parse(argc, argv, cwd, &request, err, sizeof(err))) {
    case CREATE_HELP:
        return cli_help(&cli_run_detached);
    case CREATE_ERROR:
        return cli_usage_error(&cli_run_detached, "%s", err);
    case CREATE_OK:
        break;
    }
    const char *socket = api_socket_path(request.api);
    json_object *created;
    int failed = cli_call(&cli_run_detached, socket, "POST", "/vms",
                          json_object_to_json_string_ext(request.body, JSON_C_TO_STRING_PLAIN),
                          NULL, &created);
    json_object_put(request.body);
    if (failed < 0)
        return CLI_EXIT_FAILED;
    json_object *ids;
    const char *fleet = cli_json_string(created, "fleet");
    if (!json_object_object_get_ex(created, "ids", &ids) ||
        !json_object_is_type(ids, json_type_array)) {
        json_object_put(created);
        return cli_fail(&cli_run_detached, "the daemon's answer has no ids");
    }
    size_t count = json_object_array_length(ids);
    if (fleet && count > 1 && isatty(STDERR_FILENO))
        show_boot(socket, fleet, count);
    for (size_t i = 0; i < count; i++)
        puts(json_object_get_string(json_object_array_get_idx(ids, i)));
    json_object_put(created);
    return CLI_EXIT_OK;
}
