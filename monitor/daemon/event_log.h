/* The daemon's event stream (GET /events): the last 1,000 events, and waiting for the next. */
#ifndef DENALI_EVENT_LOG_H
#define DENALI_EVENT_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_LOG_KEEP 1000u

enum event_type {
    EVENT_CREATED,
    EVENT_STARTED,
    EVENT_READY,
    EVENT_EXITED,
    EVENT_STOPPED,
    EVENT_PAUSED,
    EVENT_RESUMED,
    EVENT_HIBERNATED,
    EVENT_WOKEN,
    EVENT_DELETED,
    EVENT_TYPE_COUNT
};

struct event_log {
    pthread_mutex_t lock;
    pthread_cond_t added;
    char *lines[EVENT_LOG_KEEP]; /* one JSON object and '\n' each, a ring */
    uint64_t next;               /* sequence number of the next event; event s is lines[s % KEEP] */
    uint64_t totals[EVENT_TYPE_COUNT];
    bool closing;
};

void event_log_init(struct event_log *log);
void event_log_destroy(struct event_log *log);
const char *event_type_name(enum event_type type);
/* Maps a control-channel event name to its type; false for one the API does not publish. */
bool event_type_parse(const char *name, enum event_type *out);

/*
 * Records one event for VM id, now. status is added when has_status, reason when not NULL.
 */
void event_log_add(struct event_log *log, enum event_type type, const char *id, bool has_status,
                   int status, const char *reason);

/* The sequence number a new reader starts from: the oldest kept (replay) or the next one. */
uint64_t event_log_start(struct event_log *log, bool replay);

/*
 * Copies the event *cursor (or, if it has fallen out of the ring, the oldest kept) into a new
 * string and advances *cursor; waits up to timeout_ms for one. NULL when none came in time, or
 * the log is closing.
 */
char *event_log_next(struct event_log *log, uint64_t *cursor, unsigned timeout_ms);

/* Ends every wait (the daemon is stopping). */
void event_log_close(struct event_log *log);

/* Totals by type, for the metrics. */
void event_log_totals(struct event_log *log, uint64_t totals[EVENT_TYPE_COUNT]);

#endif
