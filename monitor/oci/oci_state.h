/* A container's record under --root: ROOT/ID/state.json, and the stub's start FIFO beside it. */
#ifndef DENALI_OCI_STATE_H
#define DENALI_OCI_STATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define OCI_DEFAULT_ROOT "/run/denali-oci"

struct container {
    char *id;
    char *dir;     /* ROOT/ID */
    char *vm;      /* the daemon's VM id, e.g. f3.0; "" for a pod sandbox, which has none */
    char *api;     /* the daemon's socket at create time; later commands use it too */
    char *bundle;  /* absolute */
    char *created; /* RFC 3339 */
    pid_t pid;     /* the stub's; 0 before it exists */
    unsigned long long pid_start; /* its start time (clock ticks after boot), against pid reuse */
    bool started;                 /* `start` released the stub */
    json_object *annotations;
};

/* runc's rule for ids ([A-Za-z0-9_+.-]+, not . or ..), which also keeps ROOT/ID inside ROOT. */
bool container_id_is_valid(const char *id);

/*
 * The name of container id's VM. The daemon's names are [A-Za-z0-9][A-Za-z0-9_-]{0,62}, not f
 * and digits (a fleet id's form): an id that is one is used as it is. Others (such as
 * Kubernetes' 64-digit ids) keep a readable start and end with a hash of the whole id, so ids
 * that differ only past the cut differ in name too.
 */
void container_vm_name(const char *id, char name[64]);

/* ROOT/ID (malloc'd). */
char *container_dir(const char *root, const char *id);

/* Fills c from ROOT/ID/state.json. -1 with errno ENOENT when there is no such container. */
int container_load(const char *root, const char *id, struct container *c, char *err, size_t errlen);

/* Writes c->dir/state.json whole (a new file renamed over the old). */
int container_save(const struct container *c, char *err, size_t errlen);

/* Removes c->dir and what is in it. */
int container_remove(const struct container *c, char *err, size_t errlen);

void container_free(struct container *c);

/* The path of the FIFO the stub waits on until `start` (malloc'd). */
char *container_fifo_path(const struct container *c);

/* A process's start time from /proc/PID/stat, or 0 when it does not exist. */
unsigned long long process_start_time(pid_t pid);

/* Whether c's stub is alive: its pid exists and started when the stub did (not a reuse). */
bool container_stub_is_alive(const struct container *c);

#endif
