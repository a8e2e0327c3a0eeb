/* The client commands (ps, inspect, logs, stats, stop, kill, rm, run -d, ...): thin API clients. */
#include "cli/cli_main.h"

#include <curl/curl.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/create_body.h"

static const struct cli_command *const commands[] = {
    &cli_ps, &cli_inspect, &cli_logs,   &cli_stats,  &cli_start,   &cli_stop,         &cli_kill,
    &cli_rm, &cli_pause,   &cli_resume, &cli_events, &cli_version, &cli_run_detached,
};

static const struct cli_command *find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i]->name) == 0)
            return commands[i];
    return NULL;
}

bool cli_is_command(const char *name)
{
    /* `denali run` is a client only when detached; cli_run_is_detached says when. */
    return strcmp(name, "run") != 0 && find(name) != NULL;
}

bool cli_run_is_detached(int argc, char **argv)
{
    return create_body_is_detached(argc, argv);
}

int cli_main(int argc, char **argv)
{
    const struct cli_command *cmd = find(argv[0]);
    if (!cmd)
        return CLI_EXIT_USAGE;
    curl_global_init(CURL_GLOBAL_NOTHING);
    int status = cmd->run(argc, argv);
    curl_global_cleanup();
    return status;
}
