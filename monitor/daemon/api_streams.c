/* The endpoints that stream: a VM's console (logs, with follow), events, and stats every second.
 * Each stream's reader runs in its connection's own thread, so it may wait; while it waits it
 * watches the client's socket, and ends when the client has gone. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/api_call.h"

#define STREAM_BLOCK      4096u
#define LOG_POLL_MS       200
#define EVENT_WAIT_MS     500u
#define STATS_INTERVAL_MS 1000

/* A line of text being handed out in pieces as large as the reader's buffer. */
struct pending_text {
    char *text;
    size_t length, sent;
};

static ssize_t hand_out(struct pending_text *p, char *buf, size_t max)
{
    size_t n = p->length - p->sent < max ? p->length - p->sent : max;
    memcpy(buf, p->text + p->sent, n);
    p->sent += n;
    if (p->sent == p->length) {
        free(p->text);
        *p = (struct pending_text){0};
    }
    return (ssize_t)n;
}

static enum MHD_Result reply_stream(struct api_call *call, const char *content_type,
                                    MHD_ContentReaderCallback reader, void *context,
                                    MHD_ContentReaderFreeCallback release)
{
    struct MHD_Response *response =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, reader, context, release);
    if (!response) {
        release(context);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    /*
     * A stream may be quiet for longer than the connection timeout, which libmicrohttpd would
     * apply the moment its reader next returns; the reader watches for the client leaving instead.
     */
    MHD_set_connection_option(call->connection, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    return api_reply(call, 200, response);
}

/* ---- logs ---- */

struct log_stream {
    struct daemon *daemon;
    char *id, *path;
    int fd, client_fd;
    off_t offset;
    bool last_read; /* the VM has ended: one more read takes what it wrote last */
};

/* Whether the VM is gone or ended, so its console will not grow. */
static bool console_final(struct daemon *daemon, const char *id)
{
    pthread_mutex_lock(&daemon->registry.lock);
    struct vm *vm = registry_find(&daemon->registry, id);
    bool final = !vm || vm_state_is_final(vm->state) || vm->fleet->monitor_done;
    pthread_mutex_unlock(&daemon->registry.lock);
    return final;
}

static ssize_t read_log(void *context, uint64_t position, char *buf, size_t max)
{
    (void)position;
    struct log_stream *s = context;
    for (;;) {
        if (s->fd < 0)
            s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
        if (s->fd >= 0) {
            ssize_t n = pread(s->fd, buf, max, s->offset);
            if (n > 0) {
                s->offset += n;
                return n;
            }
        }
        if (s->last_read || atomic_load(&s->daemon->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (console_final(s->daemon, s->id)) {
            s->last_read = true;
            continue;
        }
        if (api_client_gone(s->client_fd, LOG_POLL_MS))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void free_log_stream(void *context)
{
    struct log_stream *s = context;
    if (s->fd >= 0)
        close(s->fd);
    free(s->id);
    free(s->path);
    free(s);
}

/* Where the last `lines` lines of the file start (the whole file holds fewer). */
static off_t tail_offset(int fd, off_t size, unsigned long lines)
{
    if (lines == 0)
        return size;
    char block[4096];
    off_t end = size;
    unsigned long seen = 0;
    bool skip_final_newline = true;
    while (end > 0) {
        off_t start = end > (off_t)sizeof(block) ? end - (off_t)sizeof(block) : 0;
        ssize_t n = pread(fd, block, (size_t)(end - start), start);
        if (n <= 0)
            return 0;
        for (ssize_t i = n - 1; i >= 0; i--) {
            if (block[i] != '\n')
                skip_final_newline = false;
            else if (skip_final_newline)
                skip_final_newline = false; /* the last line's own end */
            else if (++seen == lines)
                return start + i + 1;
        }
        end = start;
    }
    return 0;
}

static int parse_tail(const char *text, unsigned long *out)
{
    if (!text || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    char *end;
    *out = strtoul(text, &end, 10);
    return errno || *end ? -1 : 0;
}

enum MHD_Result api_logs(struct api_call *call)
{
    bool follow = false;
    enum MHD_Result reply;
    if (api_query_bool(call, "follow", &follow, &reply) < 0)
        return reply;
    const char *tail_text = api_query(call, "tail");
    unsigned long tail = 0;
    if (tail_text && parse_tail(tail_text, &tail) < 0)
        return api_reply_error(call, 400, "tail: expected a number of lines, got '%s'", tail_text);
    pthread_mutex_lock(&call->daemon->registry.lock);
    struct vm *vm = registry_find(&call->daemon->registry, call->id);
    char *path = NULL;
    if (vm && asprintf(&path, "%s/vm-%u.log", vm->fleet->console_dir, vm->index) < 0)
        path = NULL;
    pthread_mutex_unlock(&call->daemon->registry.lock);
    if (!vm)
        return api_reply_error(call, 404, "no VM '%s'", call->id);
    if (!path)
        return api_reply_error(call, 500, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    off_t size = fd >= 0 && fstat(fd, &st) == 0 ? st.st_size : 0;
    off_t start = tail_text && fd >= 0 ? tail_offset(fd, size, tail) : 0;
    if (!follow) {
        free(path);
        if (fd < 0) {
            /* No console file yet: the VM has written nothing. */
            struct MHD_Response *empty =
                MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            if (empty)
                MHD_add_response_header(empty, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
            return api_reply(call, 200, empty);
        }
        struct MHD_Response *response =
            MHD_create_response_from_fd_at_offset64((uint64_t)(size - start), fd, (uint64_t)start);
        if (!response) {
            close(fd);
            return MHD_NO;
        }
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
        return api_reply(call, 200, response);
    }
    struct log_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        if (fd >= 0)
            close(fd);
        free(path);
        return MHD_NO;
    }
    *s = (struct log_stream){.daemon = call->daemon,
                             .id = strdup(call->id),
                             .path = path,
                             .fd = fd,
                             .client_fd = api_client_fd(call),
                             .offset = start};
    if (!s->id) {
        free_log_stream(s);
        return MHD_NO;
    }
    return reply_stream(call, "text/plain", read_log, s, free_log_stream);
}

/* ---- events ---- */

struct event_stream {
    struct daemon *daemon;
    uint64_t cursor;
    int client_fd;
    struct pending_text line;
};

static ssize_t read_events(void *context, uint64_t position, char *buf, size_t max)
{
    (void)position;
    struct event_stream *s = context;
    while (!s->line.text) {
        char *line = event_log_next(&s->daemon->events, &s->cursor, EVENT_WAIT_MS);
        if (line) {
            s->line = (struct pending_text){.text = line, .length = strlen(line)};
            break;
        }
        if (atomic_load(&s->daemon->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (api_client_gone(s->client_fd, 0))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return hand_out(&s->line, buf, max);
}

static void free_event_stream(void *context)
{
    struct event_stream *s = context;
    free(s->line.text);
    free(s);
}

enum MHD_Result api_events(struct api_call *call)
{
    const char *since = api_query(call, "since");
    if (since && strcmp(since, "0") != 0)
        return api_reply_error(call, 400, "since: only 0 (replay the last %u events) is known",
                               EVENT_LOG_KEEP);
    struct event_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    s->daemon = call->daemon;
    s->cursor = event_log_start(&call->daemon->events, since != NULL);
    s->client_fd = api_client_fd(call);
    return reply_stream(call, "application/x-ndjson", read_events, s, free_event_stream);
}

/* ---- stats every second ---- */

struct stats_stream {
    struct daemon *daemon;
    int client_fd;
    bool first;
    struct pending_text line;
};

static ssize_t read_stats(void *context, uint64_t position, char *buf, size_t max)
{
    (void)position;
    struct stats_stream *s = context;
    if (!s->line.text) {
        if (!s->first && api_client_gone(s->client_fd, STATS_INTERVAL_MS))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (atomic_load(&s->daemon->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        s->first = false;
        pthread_mutex_lock(&s->daemon->registry.lock);
        api_refresh_stats(s->daemon, NULL);
        json_object *list = api_live_stats(s->daemon);
        pthread_mutex_unlock(&s->daemon->registry.lock);
        char *text;
        int length = asprintf(&text, "%s\n",
                              json_object_to_json_string_ext(
                                  list, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(list);
        if (length < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        s->line = (struct pending_text){.text = text, .length = (size_t)length};
    }
    return hand_out(&s->line, buf, max);
}

static void free_stats_stream(void *context)
{
    struct stats_stream *s = context;
    free(s->line.text);
    free(s);
}

enum MHD_Result api_stats_stream(struct api_call *call)
{
    struct stats_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    *s = (struct stats_stream){
        .daemon = call->daemon, .client_fd = api_client_fd(call), .first = true};
    return reply_stream(call, "application/x-ndjson", read_stats, s, free_stats_stream);
}
