/* One API request as the handlers see it, and the ways to answer it (JSON, errors, streams). */
#ifndef DENALI_API_CALL_H
#define DENALI_API_CALL_H

#include <json-c/json.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/daemon.h"

#define API_VERSION_TEXT "0.11.0"
#define API_VERSION      1
#define API_BODY_MAX     (64u << 10)

struct api_call {
    struct daemon *daemon;
    struct MHD_Connection *connection;
    const char *method;
    const char *id; /* the {id} of /vms/{id}...; NULL for other paths */
    const char *body;
    size_t body_length;
};

/* Each answers the call and returns what the access handler returns to libmicrohttpd. */
enum MHD_Result api_reply_json(struct api_call *call, unsigned status, json_object *body);
enum MHD_Result api_reply_error(struct api_call *call, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum MHD_Result api_reply_empty(struct api_call *call, unsigned status);
/* Queues response (taken) with status, counting it for the metrics. */
enum MHD_Result api_reply(struct api_call *call, unsigned status, struct MHD_Response *response);

/* A query argument, or NULL. */
const char *api_query(struct api_call *call, const char *key);
/* ?key=true|false|1|0; *out untouched when absent. -1 (and a 400 queued) for another value. */
int api_query_bool(struct api_call *call, const char *key, bool *out, enum MHD_Result *reply);
/* The client's socket, to notice it leaving while a stream waits. */
int api_client_fd(struct api_call *call);
/* Whether the client has closed its end; waits up to ms for that (a stream's pause). */
bool api_client_gone(int fd, int ms);

/* The endpoints (api_vms.c, api_streams.c, metrics.c). */
enum MHD_Result api_create(struct api_call *call);
enum MHD_Result api_list(struct api_call *call);
enum MHD_Result api_inspect(struct api_call *call);
enum MHD_Result api_delete(struct api_call *call);
enum MHD_Result api_start(struct api_call *call);
enum MHD_Result api_stop(struct api_call *call);
enum MHD_Result api_kill(struct api_call *call);
enum MHD_Result api_pause(struct api_call *call);
enum MHD_Result api_resume(struct api_call *call);
enum MHD_Result api_vm_stats(struct api_call *call);
enum MHD_Result api_all_stats(struct api_call *call);
enum MHD_Result api_logs(struct api_call *call);
enum MHD_Result api_events(struct api_call *call);
enum MHD_Result api_metrics(struct api_call *call);

/* GET /stats?stream=true (api_streams.c). */
enum MHD_Result api_stats_stream(struct api_call *call);
/* Every live VM's STATS; the caller holds the registry lock. */
json_object *api_live_stats(struct daemon *daemon);

/* Asks the monitors for fresh counters of the VM id (every live VM when id is NULL) and waits up
 * to a second for the answers. The caller holds the registry lock, released while it waits. */
void api_refresh_stats(struct daemon *daemon, const char *id);

#endif
