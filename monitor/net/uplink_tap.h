/* The LAN's uplink through a TAP device: the host joins the LAN at the gateway address. */
#ifndef DENALI_UPLINK_TAP_H
#define DENALI_UPLINK_TAP_H

#include <stddef.h>
#include <stdio.h>

#include "net/lan.h"

#define UPLINK_TAP_DEFAULT_NAME "denali0"

/*
 * Creates TAP interface ifname (NULL: UPLINK_TAP_DEFAULT_NAME), gives the host
 * side lan->gateway with the LAN's prefix, brings it up and starts the thread
 * reading from it. The interface disappears when the uplink stops (or the
 * process exits). Needs root or CAP_NET_ADMIN. Returns NULL with a one-line
 * reason in err.
 */
struct lan_uplink *uplink_tap_start(struct lan *lan, const char *ifname, char *err, size_t errlen);

/* Prints the uplink's counters as one `denali-uplink:` line; uplink must come from above. */
void uplink_tap_print_stats(struct lan_uplink *uplink, FILE *out);

#endif
