/* How the API's VM and STATS objects read in tables: status wording, ports, sizes, times. */
#ifndef DENALI_CLI_VM_VIEW_H
#define DENALI_CLI_VM_VIEW_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* An RFC 3339 time ("2026-12-01T21:00:00Z", fractions and offsets allowed); -1 if not one. */
int vm_parse_time(const char *text, time_t *out);

/* A span as docker words it: "Less than a second", "5 seconds", "About a minute", "3 hours". */
void vm_format_duration(double seconds, char *out, size_t len);

/* "Up 5 minutes", "Up 2 seconds (Paused)", "Exited (0) 3 hours ago", "Stopped (137) 1 second
 * ago: killed", "Created": the STATUS column, from the VM's state and times, as of now. */
void vm_status(json_object *vm, time_t now, char *out, size_t len);

/* The states `denali ps` shows without -a: the VM is live (its memory is held somewhere). */
bool vm_state_is_live(const char *state);

/* The VM's published ports, "127.0.0.1:8080->80/tcp, ...": a rule's host port range maps to the
 * fleet's VMs in index order, so a VM has the rules whose range reaches its index. */
void vm_ports(json_object *vm, char *out, size_t len);

/* The image's file name, for a narrow column. */
const char *vm_image_name(const char *path);

/* Bytes in binary units as docker shows memory: "900B", "1.5KiB", "4MiB". */
void vm_format_bytes(uint64_t bytes, char *out, size_t len);

/* obj[key] as an unsigned integer; 0 when absent or not a number. */
uint64_t vm_json_u64(json_object *obj, const char *key);

#endif
