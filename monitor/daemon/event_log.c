/* The daemon's event stream (GET /events): the last 1,000 events, and waiting for the next. */
#include "daemon/event_log.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/rfc3339.h"

static const char *const type_names[EVENT_TYPE_COUNT] = {
    [EVENT_CREATED] = "created", [EVENT_STARTED] = "started",       [EVENT_READY] = "ready",
    [EVENT_EXITED] = "exited",   [EVENT_STOPPED] = "stopped",       [EVENT_PAUSED] = "paused",
    [EVENT_RESUMED] = "resumed", [EVENT_HIBERNATED] = "hibernated", [EVENT_WOKEN] = "woken",
    [EVENT_DELETED] = "deleted",
};

void event_log_init(struct event_log *log)
{
    memset(log, 0, sizeof(*log));
    pthread_mutex_init(&log->lock, NULL);
    /* Waits are timed on the monotonic clock: a wall-clock step must not stall a stream. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&log->added, &attr);
    pthread_condattr_destroy(&attr);
}

void event_log_destroy(struct event_log *log)
{
    for (unsigned i = 0; i < EVENT_LOG_KEEP; i++)
        free(log->lines[i]);
    pthread_cond_destroy(&log->added);
    pthread_mutex_destroy(&log->lock);
}

const char *event_type_name(enum event_type type)
{
    return type < EVENT_TYPE_COUNT ? type_names[type] : "unknown";
}

bool event_type_parse(const char *name, enum event_type *out)
{
    for (unsigned i = 0; i < EVENT_TYPE_COUNT; i++) {
        if (strcmp(name, type_names[i]) == 0) {
            *out = (enum event_type)i;
            return true;
        }
    }
    return false;
}

void event_log_add(struct event_log *log, enum event_type type, const char *id, bool has_status,
                   int status, const char *reason)
{
    char when[40];
    rfc3339_now(when, sizeof(when));
    json_object *event = json_object_new_object();
    json_object_object_add(event, "time", json_object_new_string(when));
    json_object_object_add(event, "type", json_object_new_string(event_type_name(type)));
    json_object_object_add(event, "id", json_object_new_string(id));
    if (has_status)
        json_object_object_add(event, "status", json_object_new_int(status));
    if (reason)
        json_object_object_add(event, "reason", json_object_new_string(reason));
    size_t length;
    const char *text = json_object_to_json_string_length(
        event, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &length);
    char *line = malloc(length + 2);
    if (line) {
        memcpy(line, text, length);
        line[length] = '\n';
        line[length + 1] = '\0';
    }
    json_object_put(event);
    pthread_mutex_lock(&log->lock);
    log->totals[type]++;
    if (line) {
        char **slot = &log->lines[log->next % EVENT_LOG_KEEP];
        free(*slot);
        *slot = line;
        log->next++;
    }
    pthread_cond_broadcast(&log->added);
    pthread_mutex_unlock(&log->lock);
}

static uint64_t oldest_kept(const struct event_log *log)
{
    return log->next > EVENT_LOG_KEEP ? log->next - EVENT_LOG_KEEP : 0;
}

uint64_t event_log_start(struct event_log *log, bool replay)
{
    pthread_mutex_lock(&log->lock);
    uint64_t start = replay ? oldest_kept(log) : log->next;
    pthread_mutex_unlock(&log->lock);
    return start;
}

char *event_log_next(struct event_log *log, uint64_t *cursor, unsigned timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    char *line = NULL;
    pthread_mutex_lock(&log->lock);
    while (*cursor >= log->next && !log->closing) {
        if (pthread_cond_timedwait(&log->added, &log->lock, &deadline) == ETIMEDOUT)
            break;
    }
    if (*cursor < log->next && !log->closing) {
        /* A reader slower than 1,000 events skips what was dropped rather than stall writers. */
        if (*cursor < oldest_kept(log))
            *cursor = oldest_kept(log);
        line = strdup(log->lines[*cursor % EVENT_LOG_KEEP]);
        (*cursor)++;
    }
    pthread_mutex_unlock(&log->lock);
    return line;
}

void event_log_close(struct event_log *log)
{
    pthread_mutex_lock(&log->lock);
    log->closing = true;
    pthread_cond_broadcast(&log->added);
    pthread_mutex_unlock(&log->lock);
}

void event_log_totals(struct event_log *log, uint64_t totals[EVENT_TYPE_COUNT])
{
    pthread_mutex_lock(&log->lock);
    memcpy(totals, log->totals, sizeof(log->totals));
    pthread_mutex_unlock(&log->lock);
}
