/* The control loop: one thread reads every fleet monitor's packets (docs/API.md, "The control
 * channel") into the registry, and reaps every monitor through its pidfd. */
#ifndef DENALI_CONTROL_LOOP_H
#define DENALI_CONTROL_LOOP_H

#include <stddef.h>

#include "daemon/daemon.h"

/* Starts the loop's thread and the spawner's. -1 with err when it cannot. */
int control_loop_start(struct daemon *daemon, char *err, size_t errlen);
/* Watches a just-started fleet's channel and exit. -1 (errno) when it cannot. */
int control_loop_watch(struct daemon *daemon, struct fleet *fleet);
/* Ends every fleet's monitor (closing its channel, then SIGTERM, then SIGKILL) and the loop. */
void control_loop_stop(struct daemon *daemon);

#endif
