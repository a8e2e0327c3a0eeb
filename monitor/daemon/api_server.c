/* The HTTP side of the daemon: libmicrohttpd on the API socket, and routing to the endpoints. */
#include "daemon/api_server.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_call.h"

/* Connections at once (each its own thread), and how long an idle or slow one may last. */
#define API_MAX_CONNECTIONS    256u
#define API_CONNECTION_TIMEOUT 30u

struct api_server {
    struct MHD_Daemon *mhd;
};

/*
 * A body past API_BODY_MAX is read and dropped, so the client, still sending, is not cut off
 * before it can read its 413; one past this much more is not worth reading at all.
 */
#define API_DISCARD_MAX (16u << 20)

/* The body read so far; too_large once it passed API_BODY_MAX (it is then only counted). */
struct request_state {
    char *body;
    size_t length;
    bool too_large;
};

enum MHD_Result api_reply(struct api_call *call, unsigned status, struct MHD_Response *response)
{
    if (!response)
        return MHD_NO;
    if (status < DAEMON_STATUS_CODES)
        atomic_fetch_add(&call->daemon->responses[status], 1);
    enum MHD_Result result = MHD_queue_response(call->connection, status, response);
    MHD_destroy_response(response);
    return result;
}

enum MHD_Result api_reply_json(struct api_call *call, unsigned status, json_object *body)
{
    size_t length;
    const char *text = json_object_to_json_string_length(
        body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &length);
    char *copy = malloc(length + 1);
    if (copy) {
        memcpy(copy, text, length);
        copy[length++] = '\n';
    }
    json_object_put(body);
    if (!copy)
        return MHD_NO;
    struct MHD_Response *response =
        MHD_create_response_from_buffer(length, copy, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(copy);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return api_reply(call, status, response);
}

enum MHD_Result api_reply_error(struct api_call *call, unsigned status, const char *fmt, ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    /* One line, as the contract says, whatever a monitor's or parser's message held. */
    for (char *c = message; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    json_object *body = json_object_new_object();
    json_object_object_add(body, "fault_message", json_object_new_string(message));
    return api_reply_json(call, status, body);
}

enum MHD_Result api_reply_empty(struct api_call *call, unsigned status)
{
    return api_reply(call, status,
                     MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT));
}

const char *api_query(struct api_call *call, const char *key)
{
    return MHD_lookup_connection_value(call->connection, MHD_GET_ARGUMENT_KIND, key);
}

int api_query_bool(struct api_call *call, const char *key, bool *out, enum MHD_Result *reply)
{
    const char *value = api_query(call, key);
    if (!value)
        return 0;
    if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
        *out = true;
    } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
        *out = false;
    } else {
        *reply = api_reply_error(call, 400, "%s: expected true or false, got '%s'", key, value);
        return -1;
    }
    return 0;
}

int api_client_fd(struct api_call *call)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(call->connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

bool api_client_gone(int fd, int ms)
{
    if (fd < 0)
        return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    int n = poll(&p, 1, ms);
    return n > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static enum MHD_Result version(struct api_call *call)
{
    json_object *body = json_object_new_object();
    json_object_object_add(body, "version", json_object_new_string(API_VERSION_TEXT));
    json_object_object_add(body, "api_version", json_object_new_int(API_VERSION));
    json_object *platforms = json_object_new_array();
    if (call->daemon->kvm_available)
        json_object_array_add(platforms, json_object_new_string("kvm"));
    if (call->daemon->process_available)
        json_object_array_add(platforms, json_object_new_string("process"));
    json_object_object_add(body, "platforms", platforms);
    json_object_object_add(body, "default_platform",
                           json_object_new_string(call->daemon->default_platform));
    return api_reply_json(call, 200, body);
}

typedef enum MHD_Result (*endpoint)(struct api_call *call);

/* One path and its handlers by method; a NULL handler is a method the path does not take. */
struct route {
    const char *path; /* "{id}" stands for one path segment */
    endpoint get, post, delete;
};

static const struct route routes[] = {
    {"/version", version, NULL, NULL},
    {"/vms", api_list, api_create, NULL},
    {"/vms/{id}", api_inspect, NULL, api_delete},
    {"/vms/{id}/start", NULL, api_start, NULL},
    {"/vms/{id}/stop", NULL, api_stop, NULL},
    {"/vms/{id}/kill", NULL, api_kill, NULL},
    {"/vms/{id}/pause", NULL, api_pause, NULL},
    {"/vms/{id}/resume", NULL, api_resume, NULL},
    {"/vms/{id}/logs", api_logs, NULL, NULL},
    {"/vms/{id}/stats", api_vm_stats, NULL, NULL},
    {"/stats", api_all_stats, NULL, NULL},
    {"/events", api_events, NULL, NULL},
    {"/metrics", api_metrics, NULL, NULL},
};

/* Whether url matches pattern; the {id} segment is copied into id (idlen bytes). */
static bool path_matches(const char *pattern, const char *url, char *id, size_t idlen)
{
    const char *slot = strstr(pattern, "{id}");
    if (!slot)
        return strcmp(pattern, url) == 0;
    size_t head = (size_t)(slot - pattern);
    if (strncmp(pattern, url, head) != 0)
        return false;
    const char *start = url + head;
    size_t length = strcspn(start, "/");
    if (length == 0 || length >= idlen || strcmp(start + length, slot + 4) != 0)
        return false;
    memcpy(id, start, length);
    id[length] = '\0';
    return true;
}

static enum MHD_Result route(struct api_call *call, const char *url)
{
    char id[256];
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        if (!path_matches(r->path, url, id, sizeof(id)))
            continue;
        call->id = strstr(r->path, "{id}") ? id : NULL;
        endpoint handler = strcmp(call->method, "GET") == 0      ? r->get
                           : strcmp(call->method, "POST") == 0   ? r->post
                           : strcmp(call->method, "DELETE") == 0 ? r->delete
                                                                 : NULL;
        if (handler)
            return handler(call);
        return api_reply_error(call, 405, "%s does not take %s", r->path, call->method);
    }
    return api_reply_error(call, 404, "no endpoint %s", url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *http_version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **request_context)
{
    (void)http_version;
    struct api_call call = {.daemon = cls, .connection = connection, .method = method};
    struct request_state *state = *request_context;
    if (!state) {
        state = calloc(1, sizeof(*state));
        if (!state)
            return MHD_NO;
        *request_context = state;
        const char *declared = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                           MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long declared_length = declared ? strtoull(declared, NULL, 10) : 0;
        /* Answered at once, and the connection closed: not a byte of it is read. */
        if (declared_length > API_DISCARD_MAX) {
            state->too_large = true;
            return api_reply_error(&call, 413, "the body is larger than %u bytes", API_BODY_MAX);
        }
        state->too_large = declared_length > API_BODY_MAX;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!state->too_large && state->length + *upload_data_size > API_BODY_MAX) {
            state->too_large = true;
            free(state->body);
            state->body = NULL;
            state->length = 0;
        }
        if (state->too_large) {
            state->length += *upload_data_size;
            if (state->length > API_DISCARD_MAX)
                return MHD_NO; /* a chunked body without end: drop the connection */
        } else {
            char *body = realloc(state->body, state->length + *upload_data_size + 1);
            if (!body)
                return MHD_NO;
            memcpy(body + state->length, upload_data, *upload_data_size);
            state->body = body;
            state->length += *upload_data_size;
            body[state->length] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (state->too_large)
        return api_reply_error(&call, 413, "the body is larger than %u bytes", API_BODY_MAX);
    call.body = state->body ? state->body : "";
    call.body_length = state->length;
    return route(&call, url);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **request_context,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)connection;
    (void)code;
    struct request_state *state = *request_context;
    if (state) {
        free(state->body);
        free(state);
        *request_context = NULL;
    }
}

static void log_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fprintf(stderr, "denali daemon: http: ");
    vfprintf(stderr, fmt, ap);
}

struct api_server *api_server_start(struct daemon *daemon, int listen_fd, char *err, size_t errlen)
{
    struct api_server *server = calloc(1, sizeof(*server));
    if (!server) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* A thread per connection: a stream (logs, events, stats) may wait as long as it likes. */
    server->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, daemon, MHD_OPTION_EXTERNAL_LOGGER, log_error, NULL,
        MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_LIMIT, API_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, API_CONNECTION_TIMEOUT, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_END);
    if (!server->mhd) {
        snprintf(err, errlen, "cannot serve HTTP on the socket (libmicrohttpd)");
        free(server);
        return NULL;
    }
    return server;
}

void api_server_stop(struct api_server *server)
{
    if (!server)
        return;
    MHD_stop_daemon(server->mhd);
    free(server);
}
