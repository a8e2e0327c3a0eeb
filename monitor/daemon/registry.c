/* The daemon's fleets and VMs: their states, ids and names, under one lock. */
#include "daemon/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fleet_files.h"
#include "daemon/rfc3339.h"

static const char *const state_names[VM_STATE_COUNT] = {
    [VM_CREATED] = "created",       [VM_RUNNING] = "running", [VM_PAUSED] = "paused",
    [VM_HIBERNATED] = "hibernated", [VM_EXITED] = "exited",   [VM_STOPPED] = "stopped",
};

void registry_init(struct registry *registry, struct event_log *events)
{
    memset(registry, 0, sizeof(*registry));
    registry->events = events;
    pthread_mutex_init(&registry->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&registry->changed, &attr);
    pthread_condattr_destroy(&attr);
}

static void free_fleet(struct fleet *fleet)
{
    for (unsigned i = 0; i < fleet->count; i++) {
        free(fleet->vms[i].stop_reason);
        free(fleet->vms[i].last_error);
    }
    free(fleet->vms);
    for (size_t i = 0; fleet->run_argv && fleet->run_argv[i]; i++)
        free(fleet->run_argv[i]);
    free(fleet->run_argv);
    free(fleet->dir);
    free(fleet->console_dir);
    create_request_free(&fleet->request);
    free(fleet);
}

void registry_destroy(struct registry *registry)
{
    while (registry->fleets) {
        struct fleet *next = registry->fleets->next;
        free_fleet(registry->fleets);
        registry->fleets = next;
    }
    pthread_cond_destroy(&registry->changed);
    pthread_mutex_destroy(&registry->lock);
}

const char *vm_state_name(enum vm_state state)
{
    return state < VM_STATE_COUNT ? state_names[state] : "unknown";
}

bool vm_state_parse(const char *name, enum vm_state *out)
{
    for (unsigned i = 0; i < VM_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum vm_state)i;
            return true;
        }
    }
    return false;
}

bool vm_state_is_final(enum vm_state state)
{
    return state == VM_EXITED || state == VM_STOPPED;
}

bool vm_is_live(const struct vm *vm)
{
    return vm->fleet->started && !vm->fleet->monitor_done && !vm_state_is_final(vm->state);
}

bool registry_name_taken(struct registry *registry, const char *name)
{
    for (struct fleet *f = registry->fleets; f; f = f->next)
        if (f->kept && f->request.name && strcmp(f->request.name, name) == 0)
            return true;
    return false;
}

struct fleet *registry_add_fleet(struct registry *registry, struct create_request *request)
{
    struct fleet *fleet = calloc(1, sizeof(*fleet));
    struct vm *vms = calloc(request->count, sizeof(*vms));
    if (!fleet || !vms) {
        free(fleet);
        free(vms);
        return NULL;
    }
    fleet->number = ++registry->last_fleet;
    snprintf(fleet->id, sizeof(fleet->id), "f%u", fleet->number);
    fleet->request = *request;
    *request = (struct create_request){0};
    fleet->count = fleet->kept = fleet->request.count;
    fleet->created = time(NULL);
    fleet->control_fd = fleet->pidfd = -1;
    fleet->vms = vms;
    for (unsigned i = 0; i < fleet->count; i++) {
        vms[i].fleet = fleet;
        vms[i].index = i;
        vms[i].state = VM_CREATED;
    }
    struct fleet **tail = &registry->fleets;
    while (*tail)
        tail = &(*tail)->next;
    *tail = fleet;
    return fleet;
}

void registry_announce_fleet(struct registry *registry, struct fleet *fleet)
{
    char id[64];
    for (unsigned i = 0; i < fleet->count; i++) {
        vm_id(&fleet->vms[i], id, sizeof(id));
        event_log_add(registry->events, EVENT_CREATED, id, false, 0, NULL);
    }
}

void vm_id(const struct vm *vm, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s.%u", vm->fleet->id, vm->index);
}

/* Parses all of text as a decimal number without sign or leading zeros (so ids are canonical). */
static bool parse_index(const char *text, unsigned long *out)
{
    if (text[0] < '0' || text[0] > '9' || (text[0] == '0' && text[1]))
        return false;
    errno = 0;
    char *end;
    *out = strtoul(text, &end, 10);
    return !errno && !*end;
}

static struct vm *kept_vm(struct fleet *fleet, unsigned long index)
{
    if (index >= fleet->count || fleet->vms[index].deleted)
        return NULL;
    return &fleet->vms[index];
}

struct vm *registry_find(struct registry *registry, const char *id)
{
    const char *dot = strrchr(id, '.');
    unsigned long index = 0;
    bool has_index = dot && parse_index(dot + 1, &index);
    size_t stem = has_index ? (size_t)(dot - id) : strlen(id);
    for (struct fleet *f = registry->fleets; f; f = f->next) {
        if (!f->kept)
            continue;
        if (has_index && strlen(f->id) == stem && strncmp(f->id, id, stem) == 0)
            return kept_vm(f, index);
        const char *name = f->request.name;
        if (!name)
            continue;
        if (f->count == 1 && strcmp(name, id) == 0)
            return kept_vm(f, 0);
        if (f->count > 1 && has_index && strlen(name) == stem && strncmp(name, id, stem) == 0)
            return kept_vm(f, index);
    }
    return NULL;
}

void vm_set_state(struct registry *registry, struct vm *vm, enum vm_state state,
                  enum event_type event)
{
    if (vm_state_is_final(vm->state))
        return;
    vm->state = state;
    if (state == VM_RUNNING && !vm->started)
        vm->started = time(NULL);
    if (vm_state_is_final(state))
        vm->finished = time(NULL);
    pthread_cond_broadcast(&registry->changed);
    if (vm->deleted)
        return;
    char id[64];
    vm_id(vm, id, sizeof(id));
    event_log_add(registry->events, event, id, vm_state_is_final(state) && vm->has_exit_status,
                  vm->exit_status, state == VM_STOPPED ? vm->stop_reason : NULL);
}

void vm_set_exited(struct registry *registry, struct vm *vm, int status)
{
    if (vm_state_is_final(vm->state))
        return;
    vm->has_exit_status = true;
    vm->exit_status = status;
    vm_set_state(registry, vm, VM_EXITED, EVENT_EXITED);
}

void vm_set_stopped(struct registry *registry, struct vm *vm, int status, const char *reason)
{
    if (vm_state_is_final(vm->state))
        return;
    vm->has_exit_status = status >= 0;
    vm->exit_status = status;
    free(vm->stop_reason);
    vm->stop_reason = strdup(reason ? reason : "stopped");
    vm_set_state(registry, vm, VM_STOPPED, EVENT_STOPPED);
}

void registry_delete_vm(struct registry *registry, struct vm *vm)
{
    char id[64];
    vm_id(vm, id, sizeof(id));
    vm->deleted = true;
    vm->fleet->kept--;
    event_log_add(registry->events, EVENT_DELETED, id, false, 0, NULL);
    pthread_cond_broadcast(&registry->changed);
    registry_release_fleet(registry, vm->fleet);
}

bool registry_release_fleet(struct registry *registry, struct fleet *fleet)
{
    /* A running monitor's fleet stays until the control loop has reaped it. */
    if (fleet->kept || (fleet->started && !fleet->monitor_done))
        return false;
    for (struct fleet **link = &registry->fleets; *link; link = &(*link)->next) {
        if (*link == fleet) {
            *link = fleet->next;
            fleet_files_remove(fleet->dir, fleet->console_dir);
            free_fleet(fleet);
            return true;
        }
    }
    return false;
}

static json_object *time_or_null(time_t when)
{
    if (!when)
        return NULL;
    char text[40];
    rfc3339_format(when, text, sizeof(text));
    return json_object_new_string(text);
}

static json_object *string_array(char **strings, size_t count)
{
    json_object *array = json_object_new_array();
    for (size_t i = 0; i < count; i++)
        json_object_array_add(array, json_object_new_string(strings[i]));
    return array;
}

static json_object *string_or_null(const char *text)
{
    return text && text[0] ? json_object_new_string(text) : NULL;
}

static json_object *vm_name(const struct vm *vm)
{
    const char *name = vm->fleet->request.name;
    if (!name)
        return NULL;
    if (vm->fleet->count == 1)
        return json_object_new_string(name);
    char text[96];
    snprintf(text, sizeof(text), "%s.%u", name, vm->index);
    return json_object_new_string(text);
}

json_object *vm_to_json(const struct vm *vm)
{
    const struct fleet *fleet = vm->fleet;
    const struct create_request *request = &fleet->request;
    char id[64];
    vm_id(vm, id, sizeof(id));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "name", vm_name(vm));
    json_object_object_add(o, "fleet", json_object_new_string(fleet->id));
    json_object_object_add(o, "index", json_object_new_int64(vm->index));
    json_object_object_add(o, "image",
                           string_or_null(request->image ? request->image : request->restore));
    json_object_object_add(o, "args", string_array(request->args, request->arg_count));
    json_object_object_add(o, "state", json_object_new_string(vm_state_name(vm->state)));
    json_object_object_add(o, "platform", json_object_new_string(fleet->platform));
    json_object_object_add(o, "memory", json_object_new_int64((int64_t)fleet->memory_bytes));
    json_object_object_add(o, "created", time_or_null(fleet->created));
    json_object_object_add(o, "started", time_or_null(vm->started));
    json_object_object_add(o, "finished", time_or_null(vm->finished));
    json_object_object_add(o, "exit_status",
                           vm->has_exit_status ? json_object_new_int(vm->exit_status) : NULL);
    json_object_object_add(o, "stop_reason", string_or_null(vm->stop_reason));
    json_object *network = json_object_new_object();
    json_object_object_add(network, "mode",
                           json_object_new_string(request->net ? request->net : "none"));
    json_object_object_add(network, "mac", string_or_null(vm->mac));
    json_object_object_add(network, "ipv4", string_or_null(vm->ipv4));
    json_object_object_add(network, "publish",
                           string_array(request->publish, request->publish_count));
    json_object_object_add(o, "network", network);
    json_object *counters = json_object_new_object();
    json_object_object_add(counters, "exits", json_object_new_uint64(vm->counters.exits));
    json_object_object_add(counters, "memory_bytes",
                           json_object_new_uint64(vm->counters.memory_bytes));
    json_object_object_add(counters, "rx_frames", json_object_new_uint64(vm->counters.rx_frames));
    json_object_object_add(counters, "tx_frames", json_object_new_uint64(vm->counters.tx_frames));
    json_object_object_add(o, "counters", counters);
    return o;
}

json_object *vm_stats_to_json(const struct vm *vm)
{
    char id[64], now[40];
    vm_id(vm, id, sizeof(id));
    rfc3339_now(now, sizeof(now));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "state", json_object_new_string(vm_state_name(vm->state)));
    json_object_object_add(o, "exits", json_object_new_uint64(vm->counters.exits));
    json_object_object_add(o, "memory_bytes", json_object_new_uint64(vm->counters.memory_bytes));
    json_object_object_add(o, "rx_frames", json_object_new_uint64(vm->counters.rx_frames));
    json_object_object_add(o, "tx_frames", json_object_new_uint64(vm->counters.tx_frames));
    json_object_object_add(o, "rx_bytes", json_object_new_uint64(vm->counters.rx_bytes));
    json_object_object_add(o, "tx_bytes", json_object_new_uint64(vm->counters.tx_bytes));
    json_object_object_add(o, "time", json_object_new_string(now));
    return o;
}

bool registry_wait(struct registry *registry, const struct timespec *deadline)
{
    return pthread_cond_timedwait(&registry->changed, &registry->lock, deadline) != ETIMEDOUT;
}

void registry_deadline_in(struct timespec *deadline, unsigned ms)
{
    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += ms / 1000;
    deadline->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000L;
    }
}
