/* Sets up and tears down the LAN of a run and its uplink to the host, as --net asks. */
#include "network.h"

#include <stdio.h>
#include <stdlib.h>

#include "lan.h"
#include "uplink_slirp.h"
#include "uplink_tap.h"

int network_start(struct monitor *m, char *err, size_t errlen)
{
    const struct run_options *o = m->options;
    if (o->net == NET_NONE)
        return 0;
    struct lan *lan = malloc(sizeof(*lan));
    if (!lan) {
        snprintf(err, errlen, "no memory for the LAN");
        return -1;
    }
    if (lan_init(lan, LAN_DEFAULT_NETWORK, LAN_DEFAULT_PREFIX, o->count, !o->net_immediate, err,
                 errlen) < 0) {
        free(lan);
        return -1;
    }
    if (o->net == NET_USER)
        lan->uplink = uplink_slirp_start(lan, o->publish, o->publish_count, err, errlen);
    else
        lan->uplink = uplink_tap_start(lan, o->tap_name, err, errlen);
    if (!lan->uplink) {
        lan_destroy(lan);
        free(lan);
        return -1;
    }
    m->lan = lan;
    return 0;
}

void network_stop(struct monitor *m)
{
    struct lan *lan = m->lan;
    if (!lan)
        return;
    if (lan->uplink && m->options->stats) {
        if (m->options->net == NET_USER)
            uplink_slirp_print_stats(lan->uplink, stderr);
        else
            uplink_tap_print_stats(lan->uplink, stderr);
    }
    if (lan->uplink)
        lan->uplink->stop(lan->uplink);
    lan->uplink = NULL;
    if (m->options->stats)
        lan_print_counters(lan, stderr);
    lan_destroy(lan);
    free(lan);
    m->lan = NULL;
}
