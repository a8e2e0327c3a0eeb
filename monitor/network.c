/* Sets up and tears down the LAN of a run and its uplink to the host, as --net asks. */
#include "network.h"

#include <stdio.h>
#include <stdlib.h>

#include "lan.h"

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
    m->lan = lan;
    return 0;
}

void network_stop(struct monitor *m)
{
    struct lan *lan = m->lan;
    if (!lan)
        return;
    if (lan->uplink)
        lan->uplink->stop(lan->uplink);
    lan->uplink = NULL;
    if (m->options->stats)
        lan_print_counters(lan, stderr);
    lan_destroy(lan);
    free(lan);
    m->lan = NULL;
}
