/* `denali daemon`: the long-lived supervisor that serves the API (docs/API.md). */
#include "daemon/daemon_main.h"

#include <stdio.h>

int daemon_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "denali: daemon: not built yet\n");
    return 2;
}
