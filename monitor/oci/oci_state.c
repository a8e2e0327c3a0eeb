/* A container's record under --root: ROOT/ID/state.json, and the stub's start FIFO beside it. */
#include "oci/oci_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool container_id_is_valid(const char *id)
{
    if (!id[0] || strcmp(id, ".") == 0 || strcmp(id, "..") == 0 || strlen(id) > 1024)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '+' || *p == '-' || *p == '.'))
            return false;
    return true;
}

void container_vm_name(const char *id, char name[64])
{
    size_t length = strlen(id);
    bool fits = length <= 63 && ((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z') ||
                                 (id[0] >= '0' && id[0] <= '9'));
    for (size_t i = 0; fits && i < length; i++)
        fits = id[i] != '.' && id[i] != '+';
    /* The daemon refuses names that read as fleet ids: f and digits. */
    if (fits && id[0] == 'f' && length > 1 && strspn(id + 1, "0123456789") == length - 1)
        fits = false;
    if (fits) {
        snprintf(name, 64, "%s", id);
        return;
    }
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (const char *p = id; *p; p++)
        hash = (hash ^ (unsigned char)*p) * 16777619u;
    char readable[48];
    size_t n = 0;
    readable[n++] = 'c';
    for (const char *p = id; *p && n < 40; p++)
        readable[n++] = (*p == '.' || *p == '+') ? '-' : *p;
    readable[n] = '\0';
    snprintf(name, 64, "%s-%08x", readable, hash);
}

static char *join(const char *dir, const char *name)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    return path;
}

char *container_dir(const char *root, const char *id)
{
    return join(root, id);
}

char *container_fifo_path(const struct container *c)
{
    return join(c->dir, "start.fifo");
}

static const char *string_member(json_object *object, const char *key)
{
    json_object *value;
    if (!json_object_object_get_ex(object, key, &value) ||
        !json_object_is_type(value, json_type_string))
        return NULL;
    return json_object_get_string(value);
}

static char *copy(const char *text)
{
    return text ? strdup(text) : NULL;
}

int container_load(const char *root, const char *id, struct container *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->id = strdup(id);
    c->dir = container_dir(root, id);
    char *path = join(c->dir, "state.json");
    if (access(path, F_OK) != 0) {
        int saved = errno;
        snprintf(err, errlen, "container %s does not exist", id);
        free(path);
        container_free(c);
        errno = saved;
        return -1;
    }
    json_object *state = json_object_from_file(path);
    json_object *value;
    if (!state || !json_object_is_type(state, json_type_object) || !string_member(state, "vm") ||
        !string_member(state, "api")) {
        snprintf(err, errlen, "%s is damaged", path);
        json_object_put(state);
        free(path);
        container_free(c);
        errno = EINVAL;
        return -1;
    }
    free(path);
    c->vm = copy(string_member(state, "vm"));
    c->api = copy(string_member(state, "api"));
    c->bundle = copy(string_member(state, "bundle"));
    c->created = copy(string_member(state, "created"));
    if (json_object_object_get_ex(state, "pid", &value))
        c->pid = (pid_t)json_object_get_int64(value);
    if (json_object_object_get_ex(state, "pid_start", &value))
        c->pid_start = (unsigned long long)json_object_get_uint64(value);
    if (json_object_object_get_ex(state, "started", &value))
        c->started = json_object_get_boolean(value);
    if (json_object_object_get_ex(state, "annotations", &value) &&
        json_object_is_type(value, json_type_object))
        c->annotations = json_object_get(value);
    else
        c->annotations = json_object_new_object();
    json_object_put(state);
    return 0;
}

int container_save(const struct container *c, char *err, size_t errlen)
{
    json_object *state = json_object_new_object();
    json_object_object_add(state, "id", json_object_new_string(c->id));
    json_object_object_add(state, "vm", json_object_new_string(c->vm));
    json_object_object_add(state, "api", json_object_new_string(c->api));
    json_object_object_add(state, "bundle", json_object_new_string(c->bundle ? c->bundle : ""));
    json_object_object_add(state, "created", json_object_new_string(c->created ? c->created : ""));
    json_object_object_add(state, "pid", json_object_new_int64(c->pid));
    json_object_object_add(state, "pid_start", json_object_new_uint64(c->pid_start));
    json_object_object_add(state, "started", json_object_new_boolean(c->started));
    json_object_object_add(state, "annotations",
                           c->annotations ? json_object_get(c->annotations)
                                          : json_object_new_object());
    char *path = join(c->dir, "state.json");
    char *fresh = join(c->dir, "state.json.new");
    int result = 0;
    if (json_object_to_file_ext(fresh, state, JSON_C_TO_STRING_PLAIN) != 0 ||
        rename(fresh, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(fresh);
        result = -1;
    }
    free(path);
    free(fresh);
    json_object_put(state);
    return result;
}

int container_remove(const struct container *c, char *err, size_t errlen)
{
    DIR *dir = opendir(c->dir);
    if (!dir) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot remove %s: %s", c->dir, strerror(errno));
        return -1;
    }
    struct dirent *entry;
    while ((entry = readdir(dir)))
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            unlinkat(dirfd(dir), entry->d_name, 0);
    closedir(dir);
    if (rmdir(c->dir) != 0) {
        snprintf(err, errlen, "cannot remove %s: %s", c->dir, strerror(errno));
        return -1;
    }
    return 0;
}

void container_free(struct container *c)
{
    free(c->id);
    free(c->dir);
    free(c->vm);
    free(c->api);
    free(c->bundle);
    free(c->created);
    json_object_put(c->annotations);
    memset(c, 0, sizeof(*c));
}

unsigned long long process_start_time(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    /* The command name may hold spaces and parentheses; the fields after it do not. */
    char *after_name = strrchr(text, ')');
    if (!after_name)
        return 0;
    /* After the name: state is field 3, starttime field 22. */
    char *field = after_name + 2;
    for (int i = 3; i < 22 && field; i++) {
        field = strchr(field, ' ');
        if (field)
            field++;
    }
    if (!field)
        return 0;
    char state = after_name[2];
    if (state == 'Z' || state == 'X')
        return 0; /* ended, waiting for its parent to reap it: not alive */
    return strtoull(field, NULL, 10);
}

bool container_stub_is_alive(const struct container *c)
{
    return c->pid > 0 && c->pid_start != 0 && process_start_time(c->pid) == c->pid_start;
}
