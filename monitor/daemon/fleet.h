/* Fleets: making one from a create request, starting its `denali run` monitor on the spawner
 * thread, and sending it commands over its control channel (docs/API.md, "The control channel"). */
#ifndef DENALI_FLEET_H
#define DENALI_FLEET_H

#include <json-c/json.h>
#include <stddef.h>

#include "daemon/daemon.h"

/*
 * Makes a fleet from request (whose strings it takes): checks the name and the command line,
 * makes its directory, records its VMs as created. The caller holds the registry lock. NULL with
 * *status (400, 409 or 500) and one line in err when it cannot.
 */
struct fleet *fleet_create(struct daemon *daemon, struct create_request *request, int *status,
                           char *err, size_t errlen);

/* Starts the fleet's monitor. The caller holds the registry lock. -1 with err when it cannot;
 * the fleet has then ended, its VMs stopped with err as their reason. */
int fleet_start(struct daemon *daemon, struct fleet *fleet, char *err, size_t errlen);

/* Sends one control packet ({"op": op, "vm": vm}, plus extra's members; vm < 0 for none).
 * -1 when the monitor is gone or not reading. The caller holds the registry lock. */
int fleet_send(struct fleet *fleet, const char *op, long vm, json_object *extra);

/* The spawner thread, which forks every monitor. */
int fleet_spawner_start(struct daemon *daemon);
void fleet_spawner_stop(struct daemon *daemon);

#endif
