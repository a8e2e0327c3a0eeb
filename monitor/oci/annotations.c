/* The org.denali.* annotations of a bundle: Denali's VM options, as fields of the create body. */
#include "oci/annotations.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum value_form { AS_STRING, AS_INTEGER, AS_NUMBER, AS_LIST };

struct annotation {
    const char *key;   /* after the prefix */
    const char *field; /* in the create body */
    enum value_form form;
};

static const struct annotation known[] = {
    {"memory", "memory", AS_STRING},
    {"platform", "platform", AS_STRING},
    {"net", "net", AS_STRING},
    {"publish", "publish", AS_LIST},
    {"mem-limit", "mem_limit", AS_STRING},
    {"swap", "swap", AS_STRING},
    {"hibernate-after", "hibernate_after", AS_NUMBER},
    {"quantum-ms", "quantum_ms", AS_INTEGER},
    {"time-limit", "time_limit", AS_NUMBER},
    {"workers", "workers", AS_INTEGER},
};

const char annotations_help[] =
    "  org.denali.memory=SIZE           guest memory, e.g. 16M (create body: memory)\n"
    "  org.denali.platform=P            auto, kvm or process (platform)\n"
    "  org.denali.net=MODE              none, user or tap (net)\n"
    "  org.denali.publish=H:G[,H:G...]  published ports, e.g. 8080:80 (publish)\n"
    "  org.denali.mem-limit=SIZE        resident memory limit (mem_limit)\n"
    "  org.denali.swap=FILE             swap file (swap)\n"
    "  org.denali.hibernate-after=SECS  hibernate when idle this long (hibernate_after)\n"
    "  org.denali.quantum-ms=MS         scheduling quantum (quantum_ms)\n"
    "  org.denali.time-limit=SECS       stop the VM after this long (time_limit)\n"
    "  org.denali.workers=N             monitor worker threads (workers)\n";

/* A comma-separated list, its items trimmed of spaces; empty items are dropped. */
static json_object *split_list(const char *text)
{
    json_object *list = json_object_new_array();
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *start = p, *end = p + n;
        while (start < end && *start == ' ')
            start++;
        while (end > start && end[-1] == ' ')
            end--;
        if (end > start)
            json_object_array_add(list, json_object_new_string_len(start, (int)(end - start)));
        p += n;
        if (*p == ',')
            p++;
    }
    return list;
}

static json_object *convert(const struct annotation *a, const char *text, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    switch (a->form) {
    case AS_STRING:
        return json_object_new_string(text);
    case AS_LIST:
        return split_list(text);
    case AS_INTEGER: {
        long long value = strtoll(text, &end, 10);
        if (errno == 0 && end != text && *end == '\0')
            return json_object_new_int64(value);
        snprintf(err, errlen, "annotation %s%s=%s: not an integer", ANNOTATION_PREFIX, a->key,
                 text);
        return NULL;
    }
    case AS_NUMBER: {
        double value = strtod(text, &end);
        if (errno == 0 && end != text && *end == '\0')
            return json_object_new_double(value);
        snprintf(err, errlen, "annotation %s%s=%s: not a number", ANNOTATION_PREFIX, a->key, text);
        return NULL;
    }
    }
    return NULL;
}

int annotations_to_create_body(json_object *annotations, json_object *body, char *err,
                               size_t errlen)
{
    size_t prefix = strlen(ANNOTATION_PREFIX);
    json_object_object_foreach(annotations, key, value)
    {
        if (strncmp(key, ANNOTATION_PREFIX, prefix) != 0)
            continue;
        const struct annotation *found = NULL;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(key + prefix, known[i].key) == 0)
                found = &known[i];
        if (!found) {
            /* A misspelt option would otherwise be dropped without a word. */
            snprintf(err, errlen, "unknown annotation %s (`denali-oci create --help` lists them)",
                     key);
            return -1;
        }
        json_object *converted = convert(found, json_object_get_string(value), err, errlen);
        if (!converted)
            return -1;
        json_object_object_add(body, found->field, converted);
    }
    return 0;
}
