/* How the API's VM and STATS objects read in tables: status wording, ports, sizes, times. */
#include "cli/vm_view.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "net/publish.h"

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int value = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        value = value * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = value;
    return 0;
}

static int expect(const char **p, const char *any_of)
{
    if (!**p || !strchr(any_of, **p))
        return -1;
    (*p)++;
    return 0;
}

int vm_parse_time(const char *text, time_t *out)
{
    if (!text)
        return -1;
    const char *p = text;
    struct tm tm = {0};
    int year, month, day, hour, minute, second;
    if (digits(&p, 4, &year) || expect(&p, "-") || digits(&p, 2, &month) || expect(&p, "-") ||
        digits(&p, 2, &day) || expect(&p, "Tt ") || digits(&p, 2, &hour) || expect(&p, ":") ||
        digits(&p, 2, &minute) || expect(&p, ":") || digits(&p, 2, &second))
        return -1;
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (digits(&p, 2, &oh) || expect(&p, ":") || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    *out = timegm(&tm) - offset;
    return 0;
}

static void plural(char *out, size_t len, long n, const char *unit)
{
    snprintf(out, len, "%ld %s%s", n, unit, n == 1 ? "" : "s");
}

void vm_format_duration(double seconds, char *out, size_t len)
{
    long s = seconds > 0 ? (long)seconds : 0;
    long minutes = lround(seconds / 60), hours = lround(seconds / 3600);
    long days = lround(seconds / 86400);
    if (s < 1)
        snprintf(out, len, "Less than a second");
    else if (s < 60)
        plural(out, len, s, "second");
    else if (minutes == 1)
        snprintf(out, len, "About a minute");
    else if (minutes < 60)
        plural(out, len, minutes, "minute");
    else if (hours == 1)
        snprintf(out, len, "About an hour");
    else if (hours < 48)
        plural(out, len, hours, "hour");
    else if (days < 14)
        plural(out, len, days, "day");
    else if (days < 60)
        plural(out, len, days / 7, "week");
    else if (days < 730)
        plural(out, len, days / 30, "month");
    else
        plural(out, len, days / 365, "year");
}

/* How long ago the time at key was, worded; empty when the VM has no such time. */
static void since(json_object *vm, const char *key, time_t now, char *out, size_t len)
{
    time_t then;
    out[0] = '\0';
    if (vm_parse_time(cli_json_string(vm, key), &then) == 0)
        vm_format_duration(difftime(now, then), out, len);
}

static bool has_int(json_object *vm, const char *key, int *out)
{
    json_object *value;
    if (!json_object_object_get_ex(vm, key, &value) || !json_object_is_type(value, json_type_int))
        return false;
    *out = json_object_get_int(value);
    return true;
}

void vm_status(json_object *vm, time_t now, char *out, size_t len)
{
    const char *state = cli_json_string(vm, "state");
    char ago[64], code[24] = "";
    int status;
    if (has_int(vm, "exit_status", &status))
        snprintf(code, sizeof(code), " (%d)", status);
    if (!state) {
        snprintf(out, len, "Unknown");
    } else if (strcmp(state, "created") == 0) {
        snprintf(out, len, "Created");
    } else if (strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
               strcmp(state, "hibernated") == 0) {
        since(vm, "started", now, ago, sizeof(ago));
        const char *note = state[0] == 'p' ? " (Paused)" : state[0] == 'h' ? " (Hibernated)" : "";
        snprintf(out, len, "Up%s%s%s", ago[0] ? " " : "", ago, note);
    } else if (strcmp(state, "exited") == 0 || strcmp(state, "stopped") == 0) {
        since(vm, "finished", now, ago, sizeof(ago));
        const char *reason = cli_json_string(vm, "stop_reason");
        bool stopped = state[0] == 's';
        snprintf(out, len, "%s%s%s%s%s", stopped ? "Stopped" : "Exited", code, ago[0] ? " " : "",
                 ago, ago[0] ? " ago" : "");
        if (stopped && reason && reason[0]) {
            size_t used = strlen(out);
            snprintf(out + used, len - used, ": %s", reason);
        }
    } else {
        /* A state newer than this client: said as the daemon says it. */
        snprintf(out, len, "%c%s", toupper((unsigned char)state[0]), state + 1);
    }
}

bool vm_state_is_live(const char *state)
{
    return state && (strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
                     strcmp(state, "hibernated") == 0);
}

void vm_ports(json_object *vm, char *out, size_t len)
{
    json_object *network, *publish, *index;
    out[0] = '\0';
    if (!json_object_object_get_ex(vm, "network", &network) ||
        !json_object_object_get_ex(network, "publish", &publish) ||
        !json_object_is_type(publish, json_type_array))
        return;
    unsigned vm_index = 0;
    if (json_object_object_get_ex(vm, "index", &index))
        vm_index = (unsigned)json_object_get_int(index);
    size_t used = 0;
    for (size_t i = 0; i < json_object_array_length(publish); i++) {
        const char *spec = json_object_get_string(json_object_array_get_idx(publish, i));
        struct publish_rule rule;
        char err[128];
        if (!spec || publish_parse(spec, &rule, err, sizeof(err)) < 0 ||
            vm_index >= publish_port_count(&rule))
            continue;
        int n = snprintf(out + used, len - used, "%s127.0.0.1:%u->%u/tcp", used ? ", " : "",
                         (unsigned)(rule.host_first + vm_index), (unsigned)rule.guest_port);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

const char *vm_image_name(const char *path)
{
    if (!path)
        return "";
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

void vm_format_bytes(uint64_t bytes, char *out, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
        value /= 1024;
        unit++;
    }
    if (unit == 0)
        snprintf(out, len, "%luB", (unsigned long)bytes);
    else if (value == floor(value))
        snprintf(out, len, "%.0f%s", value, units[unit]);
    else
        snprintf(out, len, "%.1f%s", value, units[unit]);
}

uint64_t vm_json_u64(json_object *obj, const char *key)
{
    json_object *value;
    if (!obj || !json_object_object_get_ex(obj, key, &value))
        return 0;
    if (!json_object_is_type(value, json_type_int) && !json_object_is_type(value, json_type_double))
        return 0;
    int64_t n = json_object_get_int64(value);
    return n > 0 ? (uint64_t)n : 0;
}
