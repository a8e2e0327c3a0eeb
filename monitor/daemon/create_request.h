/* The body of `POST /vms` (docs/API.md, "The create body"): parsed and checked, without effects. */
#ifndef DENALI_CREATE_REQUEST_H
#define DENALI_CREATE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#define CREATE_REQUEST_MAX_COUNT   100000u
#define CREATE_REQUEST_MAX_ARGS    1024u
#define CREATE_REQUEST_MAX_PUBLISH 16u
#define CREATE_REQUEST_MAX_DISKS   8u

/*
 * Every field as `denali run` will see it: sizes stay text (an integer body value becomes its
 * decimal digits) so the run option parser is the one judge of them. NULL means "not given".
 */
struct create_request {
    char *image;
    char **args; /* arg_count strings */
    size_t arg_count;
    unsigned count;
    char *name;
    char *memory;
    char *platform; /* "auto", "kvm" or "process" */
    char *net;      /* "none", "user" or "tap" */
    char **publish; /* publish_count strings */
    size_t publish_count;
    bool clone;
    char *restore;
    char *mem_limit;
    char *swap;
    char *hibernate_after; /* seconds, as text */
    char *quantum_ms;
    char *time_limit; /* seconds, as text */
    char *workers;
    char **disks; /* disk_count strings, each PATH[,ro] */
    size_t disk_count;
    char *overlay_dir;
    bool keep_overlays;
    bool ksm;
    bool start;
};

/*
 * Parses body (length bytes, not necessarily NUL-terminated). 0 with *out filled (free it with
 * create_request_free), or -1 with one line in err: malformed JSON, a wrong type, an unknown
 * field, a missing image or a value out of range. Touches nothing but its arguments.
 */
int create_request_parse(const char *body, size_t length, struct create_request *out, char *err,
                         size_t errlen);
void create_request_free(struct create_request *request);

#endif
