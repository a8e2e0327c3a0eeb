/* `--publish HOSTPORT[-HOSTPORT_END]:GUESTPORT`: host ports forwarded to VMs through slirp. */
#ifndef DENALI_PUBLISH_H
#define DENALI_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

/* Host port host_first + i forwards to VM i's guest_port, for every i up to host_last. */
struct publish_rule {
    uint16_t host_first;
    uint16_t host_last;
    uint16_t guest_port;
};

/* Enough for "65535-65535:65535" and its terminator. */
#define PUBLISH_TEXT_MAX 18

/* Parses one spec; returns 0, or -1 with a one-line reason in err. */
int publish_parse(const char *spec, struct publish_rule *out, char *err, size_t errlen);

/*
 * Checks a whole set of rules against the fleet: no rule may map more host
 * ports than there are VMs, and no host port may be used twice. Returns 0,
 * or -1 with a one-line reason in err.
 */
int publish_check(const struct publish_rule *rules, size_t n, unsigned vm_count, char *err,
                  size_t errlen);

/* The rule as the user would write it ("8000-8009:80" or "8080:80"). */
void publish_format(const struct publish_rule *rule, char text[PUBLISH_TEXT_MAX]);

/* How many host ports (and so VMs) the rule covers. */
unsigned publish_port_count(const struct publish_rule *rule);

#endif
