/* The client side of the daemon's API: HTTP/1.1 over its Unix socket, through libcurl. */
#include "cli/api_client.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *api_socket_path(const char *flag)
{
    if (flag && flag[0])
        return flag;
    const char *env = getenv("DENALI_API");
    if (env && env[0])
        return env;
    return API_DEFAULT_SOCKET;
}

struct growing_body {
    char *data;
    size_t length, capacity;
    bool failed;
};

static size_t collect(char *piece, size_t size, size_t count, void *ctx)
{
    struct growing_body *b = ctx;
    size_t n = size * count;
    if (b->length + n + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->length + n + 1)
            capacity *= 2;
        char *data = realloc(b->data, capacity);
        if (!data) {
            b->failed = true;
            return 0;
        }
        b->data = data;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, piece, n);
    b->length += n;
    b->data[b->length] = '\0';
    return n;
}

/* A handle for one exchange with the daemon; the URL's host is ignored over a Unix socket. */
static CURL *open_handle(const char *socket_path, const char *path, char *err, size_t errlen)
{
    static bool initialised;
    if (!initialised) {
        curl_global_init(CURL_GLOBAL_NOTHING);
        initialised = true;
    }
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "cannot start an HTTP client (libcurl)");
        return NULL;
    }
    char url[2048];
    if (snprintf(url, sizeof(url), "http://denali%s", path) >= (int)sizeof(url)) {
        snprintf(err, errlen, "request path too long");
        curl_easy_cleanup(curl);
        return NULL;
    }
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    return curl;
}

static void describe_failure(CURLcode code, const char *socket_path, char *err, size_t errlen)
{
    if (code == CURLE_COULDNT_CONNECT)
        snprintf(err, errlen,
                 "cannot reach the daemon at %s (is `denali daemon` running? --api or "
                 "DENALI_API names another socket)",
                 socket_path);
    else
        snprintf(err, errlen, "request to the daemon at %s failed: %s", socket_path,
                 curl_easy_strerror(code));
}

int api_request(const char *socket_path, const char *method, const char *path, const char *body,
                struct api_response *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    CURL *curl = open_handle(socket_path, path, err, errlen);
    if (!curl)
        return -1;
    struct growing_body collected = {0};
    struct curl_slist *headers = NULL;
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &collected);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 600L);
    CURLcode code = curl_easy_perform(curl);
    int result = 0;
    if (code != CURLE_OK || collected.failed) {
        if (collected.failed)
            snprintf(err, errlen, "out of memory reading the daemon's answer");
        else
            describe_failure(code, socket_path, err, errlen);
        free(collected.data);
        result = -1;
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
        out->body = collected.data ? collected.data : strdup("");
        out->length = collected.length;
        if (!out->body) {
            snprintf(err, errlen, "out of memory");
            result = -1;
        }
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return result;
}

void api_response_free(struct api_response *response)
{
    free(response->body);
    memset(response, 0, sizeof(*response));
}

struct stream_sink {
    int (*on_data)(void *ctx, const char *data, size_t length);
    void *ctx;
    bool stopped;
    CURL *curl;
    struct growing_body *failure; /* NULL: an error status's body goes to on_data too */
};

static size_t forward(char *piece, size_t size, size_t count, void *ctx)
{
    struct stream_sink *sink = ctx;
    size_t n = size * count;
    if (sink->failure) {
        /* The status line has been read by the time any of the body arrives. */
        long status = 0;
        curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            return collect(piece, size, count, sink->failure);
    }
    if (sink->on_data(sink->ctx, piece, n) != 0) {
        sink->stopped = true;
        return 0; /* makes libcurl end the transfer */
    }
    return n;
}

static int stream(const char *socket_path, const char *path,
                  int (*on_data)(void *ctx, const char *data, size_t length), void *ctx,
                  long *status, struct growing_body *failure, char *err, size_t errlen)
{
    *status = 0;
    CURL *curl = open_handle(socket_path, path, err, errlen);
    if (!curl)
        return -1;
    struct stream_sink sink = {.on_data = on_data, .ctx = ctx, .curl = curl, .failure = failure};
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, forward);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    /* A stream may say nothing for a long time; only a dead connection ends it. */
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    CURLcode code = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    int result = 0;
    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && sink.stopped)) {
        describe_failure(code, socket_path, err, errlen);
        result = -1;
    }
    curl_easy_cleanup(curl);
    return result;
}

int api_stream(const char *socket_path, const char *path,
               int (*on_data)(void *ctx, const char *data, size_t length), void *ctx, long *status,
               char *err, size_t errlen)
{
    return stream(socket_path, path, on_data, ctx, status, NULL, err, errlen);
}

int api_stream_checked(const char *socket_path, const char *path,
                       int (*on_data)(void *ctx, const char *data, size_t length), void *ctx,
                       struct api_response *failure, char *err, size_t errlen)
{
    memset(failure, 0, sizeof(*failure));
    struct growing_body collected = {0};
    int result = stream(socket_path, path, on_data, ctx, &failure->status, &collected, err, errlen);
    if (result == 0 && collected.failed) {
        snprintf(err, errlen, "out of memory reading the daemon's answer");
        result = -1;
    }
    if (result == 0 && (failure->status < 200 || failure->status > 299)) {
        failure->body = collected.data ? collected.data : strdup("");
        failure->length = collected.length;
        return 0;
    }
    free(collected.data);
    return result;
}

const char *api_fault_message(const struct api_response *response)
{
    static _Thread_local char message[512];
    json_object *root = json_tokener_parse(response->body ? response->body : "");
    json_object *fault;
    if (root && json_object_object_get_ex(root, "fault_message", &fault) &&
        json_object_is_type(fault, json_type_string)) {
        snprintf(message, sizeof(message), "%s", json_object_get_string(fault));
    } else {
        snprintf(message, sizeof(message), "%s", response->body ? response->body : "");
        message[strcspn(message, "\n")] = '\0';
    }
    json_object_put(root);
    return message;
}
