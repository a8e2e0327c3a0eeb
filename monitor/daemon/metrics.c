/* GET /metrics: the daemon's VMs, fleets, requests and events in the Prometheus text format
 * (version 0.0.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_call.h"

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A per-VM family: one sample per VM the daemon still knows. */
static void per_vm(FILE *out, struct registry *registry, const char *name, const char *type,
                   const char *help, size_t counter_offset)
{
    family(out, name, type, help);
    char id[64];
    for (struct fleet *f = registry->fleets; f; f = f->next) {
        for (unsigned i = 0; i < f->count; i++) {
            const struct vm *vm = &f->vms[i];
            if (vm->deleted)
                continue;
            uint64_t value;
            memcpy(&value, (const char *)&vm->counters + counter_offset, sizeof(value));
            vm_id(vm, id, sizeof(id));
            fprintf(out, "%s{id=\"%s\"} %llu\n", name, id, (unsigned long long)value);
        }
    }
}

static void render(FILE *out, struct daemon *daemon)
{
    struct registry *registry = &daemon->registry;
    unsigned by_state[VM_STATE_COUNT] = {0}, fleets = 0;
    for (struct fleet *f = registry->fleets; f; f = f->next) {
        if (!f->kept)
            continue;
        fleets++;
        for (unsigned i = 0; i < f->count; i++)
            if (!f->vms[i].deleted)
                by_state[f->vms[i].state]++;
    }
    family(out, "denali_vms", "gauge", "VMs the daemon knows, by state.");
    for (unsigned s = 0; s < VM_STATE_COUNT; s++)
        fprintf(out, "denali_vms{state=\"%s\"} %u\n", vm_state_name(s), by_state[s]);
    family(out, "denali_fleets", "gauge", "Fleets holding at least one VM.");
    fprintf(out, "denali_fleets %u\n", fleets);
    per_vm(out, registry, "denali_vm_exits_total", "counter",
           "Exits of the VM to its monitor, as last reported.",
           offsetof(struct vm_counters, exits));
    per_vm(out, registry, "denali_vm_memory_bytes", "gauge",
           "Host memory the VM's guest RAM holds, as last reported.",
           offsetof(struct vm_counters, memory_bytes));
    per_vm(out, registry, "denali_vm_rx_frames_total", "counter",
           "Frames the VM received, as last reported.", offsetof(struct vm_counters, rx_frames));
    per_vm(out, registry, "denali_vm_tx_frames_total", "counter",
           "Frames the VM sent, as last reported.", offsetof(struct vm_counters, tx_frames));
    family(out, "denali_api_requests_total", "counter", "API requests answered, by status code.");
    for (unsigned code = 0; code < DAEMON_STATUS_CODES; code++) {
        uint64_t count = atomic_load(&daemon->responses[code]);
        if (count)
            fprintf(out, "denali_api_requests_total{code=\"%u\"} %llu\n", code,
                    (unsigned long long)count);
    }
    uint64_t totals[EVENT_TYPE_COUNT];
    event_log_totals(&daemon->events, totals);
    family(out, "denali_events_total", "counter", "Events recorded, by type.");
    for (unsigned t = 0; t < EVENT_TYPE_COUNT; t++)
        fprintf(out, "denali_events_total{type=\"%s\"} %llu\n", event_type_name(t),
                (unsigned long long)totals[t]);
}

enum MHD_Result api_metrics(struct api_call *call)
{
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    if (!out)
        return api_reply_error(call, 500, "out of memory");
    pthread_mutex_lock(&call->daemon->registry.lock);
    api_refresh_stats(call->daemon, NULL);
    render(out, call->daemon);
    pthread_mutex_unlock(&call->daemon->registry.lock);
    if (fclose(out) != 0) {
        free(text);
        return api_reply_error(call, 500, "out of memory");
    }
    struct MHD_Response *response =
        MHD_create_response_from_buffer(length, text, MHD_RESPMEM_MUST_FREE);
    if (!response) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    return api_reply(call, 200, response);
}
