/* The daemon's fleets and VMs: their states, ids and names, under one lock. */
#ifndef DENALI_REGISTRY_H
#define DENALI_REGISTRY_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "daemon/create_request.h"
#include "daemon/event_log.h"

enum vm_state {
    VM_CREATED,
    VM_RUNNING,
    VM_PAUSED,
    VM_HIBERNATED,
    VM_EXITED,
    VM_STOPPED,
    VM_STATE_COUNT
};

struct vm_counters {
    uint64_t exits, memory_bytes, rx_frames, tx_frames, rx_bytes, tx_bytes;
};

struct fleet;

struct vm {
    struct fleet *fleet;
    unsigned index;
    enum vm_state state;
    bool deleted;
    time_t started, finished; /* 0: not yet */
    bool has_exit_status;
    int exit_status;
    char *stop_reason;
    char mac[24], ipv4[24]; /* empty until the monitor's created event */
    struct vm_counters counters;
    uint64_t stats_answers; /* counts the monitor's stats events for this VM */
    uint64_t stats_asked;   /* the answer count a stats request waits for */
    uint64_t errors;        /* counts its error events; the last message is kept */
    char *last_error;
};

struct fleet {
    struct fleet *next;
    unsigned number;
    char id[16];
    struct create_request request;
    char **run_argv; /* the child's `denali run` command line, NULL-terminated */
    char *dir;       /* STATE/fleets/ID */
    char *console_dir;
    uint64_t memory_bytes;
    const char *platform; /* what the VMs run on */
    time_t created;
    unsigned count, kept; /* VMs, and those not deleted */
    bool started, monitor_done;
    pid_t pid;
    int control_fd, pidfd; /* -1 when not running */
    struct vm *vms;
};

struct registry {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* any VM's state, stats or error; on the monotonic clock */
    struct fleet *fleets;   /* oldest first */
    unsigned last_fleet;
    struct event_log *events;
};

void registry_init(struct registry *registry, struct event_log *events);
void registry_destroy(struct registry *registry);

const char *vm_state_name(enum vm_state state);
bool vm_state_parse(const char *name, enum vm_state *out);
/* Started and not yet ended: it can be stopped, killed, paused or asked for stats. */
bool vm_is_live(const struct vm *vm);
bool vm_state_is_final(enum vm_state state);

/* The caller holds registry->lock for everything below. */

/* Whether a fleet holding a VM (not deleted) already has this name. */
bool registry_name_taken(struct registry *registry, const char *name);
/* Appends a new fleet of request->count VMs in state created; takes request's strings. NULL when
 * out of memory. The caller fills run_argv, dir, memory_bytes and platform. */
struct fleet *registry_add_fleet(struct registry *registry, struct create_request *request);
/* Records "created" events for all its VMs: once the fleet is complete. */
void registry_announce_fleet(struct registry *registry, struct fleet *fleet);
/* A VM by id (f3.0), name (count 1) or NAME.INDEX; NULL when unknown or deleted. */
struct vm *registry_find(struct registry *registry, const char *id);
void vm_id(const struct vm *vm, char *out, size_t outlen);

/* A VM's state change; records its event. A final state also records the finish time. */
void vm_set_state(struct registry *registry, struct vm *vm, enum vm_state state,
                  enum event_type event);
void vm_set_exited(struct registry *registry, struct vm *vm, int status);
void vm_set_stopped(struct registry *registry, struct vm *vm, int status, const char *reason);

/* Forgets a VM (records "deleted"); frees its fleet once none is kept and no monitor runs. */
void registry_delete_vm(struct registry *registry, struct vm *vm);
/* Frees the fleet if it holds nothing anyone can see or reach; true when it did. */
bool registry_release_fleet(struct registry *registry, struct fleet *fleet);

/* Inspect's and list's JSON for one VM (docs/API.md, "VM"). */
json_object *vm_to_json(const struct vm *vm);
/* The STATS JSON for one VM. */
json_object *vm_stats_to_json(const struct vm *vm);

/* Waits on registry->changed until the deadline (CLOCK_MONOTONIC); false when it passed. */
bool registry_wait(struct registry *registry, const struct timespec *deadline);
void registry_deadline_in(struct timespec *deadline, unsigned ms);

#endif
