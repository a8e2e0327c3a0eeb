/* `denali start|stop|kill|rm|pause|resume ID...`: one request per VM, each failure said. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/signal_name.h"

#define API_HELP                                                                                   \
    "      --api PATH      the daemon's socket (default $DENALI_API, else\n"                       \
    "                      " API_DEFAULT_SOCKET ")\n"                                              \
    "  -h, --help          show this help\n"

static int start_run(int argc, char **argv);
static int stop_run(int argc, char **argv);
static int kill_run(int argc, char **argv);
static int rm_run(int argc, char **argv);
static int pause_run(int argc, char **argv);
static int resume_run(int argc, char **argv);

const struct cli_command cli_start = {
    .name = "start",
    .usage = "usage: denali start [--api PATH] ID...\n"
             "Starts VMs created with \"start\": false (a VM starts with its whole fleet).\n"
             "\n" API_HELP,
    .run = start_run,
};

const struct cli_command cli_stop = {
    .name = "stop",
    .usage = "usage: denali stop [-t SECONDS] [--api PATH] ID...\n"
             "Stops VMs gracefully: each guest gets DENALI_EVENT_SHUTDOWN, and is killed if it\n"
             "is still live after the timeout.\n"
             "\n"
             "  -t, --timeout SECS  seconds before the kill (default 10)\n" API_HELP,
    .run = stop_run,
};

const struct cli_command cli_kill = {
    .name = "kill",
    .usage = "usage: denali kill [-s SIGNAL] [--api PATH] ID...\n"
             "Kills VMs at once (SIGKILL), or with another SIGNAL delivers\n"
             "DENALI_EVENT_SHUTDOWN to each with no deadline.\n"
             "\n"
             "  -s, --signal SIG    KILL (default), TERM, INT, HUP, QUIT, USR1 or USR2, with or\n"
             "                      without SIG, or their numbers\n" API_HELP,
    .run = kill_run,
};

const struct cli_command cli_rm = {
    .name = "rm",
    .usage = "usage: denali rm [-f] [--api PATH] ID...\n"
             "Forgets VMs that are created, exited or stopped.\n"
             "\n"
             "  -f, --force         kill a live VM first\n" API_HELP,
    .run = rm_run,
};

const struct cli_command cli_pause = {
    .name = "pause",
    .usage = "usage: denali pause [--api PATH] ID...\n"
             "Stops scheduling running VMs; their memory stays.\n"
             "\n" API_HELP,
    .run = pause_run,
};

const struct cli_command cli_resume = {
    .name = "resume",
    .usage = "usage: denali resume [--api PATH] ID...\n"
             "Schedules paused VMs again.\n"
             "\n" API_HELP,
    .run = resume_run,
};

/* What one command does to each VM: METHOD /vms/ID[/action][?query] with body. */
struct per_vm_request {
    const char *method;
    const char *action; /* NULL: the VM itself (DELETE) */
    const char *query;  /* NULL or "force=true" */
    const char *body;   /* NULL or JSON */
};

/* Each VM in turn; prints each one done (as docker does) and says each failure. */
static int for_each_vm(const struct cli_command *cmd, const char *api, int first, int argc,
                       char **argv, const struct per_vm_request *request)
{
    if (first >= argc)
        return cli_usage_error(cmd, "no VM given (ID...)");
    const char *socket = api_socket_path(api);
    int status = CLI_EXIT_OK;
    for (int i = first; i < argc; i++) {
        char id[512], path[700];
        if (cli_escape(id, sizeof(id), argv[i]) < 0) {
            status = cli_fail(cmd, "%.40s...: not a VM id (too long)", argv[i]);
            continue;
        }
        snprintf(path, sizeof(path), "/vms/%s%s%s%s%s", id, request->action ? "/" : "",
                 request->action ? request->action : "", request->query ? "?" : "",
                 request->query ? request->query : "");
        json_object *answer;
        if (cli_call(cmd, socket, request->method, path, request->body, argv[i], &answer) < 0) {
            status = CLI_EXIT_FAILED;
            continue;
        }
        json_object_put(answer);
        puts(argv[i]);
        fflush(stdout);
    }
    return status;
}

static int simple(const struct cli_command *cmd, int argc, char **argv,
                  const struct per_vm_request *request)
{
    const char *api = NULL;
    int status;
    if (cli_parse_options(cmd, argc, argv, NULL, NULL, &api, cli_no_option, NULL, &status) < 0)
        return status;
    return for_each_vm(cmd, api, optind, argc, argv, request);
}

static int start_run(int argc, char **argv)
{
    const struct per_vm_request request = {.method = "POST", .action = "start"};
    return simple(&cli_start, argc, argv, &request);
}

static int pause_run(int argc, char **argv)
{
    const struct per_vm_request request = {.method = "POST", .action = "pause"};
    return simple(&cli_pause, argc, argv, &request);
}

static int resume_run(int argc, char **argv)
{
    const struct per_vm_request request = {.method = "POST", .action = "resume"};
    return simple(&cli_resume, argc, argv, &request);
}

static int stop_option(int c, const char *value, void *ctx)
{
    long *timeout = ctx;
    (void)c;
    if (!cli_parse_count(value, 86400, timeout)) {
        cli_usage_error(&cli_stop, "--timeout: expected whole seconds from 0 to 86400, got '%s'",
                        value);
        return -1;
    }
    return 0;
}

static int stop_run(int argc, char **argv)
{
    static const struct option extra[] = {
        {"timeout", required_argument, NULL, 't'},
        {"time", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    long timeout = -1;
    int status;
    if (cli_parse_options(&cli_stop, argc, argv, "t:", extra, &api, stop_option, &timeout,
                          &status) < 0)
        return status;
    struct per_vm_request request = {.method = "POST", .action = "stop"};
    json_object *body = json_object_new_object();
    if (timeout >= 0) {
        json_object_object_add(body, "timeout", json_object_new_int64(timeout));
        request.body = json_object_to_json_string(body);
    }
    status = for_each_vm(&cli_stop, api, optind, argc, argv, &request);
    json_object_put(body);
    return status;
}

static int kill_option(int c, const char *value, void *ctx)
{
    const char **signal = ctx;
    (void)c;
    *signal = signal_name_for_api(value);
    if (!*signal) {
        cli_usage_error(&cli_kill,
                        "--signal: '%s' is not one of KILL, TERM, INT, HUP, QUIT, USR1, USR2",
                        value);
        return -1;
    }
    return 0;
}

static int kill_run(int argc, char **argv)
{
    static const struct option extra[] = {
        {"signal", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL, *signal = NULL;
    int status;
    if (cli_parse_options(&cli_kill, argc, argv, "s:", extra, &api, kill_option, &signal, &status) <
        0)
        return status;
    struct per_vm_request request = {.method = "POST", .action = "kill"};
    json_object *body = json_object_new_object();
    if (signal) {
        json_object_object_add(body, "signal", json_object_new_string(signal));
        request.body = json_object_to_json_string(body);
    }
    status = for_each_vm(&cli_kill, api, optind, argc, argv, &request);
    json_object_put(body);
    return status;
}

static int rm_option(int c, const char *value, void *ctx)
{
    bool *force = ctx;
    (void)c;
    (void)value;
    *force = true;
    return 0;
}

static int rm_run(int argc, char **argv)
{
    static const struct option extra[] = {
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *api = NULL;
    bool force = false;
    int status;
    if (cli_parse_options(&cli_rm, argc, argv, "f", extra, &api, rm_option, &force, &status) < 0)
        return status;
    const struct per_vm_request request = {.method = "DELETE",
                                           .query = force ? "force=true" : NULL};
    return for_each_vm(&cli_rm, api, optind, argc, argv, &request);
}
