/* The client commands (ps, inspect, logs, stats, stop, kill, rm, run -d, ...): thin API clients. */
#include "cli/cli_main.h"

#include <stdio.h>
#include <string.h>

bool cli_is_command(const char *name)
{
    static const char *const names[] = {"ps", "inspect", "logs",  "stats",  "stop",   "kill",
                                        "rm", "start",   "pause", "resume", "events", "version"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

bool cli_run_is_detached(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return false;
}

int cli_main(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "denali: %s: not built yet\n", argv[0]);
    return 2;
}
