/* The endpoints on VMs: create, list, inspect, delete, start, stop, kill, pause, resume, stats. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_call.h"
#include "daemon/fleet.h"

/* How long an answer from a monitor is worth waiting for (pause, resume, stats). */
#define ANSWER_WAIT_MS         5000u
#define STATS_WAIT_MS          1000u
#define STOP_TIMEOUT_DEFAULT_S 10

enum MHD_Result api_create(struct api_call *call)
{
    struct create_request request;
    char err[768];
    if (create_request_parse(call->body, call->body_length, &request, err, sizeof(err)) < 0)
        return api_reply_error(call, 400, "%s", err);
    struct registry *registry = &call->daemon->registry;
    pthread_mutex_lock(&registry->lock);
    int status;
    struct fleet *fleet = fleet_create(call->daemon, &request, &status, err, sizeof(err));
    if (!fleet) {
        pthread_mutex_unlock(&registry->lock);
        create_request_free(&request);
        return api_reply_error(call, (unsigned)status, "%s", err);
    }
    /* A fleet that cannot start still exists: its VMs say why in their stop reason. */
    if (fleet->request.start)
        fleet_start(call->daemon, fleet, err, sizeof(err));
    json_object *body = json_object_new_object();
    json_object_object_add(body, "fleet", json_object_new_string(fleet->id));
    json_object *ids = json_object_new_array_ext((int)fleet->count);
    char id[64];
    for (unsigned i = 0; i < fleet->count; i++) {
        vm_id(&fleet->vms[i], id, sizeof(id));
        json_object_array_add(ids, json_object_new_string(id));
    }
    json_object_object_add(body, "ids", ids);
    pthread_mutex_unlock(&registry->lock);
    return api_reply_json(call, 201, body);
}

enum MHD_Result api_list(struct api_call *call)
{
    const char *fleet_filter = api_query(call, "fleet");
    const char *state_text = api_query(call, "state");
    enum vm_state state_filter = VM_CREATED;
    if (state_text && !vm_state_parse(state_text, &state_filter))
        return api_reply_error(call, 400, "state: no state '%s'", state_text);
    struct registry *registry = &call->daemon->registry;
    json_object *list = json_object_new_array();
    pthread_mutex_lock(&registry->lock);
    for (struct fleet *f = registry->fleets; f; f = f->next) {
        if (fleet_filter && strcmp(fleet_filter, f->id) != 0 &&
            !(f->request.name && strcmp(fleet_filter, f->request.name) == 0))
            continue;
        for (unsigned i = 0; i < f->count; i++) {
            const struct vm *vm = &f->vms[i];
            if (vm->deleted || (state_text && vm->state != state_filter))
                continue;
            json_object_array_add(list, vm_to_json(vm));
        }
    }
    pthread_mutex_unlock(&registry->lock);
    return api_reply_json(call, 200, list);
}

/* Locks the registry and finds the call's VM; on NULL the lock is released and a 404 queued. */
static struct vm *lock_vm(struct api_call *call, enum MHD_Result *reply)
{
    pthread_mutex_lock(&call->daemon->registry.lock);
    struct vm *vm = registry_find(&call->daemon->registry, call->id);
    if (!vm) {
        pthread_mutex_unlock(&call->daemon->registry.lock);
        *reply = api_reply_error(call, 404, "no VM '%s'", call->id);
    }
    return vm;
}

static void unlock(struct api_call *call)
{
    pthread_mutex_unlock(&call->daemon->registry.lock);
}

enum MHD_Result api_inspect(struct api_call *call)
{
    enum MHD_Result reply;
    struct vm *vm = lock_vm(call, &reply);
    if (!vm)
        return reply;
    json_object *body = vm_to_json(vm);
    unlock(call);
    return api_reply_json(call, 200, body);
}

/* The JSON object of an optional body: {} when empty; NULL (400 queued) when not an object or
 * when it has a member other than the one allowed. */
static json_object *small_body(struct api_call *call, const char *allowed, enum MHD_Result *reply)
{
    size_t start = strspn(call->body, " \t\r\n");
    if (start == call->body_length)
        return json_object_new_object();
    json_tokener *tokener = json_tokener_new();
    json_tokener_set_flags(tokener, JSON_TOKENER_STRICT);
    json_object *body = json_tokener_parse_ex(tokener, call->body, (int)call->body_length);
    size_t end = json_tokener_get_parse_end(tokener);
    json_tokener_free(tokener);
    if (!body || !json_object_is_type(body, json_type_object) ||
        strspn(call->body + end, " \t\r\n") != call->body_length - end) {
        json_object_put(body);
        *reply = api_reply_error(call, 400,
                                 "malformed JSON: expected an object such as "
                                 "{\"%s\": ...}",
                                 allowed);
        return NULL;
    }
    json_object_object_foreach(body, key, value)
    {
        (void)value;
        if (strcmp(key, allowed) != 0) {
            *reply = api_reply_error(call, 400, "unknown field '%s'", key);
            json_object_put(body);
            return NULL;
        }
    }
    return body;
}

enum MHD_Result api_delete(struct api_call *call)
{
    bool force = false;
    enum MHD_Result reply;
    if (api_query_bool(call, "force", &force, &reply) < 0)
        return reply;
    struct vm *vm = lock_vm(call, &reply);
    if (!vm)
        return reply;
    if (vm_is_live(vm)) {
        if (!force) {
            unlock(call);
            return api_reply_error(call, 409, "%s is %s: stop it first, or ?force=true", call->id,
                                   vm_state_name(vm->state));
        }
        fleet_send(vm->fleet, "kill", vm->index, NULL);
    }
    registry_delete_vm(&call->daemon->registry, vm);
    unlock(call);
    return api_reply_empty(call, 204);
}

enum MHD_Result api_start(struct api_call *call)
{
    enum MHD_Result reply;
    struct vm *vm = lock_vm(call, &reply);
    if (!vm)
        return reply;
    struct fleet *fleet = vm->fleet;
    if (vm->state != VM_CREATED || fleet->started) {
        unlock(call);
        return api_reply_error(call, 409, "%s is %s: only a created VM's fleet can start", call->id,
                               fleet->started ? "already started" : "not created");
    }
    char err[512];
    if (fleet_start(call->daemon, fleet, err, sizeof(err)) < 0) {
        unlock(call);
        return api_reply_error(call, 500, "%s", err);
    }
    unlock(call);
    return api_reply_empty(call, 204);
}

static enum MHD_Result not_live(struct api_call *call, const struct vm *vm)
{
    enum MHD_Result reply =
        api_reply_error(call, 409, "%s is %s, not live", call->id, vm_state_name(vm->state));
    unlock(call);
    return reply;
}

static enum MHD_Result channel_failed(struct api_call *call)
{
    unlock(call);
    return api_reply_error(call, 500, "the fleet's monitor does not take commands: %s",
                           strerror(errno));
}

enum MHD_Result api_stop(struct api_call *call)
{
    enum MHD_Result reply;
    json_object *body = small_body(call, "timeout", &reply);
    if (!body)
        return reply;
    json_object *timeout_value;
    double timeout = STOP_TIMEOUT_DEFAULT_S;
    if (json_object_object_get_ex(body, "timeout", &timeout_value)) {
        bool number = json_object_is_type(timeout_value, json_type_int) ||
                      json_object_is_type(timeout_value, json_type_double);
        timeout = number ? json_object_get_double(timeout_value) : -1;
        if (!number || !(timeout >= 0 && timeout <= 86400)) {
            json_object_put(body);
            return api_reply_error(call, 400, "timeout: expected seconds from 0 to 86400");
        }
    }
    json_object_put(body);
    struct vm *vm = lock_vm(call, &reply);
    if (!vm)
        return reply;
    if (!vm_is_live(vm))
        return not_live(call, vm);
    json_object *extra = json_object_new_object();
    json_object_object_add(extra, "timeout_ms", json_object_new_int64((int64_t)(timeout * 1000)));
    int sent = fleet_send(vm->fleet, "stop", vm->index, extra);
    json_object_put(extra);
    if (sent < 0)
        return channel_failed(call);
    unlock(call);
    return api_reply_empty(call, 202);
}

/* The signals a kill request may name; all but SIGKILL ask the guest to shut down. */
static bool known_signal(const char *name)
{
    static const char *const names[] = {"SIGKILL", "SIGTERM", "SIGINT",  "SIGHUP",
                                        "SIGQUIT", "SIGUSR1", "SIGUSR2", NULL};
    for (size_t i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

enum MHD_Result api_kill(struct api_call *call)
{
    enum MHD_Result reply;
    json_object *body = small_body(call, "signal", &reply);
    if (!body)
        return reply;
    json_object *signal_value;
    char signal[16] = "SIGKILL";
    if (json_object_object_get_ex(body, "signal", &signal_value)) {
        const char *name = json_object_is_type(signal_value, json_type_string)
                               ? json_object_get_string(signal_value)
                               : "";
        if (!known_signal(name)) {
            json_object_put(body);
            return api_reply_error(call, 400,
                                   "signal: expected SIGKILL, SIGTERM, SIGINT, SIGHUP, SIGQUIT, "
                                   "SIGUSR1 or SIGUSR2");
        }
        snprintf(signal, sizeof(signal), "%s", name);
    }
    json_object_put(body);
    struct vm *vm = lock_vm(call, &reply);
    if (!vm)
        return reply;
    if (!vm_is_live(vm))
        return not_live(call, vm);
    const char *op = strcmp(signal, "SIGKILL") == 0 ? "kill" : "shutdown";
    if (fleet_send(vm->fleet, op, vm->index, NULL) < 0)
        return channel_failed(call);
    unlock(call);
    return api_reply_empty(call, 202);
}

/* Pause and resume: sends op and waits for the monitor's answer (a state change or an error). */
static enum MHD_Result pause_or_resume(struct api_call *call, const char *op, enum vm_state from,
                                       enum vm_state to)
{
    enum MHD_Result reply;
    struct vm *vm = lock_vm(call, &reply);
    if (!vm)
        return reply;
    if (vm->state != from || !vm_is_live(vm)) {
        reply = api_reply_error(call, 409, "%s is %s: only a %s VM can be %s", call->id,
                                vm_state_name(vm->state), vm_state_name(from),
                                strcmp(op, "pause") == 0 ? "paused" : "resumed");
        unlock(call);
        return reply;
    }
    uint64_t errors = vm->errors;
    if (fleet_send(vm->fleet, op, vm->index, NULL) < 0)
        return channel_failed(call);
    struct timespec deadline;
    registry_deadline_in(&deadline, ANSWER_WAIT_MS);
    for (;;) {
        /* The VM may be deleted while the lock is released: find it again after every wait. */
        vm = registry_find(&call->daemon->registry, call->id);
        if (!vm) {
            reply = api_reply_error(call, 409, "%s was deleted", call->id);
            break;
        }
        if (vm->state == to) {
            reply = api_reply_empty(call, 204);
            break;
        }
        if (vm->errors != errors || vm_state_is_final(vm->state)) {
            reply = api_reply_error(call, 409, "%s: %s", call->id,
                                    vm->errors != errors && vm->last_error ? vm->last_error
                                                                           : "it has ended");
            break;
        }
        if (!registry_wait(&call->daemon->registry, &deadline)) {
            reply = api_reply_error(call, 500, "the fleet's monitor did not answer %s in %u ms", op,
                                    ANSWER_WAIT_MS);
            break;
        }
    }
    unlock(call);
    return reply;
}

enum MHD_Result api_pause(struct api_call *call)
{
    return pause_or_resume(call, "pause", VM_RUNNING, VM_PAUSED);
}

enum MHD_Result api_resume(struct api_call *call)
{
    return pause_or_resume(call, "resume", VM_PAUSED, VM_RUNNING);
}

static bool answer_pending(const struct vm *vm)
{
    return vm_is_live(vm) && vm->stats_answers < vm->stats_asked;
}

static bool answers_pending(struct registry *registry, const char *id)
{
    if (id) {
        struct vm *vm = registry_find(registry, id);
        return vm && answer_pending(vm);
    }
    for (struct fleet *f = registry->fleets; f; f = f->next)
        for (unsigned i = 0; i < f->count; i++)
            if (answer_pending(&f->vms[i]))
                return true;
    return false;
}

/* Asks for stats; each VM asked waits for one more answer than it has had. */
static bool ask_stats(struct registry *registry, const char *id)
{
    if (id) {
        struct vm *vm = registry_find(registry, id);
        if (!vm || !vm_is_live(vm) || fleet_send(vm->fleet, "stats", vm->index, NULL) < 0)
            return false;
        vm->stats_asked = vm->stats_answers + 1;
        return true;
    }
    bool asked = false;
    for (struct fleet *f = registry->fleets; f; f = f->next) {
        if (!f->started || f->monitor_done || fleet_send(f, "stats", -1, NULL) < 0)
            continue;
        for (unsigned i = 0; i < f->count; i++)
            if (vm_is_live(&f->vms[i]))
                f->vms[i].stats_asked = f->vms[i].stats_answers + 1;
        asked = true;
    }
    return asked;
}

void api_refresh_stats(struct daemon *daemon, const char *id)
{
    struct registry *registry = &daemon->registry;
    if (!ask_stats(registry, id))
        return;
    /* The lock is released while waiting; VMs are found again after each wake. */
    struct timespec deadline;
    registry_deadline_in(&deadline, STATS_WAIT_MS);
    while (answers_pending(registry, id) && registry_wait(registry, &deadline))
        ;
}

enum MHD_Result api_vm_stats(struct api_call *call)
{
    enum MHD_Result reply;
    struct vm *vm = lock_vm(call, &reply);
    if (!vm)
        return reply;
    api_refresh_stats(call->daemon, call->id);
    vm = registry_find(&call->daemon->registry, call->id);
    if (!vm) {
        unlock(call);
        return api_reply_error(call, 404, "no VM '%s'", call->id);
    }
    json_object *body = vm_stats_to_json(vm);
    unlock(call);
    return api_reply_json(call, 200, body);
}

/* Every live VM's STATS; the caller holds the registry lock. */
json_object *api_live_stats(struct daemon *daemon)
{
    json_object *list = json_object_new_array();
    for (struct fleet *f = daemon->registry.fleets; f; f = f->next)
        for (unsigned i = 0; i < f->count; i++)
            if (!f->vms[i].deleted && vm_is_live(&f->vms[i]))
                json_object_array_add(list, vm_stats_to_json(&f->vms[i]));
    return list;
}

enum MHD_Result api_all_stats(struct api_call *call)
{
    bool stream = false;
    enum MHD_Result reply;
    if (api_query_bool(call, "stream", &stream, &reply) < 0)
        return reply;
    if (stream)
        return api_stats_stream(call);
    pthread_mutex_lock(&call->daemon->registry.lock);
    api_refresh_stats(call->daemon, NULL);
    json_object *list = api_live_stats(call->daemon);
    unlock(call);
    return api_reply_json(call, 200, list);
}
