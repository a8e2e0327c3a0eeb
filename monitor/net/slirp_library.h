/* libslirp, loaded when a VM first needs `--net user`, so that a monitor without it starts fast. */
#ifndef DENALI_NET_SLIRP_LIBRARY_H
#define DENALI_NET_SLIRP_LIBRARY_H

#include <slirp/libslirp.h>
#include <stddef.h>

/* The few entry points the uplink calls, resolved from the shared library. */
struct slirp_library {
    Slirp *(*create)(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque);
    void (*cleanup)(Slirp *slirp);
    void (*input)(Slirp *slirp, const uint8_t *pkt, int pkt_len);
    void (*pollfds_fill)(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll, void *opaque);
    void (*pollfds_poll)(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
                         void *opaque);
    int (*add_hostfwd)(Slirp *slirp, int is_udp, struct in_addr host_addr, int host_port,
                       struct in_addr guest_addr, int guest_port);
};

/*
 * Loads libslirp once per process and returns its entry points, or NULL with
 * the reason in err. Safe to call from several threads.
 */
const struct slirp_library *slirp_library_load(char *err, size_t errlen);

#endif
