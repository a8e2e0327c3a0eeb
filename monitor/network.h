/* Sets up and tears down the LAN of a run and its uplink to the host, as --net asks. */
#ifndef DENALI_NETWORK_H
#define DENALI_NETWORK_H

#include <stddef.h>

#include "monitor.h"

/* Builds the LAN and starts its uplink; returns -1 with a one-line reason in err. */
int network_start(struct monitor *m, char *err, size_t errlen);
/* Stops the uplink (after every VM has ended), prints counters with --stats, frees the LAN. */
void network_stop(struct monitor *m);

#endif
