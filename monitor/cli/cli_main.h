/* The client commands (ps, inspect, logs, stats, stop, kill, rm, run -d, ...): thin API clients. */
#ifndef DENALI_CLI_MAIN_H
#define DENALI_CLI_MAIN_H

#include <stdbool.h>

/* Whether argv[0] (a command name) is one of the client commands. */
bool cli_is_command(const char *name);
/* Whether `denali run` arguments ask for a detached VM (-d or --detach before IMAGE). */
bool cli_run_is_detached(int argc, char **argv);
/* argv[0] is the command ("ps", "run", ...). Returns the process's exit status. */
int cli_main(int argc, char **argv);

#endif
