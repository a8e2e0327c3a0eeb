/* denali-oci's error reporting: stderr, and the --log file in runc's text or JSON format. */
#include "oci/oci_log.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_path;
static bool log_json;

int oci_log_setup(const char *path, const char *format)
{
    if (format && strcmp(format, "json") == 0)
        log_json = true;
    else if (format && strcmp(format, "text") != 0)
        return -1;
    log_path = path && path[0] ? path : NULL;
    return 0;
}

/*
 * containerd's shim reads the log after a failed command and shows the last error's "msg", so
 * each line is a whole record in the shape runc writes (logrus's).
 */
static void append_to_log(const char *level, const char *message)
{
    if (!log_path)
        return;
    FILE *log = fopen(log_path, "ae");
    if (!log)
        return;
    char now[40];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (log_json) {
        json_object *record = json_object_new_object();
        json_object_object_add(record, "level", json_object_new_string(level));
        json_object_object_add(record, "msg", json_object_new_string(message));
        json_object_object_add(record, "time", json_object_new_string(now));
        fprintf(log, "%s\n",
                json_object_to_json_string_ext(record, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(record);
    } else {
        json_object *quoted = json_object_new_string(message);
        fprintf(log, "time=\"%s\" level=%s msg=%s\n", now, level,
                json_object_to_json_string_ext(quoted, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(quoted);
    }
    fclose(log);
}

static void report(const char *level, const char *format, va_list args)
{
    char message[2048];
    vsnprintf(message, sizeof(message), format, args);
    fprintf(stderr, "denali-oci: %s\n", message);
    append_to_log(level, message);
}

int oci_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    report("error", format, args);
    va_end(args);
    return 1;
}

void oci_warn(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    report("warning", format, args);
    va_end(args);
}
