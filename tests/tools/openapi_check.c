/* Checks one HTTP response of the daemon against docs/api/openapi.json: the status is declared for
 * the path and method, and the body has the declared media type, required fields and types.
 *
 * usage: openapi_check SPEC METHOD PATH STATUS CONTENT-TYPE BODY-FILE
 * Exits 0 when the response conforms, 1 (saying why on stderr) when it does not, 2 on bad usage. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_object *spec;
static bool conforms = true;
static bool quiet; /* trying the alternatives of a oneOf */

static void mismatch(const char *where, const char *fmt, const char *detail)
{
    conforms = false;
    if (quiet)
        return;
    fprintf(stderr, "openapi_check: %s: ", where[0] ? where : "(body)");
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
}

static json_object *member(json_object *object, const char *key)
{
    json_object *value = NULL;
    if (!object || !json_object_object_get_ex(object, key, &value))
        return NULL;
    return value;
}

/* Follows "#/components/schemas/NAME" references. */
static json_object *resolve(json_object *schema)
{
    for (int depth = 0; depth < 16; depth++) {
        json_object *ref = member(schema, "$ref");
        if (!ref)
            return schema;
        const char *prefix = "#/components/schemas/";
        const char *target = json_object_get_string(ref);
        if (strncmp(target, prefix, strlen(prefix)) != 0)
            return NULL;
        schema = member(member(member(spec, "components"), "schemas"), target + strlen(prefix));
    }
    return NULL;
}

static bool has_type(json_object *value, const char *type)
{
    enum json_type t = json_object_get_type(value);
    if (strcmp(type, "object") == 0)
        return t == json_type_object;
    if (strcmp(type, "array") == 0)
        return t == json_type_array;
    if (strcmp(type, "string") == 0)
        return t == json_type_string;
    if (strcmp(type, "integer") == 0)
        return t == json_type_int;
    if (strcmp(type, "number") == 0)
        return t == json_type_int || t == json_type_double;
    if (strcmp(type, "boolean") == 0)
        return t == json_type_boolean;
    return false;
}

static void validate(json_object *value, json_object *schema, const char *where);

/* Whether value matches schema, without reporting (for oneOf). */
static bool matches(json_object *value, json_object *schema)
{
    bool saved = conforms, saved_quiet = quiet;
    conforms = true;
    quiet = true;
    validate(value, schema, "");
    bool result = conforms;
    conforms = saved;
    quiet = saved_quiet;
    return result;
}

static void validate_object(json_object *value, json_object *schema, const char *where)
{
    json_object *required = member(schema, "required");
    json_object *properties = member(schema, "properties");
    char path[512];
    for (size_t i = 0; required && i < json_object_array_length(required); i++) {
        const char *key = json_object_get_string(json_object_array_get_idx(required, i));
        if (!json_object_object_get_ex(value, key, NULL))
            mismatch(where, "required field '%s' is missing", key);
    }
    json_object *additional = member(schema, "additionalProperties");
    json_object_object_foreach(value, key, field)
    {
        snprintf(path, sizeof(path), "%s.%s", where, key);
        json_object *field_schema = member(properties, key);
        if (field_schema)
            validate(field, field_schema, path);
        else if (additional && !json_object_get_boolean(additional))
            mismatch(path, "%s", "a field the schema does not declare");
    }
}

static void validate(json_object *value, json_object *schema, const char *where)
{
    schema = resolve(schema);
    if (!schema) {
        mismatch(where, "%s", "the schema has an unresolvable $ref");
        return;
    }
    if (!value) {
        json_object *nullable = member(schema, "nullable");
        if (!nullable || !json_object_get_boolean(nullable))
            mismatch(where, "%s", "null where the schema is not nullable");
        return;
    }
    json_object *one_of = member(schema, "oneOf");
    if (one_of) {
        size_t matched = 0;
        for (size_t i = 0; i < json_object_array_length(one_of); i++)
            matched += matches(value, json_object_array_get_idx(one_of, i));
        if (matched != 1)
            mismatch(where, "%s", "not exactly one of oneOf");
        return;
    }
    json_object *type = member(schema, "type");
    if (type && !has_type(value, json_object_get_string(type))) {
        mismatch(where, "expected type %s", json_object_get_string(type));
        return;
    }
    json_object *choices = member(schema, "enum");
    if (choices) {
        bool found = false;
        for (size_t i = 0; i < json_object_array_length(choices); i++)
            found |= json_object_equal(value, json_object_array_get_idx(choices, i)) != 0;
        if (!found)
            mismatch(where, "'%s' is not one of the schema's enum", json_object_get_string(value));
    }
    json_object *minimum = member(schema, "minimum");
    if (minimum && has_type(value, "number") &&
        json_object_get_double(value) < json_object_get_double(minimum))
        mismatch(where, "%s is below the minimum", json_object_get_string(value));
    json_object *maximum = member(schema, "maximum");
    if (maximum && has_type(value, "number") &&
        json_object_get_double(value) > json_object_get_double(maximum))
        mismatch(where, "%s is above the maximum", json_object_get_string(value));
    if (json_object_is_type(value, json_type_object))
        validate_object(value, schema, where);
    json_object *items = member(schema, "items");
    if (items && json_object_is_type(value, json_type_array)) {
        char path[512];
        for (size_t i = 0; i < json_object_array_length(value); i++) {
            snprintf(path, sizeof(path), "%s[%zu]", where, i);
            validate(json_object_array_get_idx(value, i), items, path);
        }
    }
}

/* Whether a concrete path matches a template such as /vms/{id}/logs. */
static bool path_matches(const char *template, const char *path)
{
    while (*template && *path) {
        if (*template == '{') {
            const char *close = strchr(template, '}');
            size_t segment = strcspn(path, "/");
            if (!close || segment == 0)
                return false;
            template = close + 1;
            path += segment;
        } else if (*template ++ != *path++) {
            return false;
        }
    }
    return !*template && !*path;
}

static json_object *find_path(const char *path, const char **template_out)
{
    json_object *paths = member(spec, "paths");
    /* A template without parameters wins over one with, as in the server's routing. */
    for (int pass = 0; pass < 2; pass++) {
        json_object_object_foreach(paths, template, item)
        {
            bool has_parameters = strchr(template, '{') != NULL;
            if (has_parameters == (pass == 1) && path_matches(template, path)) {
                *template_out = template;
                return item;
            }
        }
    }
    return NULL;
}

static char *read_file(const char *name, size_t *length)
{
    FILE *f = fopen(name, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t capacity = 0;
    *length = 0;
    for (;;) {
        if (*length + 4097 > capacity) {
            capacity = capacity ? capacity * 2 : 8192;
            char *grown = realloc(data, capacity);
            if (!grown)
                break;
            data = grown;
        }
        size_t n = fread(data + *length, 1, capacity - *length - 1, f);
        if (n == 0)
            break;
        *length += n;
    }
    fclose(f);
    if (data)
        data[*length] = '\0';
    return data;
}

static void validate_json_text(const char *text, size_t length, json_object *schema,
                               const char *where)
{
    json_tokener *tokener = json_tokener_new();
    json_object *value = json_tokener_parse_ex(tokener, text, (int)length);
    bool parsed = json_tokener_get_error(tokener) == json_tokener_success;
    json_tokener_free(tokener);
    if (!parsed) {
        mismatch(where, "%s", "the body is not JSON");
        return;
    }
    validate(value, schema, "");
    json_object_put(value);
}

/* The declared media type that content_type is, comparing only up to ';' when no exact key. */
static json_object *find_media(json_object *content, const char *content_type, const char **type)
{
    json_object_object_foreach(content, exact, media)
    {
        if (strcmp(exact, content_type) == 0) {
            *type = exact;
            return media;
        }
    }
    size_t base = strcspn(content_type, ";");
    json_object_object_foreach(content, key, candidate)
    {
        if (strcspn(key, ";") == base && strncmp(key, content_type, base) == 0) {
            *type = key;
            return candidate;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: openapi_check SPEC METHOD PATH STATUS CONTENT-TYPE BODY-FILE\n");
        return 2;
    }
    const char *method = argv[2], *status = argv[4], *content_type = argv[5];
    spec = json_object_from_file(argv[1]);
    size_t length = 0;
    char *body = read_file(argv[6], &length);
    if (!spec || !body) {
        fprintf(stderr, "openapi_check: cannot read %s or %s\n", argv[1], argv[6]);
        return 2;
    }
    char path[2048];
    snprintf(path, sizeof(path), "%s", argv[3]);
    path[strcspn(path, "?")] = '\0';
    json_object *error_schema = json_object_new_object();
    json_object_object_add(error_schema, "$ref",
                           json_object_new_string("#/components/schemas/Error"));
    const char *template = NULL;
    json_object *item = find_path(path, &template);
    char lower[16];
    snprintf(lower, sizeof(lower), "%s", method);
    for (char *c = lower; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    json_object *operation = member(item, lower);
    if (!item || !operation) {
        /* Not in the spec: only "unknown endpoint" (404) or "wrong method" (405) may answer. */
        const char *expected = item ? "405" : "404";
        if (strcmp(status, expected) != 0)
            mismatch(path,
                     item ? "status %s for a method the path does not declare (want 405)"
                          : "status %s for a path the spec does not declare (want 404)",
                     status);
        validate_json_text(body, length, error_schema, path);
    } else {
        json_object *response = member(member(operation, "responses"), status);
        char where[2100];
        snprintf(where, sizeof(where), "%s %s", method, template);
        if (!response) {
            mismatch(where, "status %s is not declared", status);
        } else {
            json_object *content = member(response, "content");
            const char *type = NULL;
            json_object *media = content ? find_media(content, content_type, &type) : NULL;
            if (!content && length > 0)
                mismatch(where, "%s", "a body where the spec declares none");
            else if (content && !media)
                mismatch(where, "content type '%s' is not declared", content_type);
            else if (media && strcmp(type, "application/json") == 0)
                validate_json_text(body, length, member(media, "schema"), where);
            else if (media && strcmp(type, "application/x-ndjson") == 0) {
                for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n"))
                    validate_json_text(line, strlen(line), member(media, "schema"), where);
            }
        }
    }
    json_object_put(error_schema);
    json_object_put(spec);
    free(body);
    return conforms ? 0 : 1;
}
