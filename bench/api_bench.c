/* The API benchmark's client (bench/api.sh): round trips over one kept-alive connection, time to a
 * fleet's last start through the API, and time to `denali run`'s last boot, all on one clock. */
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

static const char usage[] =
    "usage: api_bench rtt SOCKET N PATH FLOOR_PATH\n"
    "       api_bench fleet SOCKET BODY_JSON\n"
    "       api_bench boot N -- COMMAND...\n"
    "rtt: N GETs of PATH and N of FLOOR_PATH, alternating, over one kept-alive connection;\n"
    "  prints `RTT path=... p50_us= p99_us= mean_us=` for each.\n"
    "fleet: follows /events (?since=0: the daemon must have had an event), POSTs BODY_JSON to\n"
    "  /vms, and waits for every new VM's `started` event; prints `FLEET vms= post_ms=\n"
    "  all_started_ms=`, from just before the POST.\n"
    "boot: starts COMMAND (a `denali run --progress -n N ...`), waits for its `all N VMs\n"
    "  booted` line, then stops it with SIGTERM and waits until its child processes are gone;\n"
    "  prints `BOOT vms= all_booted_ms=`, from just before the start.\n";

static size_t discard(char *data, size_t size, size_t count, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * count;
}

static CURL *handle_for(const char *socket_path)
{
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "api_bench: curl_easy_init failed\n");
        exit(1);
    }
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    return curl;
}

/* One GET on the handle's connection; its time in nanoseconds, or exits on a failure. */
static uint64_t timed_get(CURL *curl, const char *path)
{
    char url[1024];
    snprintf(url, sizeof(url), "http://denali%s", path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    uint64_t t0 = bench_now_ns();
    CURLcode code = curl_easy_perform(curl);
    uint64_t t1 = bench_now_ns();
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status != 200) {
        fprintf(stderr, "api_bench: GET %s: %s, status %ld\n", path, curl_easy_strerror(code),
                status);
        exit(1);
    }
    return t1 - t0;
}

static void report_rtt(const char *path, uint64_t *ns, size_t n)
{
    struct bench_latency l = bench_latency_of(ns, n);
    printf("RTT path=%s n=%zu p50_us=%.1f p99_us=%.1f mean_us=%.1f connection=kept-alive\n", path,
           n, l.p50_us, l.p99_us, l.mean_us);
}

static int rtt(const char *socket_path, size_t n, const char *path, const char *floor_path)
{
    uint64_t *measured = calloc(n, sizeof(uint64_t)), *floor = calloc(n, sizeof(uint64_t));
    if (!measured || !floor)
        return 1;
    CURL *curl = handle_for(socket_path);
    /* Warm-up: the connection, the daemon's first touch of each path. */
    for (int i = 0; i < 20; i++) {
        timed_get(curl, path);
        timed_get(curl, floor_path);
    }
    /* Alternating, so that drift on a shared machine reaches both alike. */
    for (size_t i = 0; i < n; i++) {
        measured[i] = timed_get(curl, path);
        floor[i] = timed_get(curl, floor_path);
        long connects = 0;
        curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
        if (connects > 0) {
            fprintf(stderr, "api_bench: the daemon closed the kept-alive connection\n");
            return 1;
        }
    }
    report_rtt(path, measured, n);
    report_rtt(floor_path, floor, n);
    curl_easy_cleanup(curl);
    free(measured);
    free(floor);
    return 0;
}

/* The event stream, read on its own thread while the main one creates the fleet. */
struct event_follower {
    const char *socket_path;
    char line[4096];
    size_t length;
    atomic_bool connected; /* the replay (or any byte) has arrived: the stream is live */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char prefix[64];    /* "f2.": the fleet's VMs' ids start so; empty until the POST answers */
    json_object *early; /* started ids seen before the prefix was known */
    size_t started, expected;
    uint64_t last_started_ns;
};

static void count_started(struct event_follower *f, const char *id)
{
    if (!f->prefix[0]) {
        json_object_array_add(f->early, json_object_new_string(id));
        return;
    }
    if (strncmp(id, f->prefix, strlen(f->prefix)) == 0 && ++f->started == f->expected) {
        f->last_started_ns = bench_now_ns();
        pthread_cond_broadcast(&f->changed);
    }
}

static size_t on_events(char *data, size_t size, size_t count, void *ctx)
{
    struct event_follower *f = ctx;
    size_t n = size * count;
    pthread_mutex_lock(&f->lock);
    if (!atomic_exchange(&f->connected, true))
        pthread_cond_broadcast(&f->changed);
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            if (f->length + 1 < sizeof(f->line))
                f->line[f->length++] = data[i];
            continue;
        }
        f->line[f->length] = '\0';
        f->length = 0;
        json_object *event = json_tokener_parse(f->line), *type, *id;
        if (event && json_object_object_get_ex(event, "type", &type) &&
            json_object_object_get_ex(event, "id", &id) &&
            strcmp(json_object_get_string(type), "started") == 0)
            count_started(f, json_object_get_string(id));
        json_object_put(event);
    }
    bool done = f->expected && f->started >= f->expected;
    pthread_mutex_unlock(&f->lock);
    return done ? 0 : n; /* 0 ends the stream once every VM has started */
}

static void *follow_events(void *arg)
{
    struct event_follower *f = arg;
    CURL *curl = handle_for(f->socket_path);
    curl_easy_setopt(curl, CURLOPT_URL, "http://denali/events?since=0");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_events);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    CURLcode code = curl_easy_perform(curl);
    pthread_mutex_lock(&f->lock);
    if (f->started < f->expected || !f->expected) {
        fprintf(stderr, "api_bench: the event stream ended early: %s\n", curl_easy_strerror(code));
        exit(1);
    }
    pthread_mutex_unlock(&f->lock);
    curl_easy_cleanup(curl);
    return NULL;
}

struct answer {
    char text[1 << 20]; /* the ids of up to 100,000 VMs */
    size_t length;
};

static size_t collect(char *data, size_t size, size_t count, void *ctx)
{
    struct answer *a = ctx;
    size_t n = size * count;
    if (a->length + n >= sizeof(a->text))
        return 0;
    memcpy(a->text + a->length, data, n);
    a->length += n;
    a->text[a->length] = '\0';
    return n;
}

static int fleet(const char *socket_path, const char *body)
{
    static struct event_follower f = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .changed = PTHREAD_COND_INITIALIZER,
    };
    f.socket_path = socket_path;
    f.early = json_object_new_array();
    pthread_t thread;
    if (pthread_create(&thread, NULL, follow_events, &f) != 0)
        return 1;
    /* The POST waits until the stream is live, or the first events could be missed. */
    pthread_mutex_lock(&f.lock);
    while (!atomic_load(&f.connected))
        pthread_cond_wait(&f.changed, &f.lock);
    pthread_mutex_unlock(&f.lock);

    CURL *curl = handle_for(socket_path);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    static struct answer answer;
    curl_easy_setopt(curl, CURLOPT_URL, "http://denali/vms");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    uint64_t t0 = bench_now_ns();
    CURLcode code = curl_easy_perform(curl);
    uint64_t posted = bench_now_ns();
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    json_object *created = code == CURLE_OK ? json_tokener_parse(answer.text) : NULL;
    json_object *fleet_id = NULL, *ids = NULL;
    if (code != CURLE_OK || status != 201 || !created ||
        !json_object_object_get_ex(created, "fleet", &fleet_id) ||
        !json_object_object_get_ex(created, "ids", &ids)) {
        fprintf(stderr, "api_bench: POST /vms: %s, status %ld: %s\n", curl_easy_strerror(code),
                status, answer.text);
        return 1;
    }
    size_t vms = json_object_array_length(ids);
    pthread_mutex_lock(&f.lock);
    snprintf(f.prefix, sizeof(f.prefix), "%s.", json_object_get_string(fleet_id));
    f.expected = vms;
    for (size_t i = 0; i < json_object_array_length(f.early); i++)
        count_started(&f, json_object_get_string(json_object_array_get_idx(f.early, i)));
    while (f.started < f.expected)
        pthread_cond_wait(&f.changed, &f.lock);
    uint64_t last = f.last_started_ns;
    pthread_mutex_unlock(&f.lock);
    pthread_join(thread, NULL);
    printf("FLEET fleet=%s vms=%zu post_ms=%.1f all_started_ms=%.1f\n",
           json_object_get_string(fleet_id), vms, (posted - t0) / 1e6, (last - t0) / 1e6);
    json_object_put(created);
    json_object_put(f.early);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return 0;
}

/* The processes whose parent is pid (a process platform's VM processes, for a monitor). */
static size_t children_of(pid_t pid, pid_t *out, size_t max)
{
    DIR *proc = opendir("/proc");
    size_t n = 0;
    struct dirent *e;
    while (proc && n < max && (e = readdir(proc))) {
        char path[288], stat[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        size_t len = fread(stat, 1, sizeof(stat) - 1, f);
        fclose(f);
        stat[len] = '\0';
        /* The parent is the second field after the command, which may hold spaces. */
        const char *after = strrchr(stat, ')');
        int parent;
        if (after && sscanf(after + 1, " %*c %d", &parent) == 1 && parent == pid)
            out[n++] = (pid_t)atol(e->d_name);
    }
    if (proc)
        closedir(proc);
    return n;
}

/* Waits (up to 30 s) until none of the processes is left, so the next measurement runs alone. */
static void wait_gone(const pid_t *pids, size_t n)
{
    for (int tries = 0; tries < 3000; tries++) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++)
            if (kill(pids[i], 0) == 0)
                left++;
        if (!left)
            return;
        usleep(10000);
    }
    fprintf(stderr, "api_bench: some of the monitor's processes outlived it by 30 s\n");
}

static int boot(size_t n, char **command)
{
    int pipe_fds[2];
    if (pipe(pipe_fds) < 0)
        return 1;
    char marker[64];
    snprintf(marker, sizeof(marker), "all %zu VMs booted", n);
    uint64_t t0 = bench_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        /* The guests' consoles are not this program's output. */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        dup2(pipe_fds[1], STDERR_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        execvp(command[0], command);
        _exit(127);
    }
    close(pipe_fds[1]);
    FILE *err = fdopen(pipe_fds[0], "r");
    char line[4096];
    uint64_t booted = 0;
    /* Progress lines end in \r, so the marker is looked for in whatever arrived. */
    while (!booted && fgets(line, sizeof(line), err))
        if (strstr(line, marker))
            booted = bench_now_ns();
    static pid_t vm_processes[1 << 17];
    size_t vm_count = children_of(pid, vm_processes, sizeof(vm_processes) / sizeof(pid_t));
    kill(pid, SIGTERM);
    while (fgets(line, sizeof(line), err))
        ;
    fclose(err);
    int status;
    waitpid(pid, &status, 0);
    wait_gone(vm_processes, vm_count);
    if (!booted) {
        fprintf(stderr, "api_bench: %s never said '%s' (exit status %d)\n", command[0], marker,
                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return 1;
    }
    printf("BOOT vms=%zu all_booted_ms=%.1f\n", n, (booted - t0) / 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_NOTHING);
    if (argc == 6 && strcmp(argv[1], "rtt") == 0 && atol(argv[3]) > 0)
        return rtt(argv[2], (size_t)atol(argv[3]), argv[4], argv[5]);
    if (argc == 4 && strcmp(argv[1], "fleet") == 0)
        return fleet(argv[2], argv[3]);
    if (argc >= 5 && strcmp(argv[1], "boot") == 0 && atol(argv[2]) > 0 &&
        strcmp(argv[3], "--") == 0)
        return boot((size_t)atol(argv[2]), argv + 4);
    fputs(usage, stderr);
    return 2;
}
