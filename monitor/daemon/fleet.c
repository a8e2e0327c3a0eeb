/* Fleets: making one from a create request, starting its `denali run` monitor on the spawner
 * thread, and sending it commands over its control channel (docs/API.md, "The control channel"). */
#include "daemon/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/control_loop.h"
#include "daemon/fleet_files.h"
#include "daemon/run_command_line.h"

/* Each fleet's monitor is this very binary, even if the file was replaced since the daemon
 * started (the forked child's /proc/self/exe is the daemon's). */
#define MONITOR_BINARY "/proc/self/exe"

static char *path_join(const char *a, const char *b)
{
    char *path;
    return asprintf(&path, "%s/%s", a, b) < 0 ? NULL : path;
}

static int make_dir(const char *path, mode_t mode, char *err, size_t errlen)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static const char *platform_of(struct daemon *daemon, const struct create_request *request,
                               char *err, size_t errlen)
{
    const char *wanted = request->platform ? request->platform : "auto";
    if (strcmp(wanted, "auto") == 0)
        return daemon->default_platform;
    bool available = strcmp(wanted, "kvm") == 0 ? daemon->kvm_available : daemon->process_available;
    if (!available) {
        snprintf(err, errlen, "platform: %s is not available on this host (`denali platforms`)",
                 wanted);
        return NULL;
    }
    return strcmp(wanted, "kvm") == 0 ? "kvm" : "process";
}

/* The files a request names must exist now: later, only the monitor's log would say why. */
static int check_files(const struct create_request *request, char *err, size_t errlen)
{
    const char *fields[] = {"image", "restore"};
    const char *paths[] = {request->image, request->restore};
    for (int i = 0; i < 2; i++) {
        if (!paths[i])
            continue;
        if (paths[i][0] != '/') {
            snprintf(err, errlen, "%s: '%s' is not an absolute path", fields[i], paths[i]);
            return -1;
        }
        if (access(paths[i], R_OK) < 0) {
            snprintf(err, errlen, "%s: %s: %s", fields[i], paths[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

struct fleet *fleet_create(struct daemon *daemon, struct create_request *request, int *status,
                           char *err, size_t errlen)
{
    *status = 400;
    const char *platform = platform_of(daemon, request, err, errlen);
    if (!platform || check_files(request, err, errlen) < 0)
        return NULL;
    if (request->name && registry_name_taken(&daemon->registry, request->name)) {
        *status = 409;
        snprintf(err, errlen, "name: '%s' is taken", request->name);
        return NULL;
    }
    /* The id is known before the fleet is added, so its directory can be in its command line. */
    char id[16];
    snprintf(id, sizeof(id), "f%u", daemon->registry.last_fleet + 1);
    char *fleets = path_join(daemon->state_dir, "fleets");
    char *dir = fleets ? path_join(fleets, id) : NULL;
    char *console_dir = dir ? path_join(dir, "console") : NULL;
    uint64_t memory = 0;
    char **argv = NULL;
    struct fleet *fleet = NULL;
    if (!console_dir) {
        *status = 500;
        snprintf(err, errlen, "out of memory");
    } else if ((argv = run_command_line(request, console_dir, &memory, err, errlen))) {
        *status = 500;
        if (make_dir(fleets, 0750, err, errlen) == 0 && make_dir(dir, 0750, err, errlen) == 0 &&
            make_dir(console_dir, 0750, err, errlen) == 0) {
            fleet_files_clear(dir, console_dir);
            fleet = registry_add_fleet(&daemon->registry, request);
            if (!fleet)
                snprintf(err, errlen, "out of memory");
        }
    }
    free(fleets);
    if (!fleet) {
        free(dir);
        free(console_dir);
        run_command_line_free(argv);
        return NULL;
    }
    fleet->run_argv = argv;
    fleet->dir = dir;
    fleet->console_dir = console_dir;
    fleet->memory_bytes = memory;
    fleet->platform = platform;
    registry_announce_fleet(&daemon->registry, fleet);
    return fleet;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void exec_monitor(const struct spawn *job)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != job->daemon_pid)
        _exit(127); /* the daemon died before the line above took effect */
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(job->log_fd, STDOUT_FILENO) < 0 ||
        dup2(job->log_fd, STDERR_FILENO) < 0)
        _exit(127);
    if (job->channel == RUN_CONTROL_FD) {
        if (fcntl(job->channel, F_SETFD, 0) < 0)
            _exit(127);
    } else if (dup2(job->channel, RUN_CONTROL_FD) < 0) {
        _exit(127);
    }
    close_range(RUN_CONTROL_FD + 1, ~0u, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(job->exe, job->argv);
    _exit(127);
}

/*
 * The spawner thread forks every monitor. PR_SET_PDEATHSIG fires when the thread that forked the
 * child ends, not the process: forked from a connection's thread, a monitor would be killed as
 * soon as its client hung up. The spawner lives as long as the daemon.
 */
static void *spawner_main(void *arg)
{
    struct daemon *daemon = arg;
    struct spawner *s = &daemon->spawner;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->job && !s->closing)
            pthread_cond_wait(&s->wake, &s->lock);
        if (!s->job)
            break;
        struct spawn *job = s->job;
        job->pid = fork();
        if (job->pid == 0)
            exec_monitor(job);
        job->error = job->pid < 0 ? errno : 0;
        s->job = NULL;
        pthread_cond_broadcast(&s->done);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Forks job on the spawner thread; job->pid is the child or -1 (job->error). */
static void spawn(struct daemon *daemon, struct spawn *job)
{
    struct spawner *s = &daemon->spawner;
    pthread_mutex_lock(&s->lock);
    while (s->job)
        pthread_cond_wait(&s->done, &s->lock);
    job->pid = 0;
    s->job = job;
    pthread_cond_broadcast(&s->wake);
    while (s->job == job)
        pthread_cond_wait(&s->done, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

int fleet_spawner_start(struct daemon *daemon)
{
    struct spawner *s = &daemon->spawner;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->done, NULL);
    return pthread_create(&s->thread, NULL, spawner_main, daemon) == 0 ? 0 : -1;
}

void fleet_spawner_stop(struct daemon *daemon)
{
    struct spawner *s = &daemon->spawner;
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
}

/* A fleet whose monitor could not be started or watched: it has ended, every VM stopped. */
static int start_failed(struct daemon *daemon, struct fleet *fleet, char *err, size_t errlen,
                        const char *what, int error)
{
    snprintf(err, errlen, "%s: %s", what, strerror(error));
    fleet->started = fleet->monitor_done = true;
    for (unsigned i = 0; i < fleet->count; i++)
        vm_set_stopped(&daemon->registry, &fleet->vms[i], -1, err);
    return -1;
}

int fleet_start(struct daemon *daemon, struct fleet *fleet, char *err, size_t errlen)
{
    int pair[2] = {-1, -1};
    char *log_path = path_join(fleet->dir, "monitor.log");
    int log_fd = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640) : -1;
    free(log_path);
    if (log_fd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        int error = errno;
        if (log_fd >= 0)
            close(log_fd);
        return start_failed(daemon, fleet, err, errlen, "cannot start the fleet's monitor", error);
    }
    struct spawn job = {.exe = MONITOR_BINARY,
                        .argv = fleet->run_argv,
                        .channel = pair[1],
                        .log_fd = log_fd,
                        .daemon_pid = getpid()};
    spawn(daemon, &job);
    close(pair[1]);
    close(log_fd);
    if (job.pid < 0) {
        close(pair[0]);
        return start_failed(daemon, fleet, err, errlen, "cannot start the fleet's monitor",
                            job.error);
    }
    fleet->pid = job.pid;
    fleet->started = true;
    fleet->control_fd = pair[0];
    fcntl(fleet->control_fd, F_SETFL, O_NONBLOCK);
    fleet->pidfd = pidfd_open(job.pid, 0);
    if (fleet->pidfd < 0 || control_loop_watch(daemon, fleet) < 0) {
        /* Without its exit watched the fleet could never end: end it now. */
        int error = errno;
        kill(job.pid, SIGKILL);
        waitpid(job.pid, NULL, 0);
        close(fleet->control_fd); /* closing also takes it out of the epoll set */
        fleet->control_fd = -1;
        if (fleet->pidfd >= 0)
            close(fleet->pidfd);
        fleet->pidfd = -1;
        return start_failed(daemon, fleet, err, errlen, "cannot watch the fleet's monitor", error);
    }
    return 0;
}

int fleet_send(struct fleet *fleet, const char *op, long vm, json_object *extra)
{
    if (fleet->control_fd < 0)
        return -1;
    json_object *packet = json_object_new_object();
    json_object_object_add(packet, "op", json_object_new_string(op));
    if (vm >= 0)
        json_object_object_add(packet, "vm", json_object_new_int64(vm));
    if (extra) {
        json_object_object_foreach(extra, key, value)
        {
            json_object_object_add(packet, key, json_object_get(value));
        }
    }
    size_t length;
    const char *text = json_object_to_json_string_length(
        packet, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &length);
    ssize_t sent = send(fleet->control_fd, text, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    json_object_put(packet);
    return sent == (ssize_t)length ? 0 : -1;
}
