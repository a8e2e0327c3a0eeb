/* The body of `POST /vms` (docs/API.md, "The create body"): parsed and checked, without effects. */
#include "daemon/create_request.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/vm_name.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A copy of a JSON string; NULL (with err) when it is not one, is empty (unless allow_empty) or
 * holds a NUL byte, which no command-line argument can carry. */
static char *take_text(json_object *value, const char *field, bool allow_empty, char *err,
                       size_t errlen)
{
    if (!json_object_is_type(value, json_type_string)) {
        fail(err, errlen, "%s: expected a string", field);
        return NULL;
    }
    const char *text = json_object_get_string(value);
    size_t length = (size_t)json_object_get_string_len(value);
    if ((length == 0 && !allow_empty) || strlen(text) != length) {
        fail(err, errlen, "%s: expected a non-empty string without NUL bytes", field);
        return NULL;
    }
    char *copy = strdup(text);
    if (!copy)
        fail(err, errlen, "%s: out of memory", field);
    return copy;
}

static char *take_string(json_object *value, const char *field, char *err, size_t errlen)
{
    return take_text(value, field, false, err, errlen);
}

static int take_string_array(json_object *value, const char *field, size_t max, bool allow_empty,
                             char ***out, size_t *count, char *err, size_t errlen)
{
    if (!json_object_is_type(value, json_type_array))
        return fail(err, errlen, "%s: expected an array of strings", field);
    size_t length = json_object_array_length(value);
    if (length > max)
        return fail(err, errlen, "%s: at most %zu entries", field, max);
    *out = calloc(length + 1, sizeof(**out));
    if (!*out)
        return fail(err, errlen, "%s: out of memory", field);
    for (size_t i = 0; i < length; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s[%zu]", field, i);
        (*out)[i] = take_text(json_object_array_get_idx(value, i), name, allow_empty, err, errlen);
        if (!(*out)[i])
            return -1;
        (*count)++;
    }
    return 0;
}

/* An integer in [min, max] as decimal text. json-c keeps integers as int64; a fraction is a
 * double and refused here, as is a number too large for int64. */
static char *take_integer(json_object *value, const char *field, int64_t min, int64_t max,
                          char *err, size_t errlen)
{
    if (!json_object_is_type(value, json_type_int)) {
        fail(err, errlen, "%s: expected an integer", field);
        return NULL;
    }
    errno = 0;
    int64_t number = json_object_get_int64(value);
    if (errno || number < min || number > max) {
        fail(err, errlen, "%s: expected an integer from %" PRId64 " to %" PRId64, field, min, max);
        return NULL;
    }
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, number);
    return strdup(text);
}

/* Seconds: any positive finite number, as text the run option parser reads back exactly. */
static char *take_seconds(json_object *value, const char *field, char *err, size_t errlen)
{
    if (!json_object_is_type(value, json_type_int) &&
        !json_object_is_type(value, json_type_double)) {
        fail(err, errlen, "%s: expected a number of seconds", field);
        return NULL;
    }
    double seconds = json_object_get_double(value);
    if (!isfinite(seconds) || seconds <= 0) {
        fail(err, errlen, "%s: expected a positive number of seconds", field);
        return NULL;
    }
    char text[64];
    snprintf(text, sizeof(text), "%.17g", seconds);
    return strdup(text);
}

/* A size: an integer number of bytes, or a string such as "4M" left to the run option parser. */
static char *take_size(json_object *value, const char *field, char *err, size_t errlen)
{
    if (json_object_is_type(value, json_type_string))
        return take_string(value, field, err, errlen);
    if (json_object_is_type(value, json_type_int))
        return take_integer(value, field, 1, INT64_MAX, err, errlen);
    fail(err, errlen, "%s: expected an integer number of bytes or a size string such as \"4M\"",
         field);
    return NULL;
}

static int take_bool(json_object *value, const char *field, bool *out, char *err, size_t errlen)
{
    if (!json_object_is_type(value, json_type_boolean))
        return fail(err, errlen, "%s: expected true or false", field);
    *out = json_object_get_boolean(value);
    return 0;
}

static char *take_choice(json_object *value, const char *field, const char *const *choices,
                         char *err, size_t errlen)
{
    char *text = take_string(value, field, err, errlen);
    if (!text)
        return NULL;
    for (size_t i = 0; choices[i]; i++)
        if (strcmp(text, choices[i]) == 0)
            return text;
    fail(err, errlen, "%s: expected one of %s, %s, %s; got '%s'", field, choices[0], choices[1],
         choices[2], text);
    free(text);
    return NULL;
}

static const char *const platforms[] = {"auto", "kvm", "process", NULL};
static const char *const nets[] = {"none", "user", "tap", NULL};

/* One field of the body into out; -1 with err for a bad value or an unknown field. */
static int take_field(const char *key, json_object *value, struct create_request *out, char *err,
                      size_t errlen)
{
    char *text = NULL;
    char **slot = NULL;
    if (strcmp(key, "image") == 0) {
        slot = &out->image;
        text = take_string(value, key, err, errlen);
    } else if (strcmp(key, "args") == 0) {
        return take_string_array(value, key, CREATE_REQUEST_MAX_ARGS, true, &out->args,
                                 &out->arg_count, err, errlen);
    } else if (strcmp(key, "count") == 0) {
        text = take_integer(value, key, 1, CREATE_REQUEST_MAX_COUNT, err, errlen);
        if (!text)
            return -1;
        out->count = (unsigned)strtoul(text, NULL, 10);
        free(text);
        return 0;
    } else if (strcmp(key, "name") == 0) {
        slot = &out->name;
        text = take_string(value, key, err, errlen);
        if (text && !vm_name_valid(text)) {
            if (vm_name_is_fleet_id(text))
                fail(err, errlen, "name: '%s' looks like a fleet id", text);
            else
                fail(err, errlen, "name: '%s' is not [A-Za-z0-9][A-Za-z0-9_-]{0,62}", text);
            free(text);
            return -1;
        }
    } else if (strcmp(key, "memory") == 0) {
        slot = &out->memory;
        text = take_size(value, key, err, errlen);
    } else if (strcmp(key, "platform") == 0) {
        slot = &out->platform;
        text = take_choice(value, key, platforms, err, errlen);
    } else if (strcmp(key, "net") == 0) {
        slot = &out->net;
        text = take_choice(value, key, nets, err, errlen);
    } else if (strcmp(key, "publish") == 0) {
        return take_string_array(value, key, CREATE_REQUEST_MAX_PUBLISH, false, &out->publish,
                                 &out->publish_count, err, errlen);
    } else if (strcmp(key, "disks") == 0) {
        return take_string_array(value, key, CREATE_REQUEST_MAX_DISKS, false, &out->disks,
                                 &out->disk_count, err, errlen);
    } else if (strcmp(key, "overlay_dir") == 0) {
        slot = &out->overlay_dir;
        text = take_string(value, key, err, errlen);
    } else if (strcmp(key, "keep_overlays") == 0) {
        return take_bool(value, key, &out->keep_overlays, err, errlen);
    } else if (strcmp(key, "ksm") == 0) {
        return take_bool(value, key, &out->ksm, err, errlen);
    } else if (strcmp(key, "clone") == 0) {
        return take_bool(value, key, &out->clone, err, errlen);
    } else if (strcmp(key, "start") == 0) {
        return take_bool(value, key, &out->start, err, errlen);
    } else if (strcmp(key, "restore") == 0) {
        slot = &out->restore;
        text = take_string(value, key, err, errlen);
    } else if (strcmp(key, "mem_limit") == 0) {
        slot = &out->mem_limit;
        text = take_size(value, key, err, errlen);
    } else if (strcmp(key, "swap") == 0) {
        slot = &out->swap;
        text = take_string(value, key, err, errlen);
    } else if (strcmp(key, "hibernate_after") == 0) {
        slot = &out->hibernate_after;
        text = take_seconds(value, key, err, errlen);
    } else if (strcmp(key, "quantum_ms") == 0) {
        slot = &out->quantum_ms;
        text = take_integer(value, key, 1, 10000, err, errlen);
    } else if (strcmp(key, "time_limit") == 0) {
        slot = &out->time_limit;
        text = take_seconds(value, key, err, errlen);
    } else if (strcmp(key, "workers") == 0) {
        slot = &out->workers;
        text = take_integer(value, key, 1, 256, err, errlen);
    } else {
        return fail(err, errlen, "unknown field '%s'", key);
    }
    if (!text)
        return -1;
    *slot = text;
    return 0;
}

/* The whole body must be one JSON value and nothing after it but white space. */
static json_object *parse_json(const char *body, size_t length, char *err, size_t errlen)
{
    if (memchr(body, '\0', length)) {
        fail(err, errlen, "malformed JSON: the body holds a NUL byte");
        return NULL;
    }
    if (length > INT32_MAX) {
        fail(err, errlen, "body too large");
        return NULL;
    }
    json_tokener *tokener = json_tokener_new();
    if (!tokener) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tokener, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tokener, body, (int)length);
    enum json_tokener_error error = json_tokener_get_error(tokener);
    /* A bare literal or number at the very end is complete only once something follows it. */
    bool flushed = false;
    if (!root && error == json_tokener_continue) {
        root = json_tokener_parse_ex(tokener, " ", 1);
        error = json_tokener_get_error(tokener);
        flushed = true;
    }
    if (!root && error == json_tokener_success)
        fail(err, errlen, "the body must be a JSON object, not null");
    else if (!root && error == json_tokener_continue)
        fail(err, errlen, "malformed JSON: the body ends too soon");
    else if (!root)
        fail(err, errlen, "malformed JSON: %s", json_tokener_error_desc(error));
    size_t used = flushed ? length : json_tokener_get_parse_end(tokener);
    json_tokener_free(tokener);
    if (!root)
        return NULL;
    for (size_t i = used; i < length; i++) {
        if (!isspace((unsigned char)body[i])) {
            json_object_put(root);
            fail(err, errlen, "malformed JSON: text after the object at byte %zu", i);
            return NULL;
        }
    }
    return root;
}

int create_request_parse(const char *body, size_t length, struct create_request *out, char *err,
                         size_t errlen)
{
    *out = (struct create_request){.count = 1, .start = true};
    json_object *root = parse_json(body, length, err, errlen);
    if (!root)
        return -1;
    int result = 0;
    if (!json_object_is_type(root, json_type_object)) {
        result = fail(err, errlen, "the body must be a JSON object");
    } else {
        json_object_object_foreach(root, key, value)
        {
            if (take_field(key, value, out, err, errlen) < 0) {
                result = -1;
                break;
            }
        }
    }
    if (result == 0 && !out->image && !out->restore)
        result = fail(err, errlen, "image: required (or restore, a snapshot file)");
    if (result == 0 && out->image && out->restore)
        result =
            fail(err, errlen, "image and restore: a restore takes its image from the snapshot");
    json_object_put(root);
    if (result < 0)
        create_request_free(out);
    return result;
}

static void free_strings(char **strings, size_t count)
{
    for (size_t i = 0; strings && i < count; i++)
        free(strings[i]);
    free(strings);
}

void create_request_free(struct create_request *request)
{
    free(request->image);
    free_strings(request->args, request->arg_count);
    free(request->name);
    free(request->memory);
    free(request->platform);
    free(request->net);
    free_strings(request->publish, request->publish_count);
    free_strings(request->disks, request->disk_count);
    free(request->overlay_dir);
    free(request->restore);
    free(request->mem_limit);
    free(request->swap);
    free(request->hibernate_after);
    free(request->quantum_ms);
    free(request->time_limit);
    free(request->workers);
    *request = (struct create_request){0};
}
