/* Parsing and checking `--publish` rules (pure: no sockets, no slirp). */
#include "net/publish.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/error_text.h"

#define PUBLISH_SYNTAX "HOSTPORT[-HOSTPORT_END]:GUESTPORT"
/* Longer specs are shown cut, so that the message stays one short line. */
#define QUOTE_MAX 40

/* Copies text for quoting in a message: at most QUOTE_MAX bytes, control characters as '?'. */
static void quote_text(const char *text, size_t len, char out[QUOTE_MAX + 4])
{
    size_t shown = len < QUOTE_MAX ? len : QUOTE_MAX;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (shown < len) {
        memcpy(out + shown, "...", 3);
        shown += 3;
    }
    out[shown] = '\0';
}

/* Parses text[0..len) as a port 1..65535: decimal digits only, no sign, no spaces. */
static int parse_port(const char *spec, const char *what, const char *text, size_t len,
                      uint16_t *port, char *err, size_t errlen)
{
    char shown_spec[QUOTE_MAX + 4], shown_port[QUOTE_MAX + 4];
    quote_text(spec, strlen(spec), shown_spec);
    quote_text(text, len, shown_port);
    if (len == 0)
        return fail(err, errlen, "publish '%s': missing %s (expected " PUBLISH_SYNTAX ")",
                    shown_spec, what);
    unsigned long value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return fail(err, errlen, "publish '%s': %s '%s' is not a number from 1 to 65535",
                        shown_spec, what, shown_port);
        /* Saturate instead of wrapping, so huge numbers are reported as out of range. */
        if (value <= 65535)
            value = value * 10 + (unsigned long)(text[i] - '0');
    }
    if (value < 1 || value > 65535)
        return fail(err, errlen, "publish '%s': %s '%s' is out of range 1..65535", shown_spec, what,
                    shown_port);
    *port = (uint16_t)value;
    return 0;
}

int publish_parse(const char *spec, struct publish_rule *out, char *err, size_t errlen)
{
    if (spec[0] == '\0')
        return fail(err, errlen, "publish: empty rule (expected " PUBLISH_SYNTAX ")");
    char shown_spec[QUOTE_MAX + 4];
    quote_text(spec, strlen(spec), shown_spec);
    const char *colon = strchr(spec, ':');
    if (!colon)
        return fail(err, errlen, "publish '%s': missing ':GUESTPORT' (expected " PUBLISH_SYNTAX ")",
                    shown_spec);
    const char *host_end = colon;
    const char *dash = memchr(spec, '-', (size_t)(colon - spec));
    struct publish_rule rule;
    if (dash) {
        if (parse_port(spec, "host port", spec, (size_t)(dash - spec), &rule.host_first, err,
                       errlen) != 0 ||
            parse_port(spec, "host range end", dash + 1, (size_t)(host_end - dash - 1),
                       &rule.host_last, err, errlen) != 0)
            return -1;
        if (rule.host_last < rule.host_first)
            return fail(err, errlen, "publish '%s': host range end %u is below its start %u",
                        shown_spec, rule.host_last, rule.host_first);
    } else {
        if (parse_port(spec, "host port", spec, (size_t)(host_end - spec), &rule.host_first, err,
                       errlen) != 0)
            return -1;
        rule.host_last = rule.host_first;
    }
    if (parse_port(spec, "guest port", colon + 1, strlen(colon + 1), &rule.guest_port, err,
                   errlen) != 0)
        return -1;
    *out = rule;
    return 0;
}

unsigned publish_port_count(const struct publish_rule *rule)
{
    return (unsigned)rule->host_last - rule->host_first + 1;
}

void publish_format(const struct publish_rule *rule, char text[PUBLISH_TEXT_MAX])
{
    if (rule->host_first == rule->host_last)
        snprintf(text, PUBLISH_TEXT_MAX, "%u:%u", rule->host_first, rule->guest_port);
    else
        snprintf(text, PUBLISH_TEXT_MAX, "%u-%u:%u", rule->host_first, rule->host_last,
                 rule->guest_port);
}

static bool rules_overlap(const struct publish_rule *a, const struct publish_rule *b)
{
    return a->host_first <= b->host_last && b->host_first <= a->host_last;
}

int publish_check(const struct publish_rule *rules, size_t n, unsigned vm_count, char *err,
                  size_t errlen)
{
    char a_text[PUBLISH_TEXT_MAX], b_text[PUBLISH_TEXT_MAX];
    for (size_t i = 0; i < n; i++) {
        unsigned ports = publish_port_count(&rules[i]);
        if (ports > vm_count) {
            publish_format(&rules[i], a_text);
            return fail(err, errlen, "publish %s maps %u host port%s but only %u VM%s run%s",
                        a_text, ports, ports == 1 ? "" : "s", vm_count, vm_count == 1 ? "" : "s",
                        vm_count == 1 ? "s" : "");
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (!rules_overlap(&rules[i], &rules[j]))
                continue;
            unsigned shared = rules[i].host_first > rules[j].host_first ? rules[i].host_first
                                                                        : rules[j].host_first;
            publish_format(&rules[i], a_text);
            publish_format(&rules[j], b_text);
            return fail(err, errlen, "publish %s and %s both use host port %u", a_text, b_text,
                        shared);
        }
    }
    return 0;
}
