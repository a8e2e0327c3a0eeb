/* The LAN's uplink through libslirp: user-mode TCP/IP to the host, and --publish port forwards. */
#ifndef DENALI_UPLINK_SLIRP_H
#define DENALI_UPLINK_SLIRP_H

#include <stddef.h>
#include <stdio.h>

#include "net/lan.h"
#include "net/publish.h"

/*
 * Starts the slirp thread for lan: the gateway (lan->gateway) becomes
 * slirp's host side, and every rule forwards 127.0.0.1:host_first+i to VM
 * i's guest_port. Returns NULL with a one-line reason in err (a bad rule, a
 * host port that cannot be listened on, no memory or thread). Stop it with
 * uplink->stop(uplink).
 */
struct lan_uplink *uplink_slirp_start(struct lan *lan, const struct publish_rule *rules,
                                      size_t nrules, char *err, size_t errlen);

/* Prints the uplink's counters as one `denali-uplink:` line; uplink must come from above. */
void uplink_slirp_print_stats(struct lan_uplink *uplink, FILE *out);

#endif
