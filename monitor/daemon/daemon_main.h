/* `denali daemon`: the long-lived supervisor that serves the API (docs/API.md). */
#ifndef DENALI_DAEMON_MAIN_H
#define DENALI_DAEMON_MAIN_H

/* argv[0] is "daemon". Returns the process's exit status. */
int daemon_main(int argc, char **argv);

#endif
