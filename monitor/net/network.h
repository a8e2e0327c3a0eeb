/* Sets up and tears down the LAN of a run and its uplink to the host, as --net asks. */
#ifndef DENALI_NETWORK_H
#define DENALI_NETWORK_H

#include <stddef.h>

#include "sched/monitor.h"

struct network;

/*
 * Builds the LAN, starts its uplink and makes the NIC every VM's device
 * (in m->devices). NULL with err empty under --net none; NULL with a one-line
 * reason in err on failure.
 */
struct network *network_start(struct monitor *m, char *err, size_t errlen);
/* Stops the uplink (after every VM has ended), prints counters with --stats, frees the LAN. */
void network_stop(struct network *net);

#endif
