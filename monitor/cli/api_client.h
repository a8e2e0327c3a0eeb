/* The client side of the daemon's API: HTTP/1.1 over its Unix socket, through libcurl. */
#ifndef DENALI_API_CLIENT_H
#define DENALI_API_CLIENT_H

#include <stddef.h>

#define API_DEFAULT_SOCKET "/run/denali/api.sock"

struct api_response {
    long status; /* the HTTP status code */
    char *body;  /* NUL-terminated; never NULL after a successful request */
    size_t length;
};

/* The socket to use: flag (from --api) if given, else $DENALI_API, else the default. */
const char *api_socket_path(const char *flag);

/*
 * One request. body may be NULL (no body) or JSON. 0 with *out filled (any status), or -1 with
 * one line in err when the daemon cannot be reached or the exchange failed.
 */
int api_request(const char *socket_path, const char *method, const char *path, const char *body,
                struct api_response *out, char *err, size_t errlen);
void api_response_free(struct api_response *response);

/*
 * A GET whose answer streams (logs with follow, events, stats with stream): on_data sees each
 * piece as it arrives and returns non-zero to stop. *status gets the HTTP status; the body of an
 * error status goes to on_data too. 0 when the stream ended or on_data stopped it, -1 with err.
 */
int api_stream(const char *socket_path, const char *path,
               int (*on_data)(void *ctx, const char *data, size_t length), void *ctx, long *status,
               char *err, size_t errlen);

/*
 * As api_stream, but on_data sees only a successful (2xx) answer; an error status's body is kept
 * in *failure for api_fault_message. 0 with failure->status set (free it with
 * api_response_free), or -1 with err as api_stream.
 */
int api_stream_checked(const char *socket_path, const char *path,
                       int (*on_data)(void *ctx, const char *data, size_t length), void *ctx,
                       struct api_response *failure, char *err, size_t errlen);

/* The one-line message of an error body ({"fault_message": ...}), or the body itself. */
const char *api_fault_message(const struct api_response *response);

#endif
