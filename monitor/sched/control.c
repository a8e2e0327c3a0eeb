/* The daemon's control channel (--control-fd): per-VM commands in, per-VM events out (docs/API.md).
 */
#include "sched/control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sched/vm.h"
#include "sched/worker.h"
#include "util/clock.h"

#define PACKET_MAX (64u << 10)
/* How long the monitor's end waits for a daemon that does not read its events. */
#define SEND_TIMEOUT_S      5
#define STOP_TIMEOUT_MAX_MS (24u * 3600u * 1000u)

struct queued_event {
    struct queued_event *next;
    size_t length;
    char text[];
};

/* A stop request's deadline: VM id is killed if it is still live then. */
struct stop_deadline {
    uint32_t id;
    uint64_t at_ns;
};

struct control {
    struct monitor *m;
    int fd;
    int wake_fd; /* an eventfd: events queued, or the end */
    pthread_t thread;
    pthread_mutex_t lock;
    struct queued_event *head, *tail;
    bool stopping;
    bool closed_by_daemon;
    bool send_failed;
    struct stop_deadline *deadlines; /* the channel's thread only */
    size_t deadline_count, deadline_capacity;
};

static void notify(struct control *c)
{
    uint64_t one = 1;
    ssize_t n = write(c->wake_fd, &one, sizeof(one));
    (void)n; /* a full counter already wakes the thread */
}

/* Queues one event (takes the object); never blocks on the daemon. */
static void emit(struct control *c, json_object *event)
{
    size_t length;
    const char *text = json_object_to_json_string_length(event, JSON_C_TO_STRING_PLAIN, &length);
    struct queued_event *q = malloc(sizeof(*q) + length);
    if (q) {
        q->next = NULL;
        q->length = length;
        memcpy(q->text, text, length);
        pthread_mutex_lock(&c->lock);
        if (c->tail)
            c->tail->next = q;
        else
            c->head = q;
        c->tail = q;
        pthread_mutex_unlock(&c->lock);
        notify(c);
    }
    json_object_put(event);
}

static json_object *vm_event(const char *name, uint32_t id)
{
    json_object *event = json_object_new_object();
    json_object_object_add(event, "event", json_object_new_string(name));
    json_object_object_add(event, "vm", json_object_new_int64(id));
    return event;
}

void control_vm_event(struct monitor *m, uint32_t id, const char *event)
{
    if (m->control)
        emit(m->control, vm_event(event, id));
}

void control_vm_created(struct monitor *m, const struct vm *vm)
{
    if (!m->control)
        return;
    json_object *event = vm_event("created", vm->id);
    if (vm->vregs->ipv4) {
        const uint8_t *mac = vm->vregs->mac;
        char text[INET_ADDRSTRLEN + 18];
        snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                 mac[3], mac[4], mac[5]);
        json_object_object_add(event, "mac", json_object_new_string(text));
        struct in_addr address = {.s_addr = vm->vregs->ipv4};
        inet_ntop(AF_INET, &address, text, sizeof(text));
        json_object_object_add(event, "ipv4", json_object_new_string(text));
    }
    emit(m->control, event);
}

void control_vm_ended(struct monitor *m, uint32_t id, enum vm_outcome outcome, int status,
                      const char *reason)
{
    if (!m->control)
        return;
    bool stopped = outcome == OUTCOME_STOPPED;
    json_object *event = vm_event(stopped ? "stopped" : "exited", id);
    /* Stopped by the monitor is killed, as a process would be: 137 whatever the reason. */
    json_object_object_add(event, "status",
                           json_object_new_int(stopped ? VM_STATUS_KILLED : status));
    if (stopped)
        json_object_object_add(event, "reason",
                               json_object_new_string(reason ? reason : "stopped"));
    emit(m->control, event);
}

static void reply_error(struct control *c, const char *op, int64_t id, const char *message)
{
    json_object *event = json_object_new_object();
    json_object_object_add(event, "event", json_object_new_string("error"));
    if (op)
        json_object_object_add(event, "op", json_object_new_string(op));
    if (id >= 0)
        json_object_object_add(event, "vm", json_object_new_int64(id));
    json_object_object_add(event, "message", json_object_new_string(message));
    emit(c, event);
}

static void report_stats(void *ctx, const struct vm_stats *st)
{
    struct control *c = ctx;
    json_object *event = vm_event("stats", st->id);
    json_object_object_add(event, "state", json_object_new_string(st->state));
    json_object_object_add(event, "exits", json_object_new_uint64(st->exits));
    json_object_object_add(event, "memory_bytes", json_object_new_uint64(st->memory_bytes));
    json_object_object_add(event, "rx_frames", json_object_new_uint64(st->io.rx_frames));
    json_object_object_add(event, "tx_frames", json_object_new_uint64(st->io.tx_frames));
    json_object_object_add(event, "rx_bytes", json_object_new_uint64(st->io.rx_bytes));
    json_object_object_add(event, "tx_bytes", json_object_new_uint64(st->io.tx_bytes));
    json_object_object_add(event, "disk_requests", json_object_new_uint64(st->io.disk_requests));
    json_object_object_add(event, "disk_read_bytes",
                           json_object_new_uint64(st->io.disk_read_bytes));
    json_object_object_add(event, "disk_written_bytes",
                           json_object_new_uint64(st->io.disk_written_bytes));
    emit(c, event);
}

static void add_deadline(struct control *c, uint32_t id, uint64_t at_ns)
{
    for (size_t i = 0; i < c->deadline_count; i++) {
        if (c->deadlines[i].id == id) {
            if (at_ns < c->deadlines[i].at_ns)
                c->deadlines[i].at_ns = at_ns; /* a second stop may only shorten the wait */
            return;
        }
    }
    if (c->deadline_count == c->deadline_capacity) {
        size_t capacity = c->deadline_capacity ? 2 * c->deadline_capacity : 16;
        struct stop_deadline *more = realloc(c->deadlines, capacity * sizeof(*more));
        if (!more)
            return; /* the stop still asked the guest; only the forced end is lost */
        c->deadlines = more;
        c->deadline_capacity = capacity;
    }
    c->deadlines[c->deadline_count++] = (struct stop_deadline){.id = id, .at_ns = at_ns};
}

/* Kills the VMs whose stop timeout ran out; returns ms until the next deadline (-1: none). */
static int run_deadlines(struct control *c)
{
    uint64_t now = monitor_now_ns();
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < c->deadline_count;) {
        struct stop_deadline *d = &c->deadlines[i];
        if (d->at_ns <= now) {
            char err[160];
            /* A VM that has ended meanwhile makes this fail, as it should: nothing to do. */
            (void)workers_control_vm(c->m, d->id, VM_CONTROL_KILL,
                                     "killed: it did not stop within its stop timeout", err,
                                     sizeof(err));
            c->deadlines[i] = c->deadlines[--c->deadline_count];
            continue;
        }
        if (d->at_ns < next)
            next = d->at_ns;
        i++;
    }
    if (next == UINT64_MAX)
        return -1;
    uint64_t ms = (next - now) / 1000000 + 1;
    return ms > 60000 ? 60000 : (int)ms;
}

/* Reads a non-negative integer field; false when it is missing or not one. */
static bool get_index(json_object *packet, const char *name, int64_t max, int64_t *out)
{
    json_object *value;
    if (!json_object_object_get_ex(packet, name, &value) ||
        !json_object_is_type(value, json_type_int))
        return false;
    int64_t v = json_object_get_int64(value);
    if (v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

static void handle_command(struct control *c, json_object *packet)
{
    json_object *op_value;
    if (!json_object_is_type(packet, json_type_object) ||
        !json_object_object_get_ex(packet, "op", &op_value) ||
        !json_object_is_type(op_value, json_type_string)) {
        reply_error(c, NULL, -1, "a command is an object with a string \"op\"");
        return;
    }
    const char *op = json_object_get_string(op_value);
    int64_t id = -1;
    json_object *vm_value;
    bool has_vm = json_object_object_get_ex(packet, "vm", &vm_value);
    if (has_vm && !get_index(packet, "vm", UINT32_MAX, &id)) {
        reply_error(c, op, -1, "\"vm\" must be a VM index");
        return;
    }
    char err[200] = "";
    if (strcmp(op, "stats") == 0) {
        if (workers_vm_stats(c->m, (uint32_t)(has_vm ? id : 0), !has_vm, report_stats, c, err,
                             sizeof(err)) < 0)
            reply_error(c, op, id, err);
        return;
    }
    if (!has_vm) {
        reply_error(c, op, -1, "\"vm\" is missing");
        return;
    }
    enum vm_control_op what;
    const char *reason = NULL;
    if (strcmp(op, "stop") == 0 || strcmp(op, "shutdown") == 0) {
        what = VM_CONTROL_SHUTDOWN;
    } else if (strcmp(op, "kill") == 0) {
        what = VM_CONTROL_KILL;
        reason = "killed";
    } else if (strcmp(op, "pause") == 0) {
        what = VM_CONTROL_PAUSE;
    } else if (strcmp(op, "resume") == 0) {
        what = VM_CONTROL_RESUME;
    } else {
        reply_error(c, op, id, "unknown op");
        return;
    }
    int64_t timeout_ms = 10000;
    if (strcmp(op, "stop") == 0 && json_object_object_get_ex(packet, "timeout_ms", NULL) &&
        !get_index(packet, "timeout_ms", STOP_TIMEOUT_MAX_MS, &timeout_ms)) {
        reply_error(c, op, id, "\"timeout_ms\" must be from 0 to 86400000");
        return;
    }
    if (workers_control_vm(c->m, (uint32_t)id, what, reason, err, sizeof(err)) < 0) {
        reply_error(c, op, id, err);
        return;
    }
    if (strcmp(op, "stop") == 0)
        add_deadline(c, (uint32_t)id, monitor_now_ns() + (uint64_t)timeout_ms * 1000000ull);
}

static void read_command(struct control *c, char *buffer)
{
    ssize_t n = recv(c->fd, buffer, PACKET_MAX + 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* The daemon has gone: its VMs go with it, as on SIGTERM. */
        c->closed_by_daemon = true;
        workers_request_stop(c->m, "the daemon closed its control channel");
        return;
    }
    if ((size_t)n > PACKET_MAX) {
        reply_error(c, NULL, -1, "command larger than 64 KiB");
        return;
    }
    json_tokener *tok = json_tokener_new();
    json_object *packet = tok ? json_tokener_parse_ex(tok, buffer, (int)n) : NULL;
    bool whole = tok && json_tokener_get_error(tok) == json_tokener_success &&
                 json_tokener_get_parse_end(tok) == (size_t)n;
    if (packet && whole)
        handle_command(c, packet);
    else
        reply_error(c, NULL, -1, "a command must be one JSON object");
    json_object_put(packet);
    if (tok)
        json_tokener_free(tok);
}

/* Sends every queued event; false once the daemon cannot take more. */
static bool send_queued(struct control *c)
{
    for (;;) {
        pthread_mutex_lock(&c->lock);
        struct queued_event *q = c->head;
        if (q) {
            c->head = q->next;
            if (!c->head)
                c->tail = NULL;
        }
        pthread_mutex_unlock(&c->lock);
        if (!q)
            return true;
        bool sent = c->send_failed || send(c->fd, q->text, q->length, MSG_NOSIGNAL) >= 0;
        free(q);
        if (!sent)
            c->send_failed = true; /* the rest are dropped, but still taken off the queue */
    }
}

static void *control_main(void *arg)
{
    struct control *c = arg;
    char *buffer = malloc(PACKET_MAX + 1);
    if (!buffer) {
        workers_request_stop(c->m, "the control channel is out of memory");
        return NULL;
    }
    for (;;) {
        int timeout = run_deadlines(c);
        struct pollfd fds[2] = {{.fd = c->wake_fd, .events = POLLIN},
                                {.fd = c->fd, .events = c->closed_by_daemon ? 0 : POLLIN}};
        if (poll(fds, 2, timeout) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            uint64_t count;
            ssize_t n = read(c->wake_fd, &count, sizeof(count));
            (void)n;
        }
        send_queued(c);
        if (!c->closed_by_daemon && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            read_command(c, buffer);
        pthread_mutex_lock(&c->lock);
        bool done = c->stopping && !c->head;
        pthread_mutex_unlock(&c->lock);
        if (done)
            break;
    }
    free(buffer);
    return NULL;
}

struct control *control_start(struct monitor *m, int fd, char *err, size_t errlen)
{
    int type;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
        snprintf(err, errlen, "--control-fd %d: not a SOCK_SEQPACKET socket", fd);
        return NULL;
    }
    struct control *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "--control-fd: out of memory");
        return NULL;
    }
    c->m = m;
    c->fd = fd;
    /* No VM process may inherit the daemon's channel. */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    struct timeval timeout = {.tv_sec = SEND_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&c->lock, NULL);
    if (c->wake_fd < 0 || pthread_create(&c->thread, NULL, control_main, c) != 0) {
        snprintf(err, errlen, "--control-fd: cannot start its thread: %s", strerror(errno));
        if (c->wake_fd >= 0)
            close(c->wake_fd);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    m->control = c;
    return c;
}

void control_stop(struct control *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_mutex_unlock(&c->lock);
    notify(c);
    pthread_join(c->thread, NULL);
    c->m->control = NULL;
    close(c->wake_fd);
    close(c->fd);
    pthread_mutex_destroy(&c->lock);
    free(c->deadlines);
    free(c);
}
