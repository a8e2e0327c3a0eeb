/* Fleets: making one from a create request, starting its `denali run` monitor, and talking to it
 * over the control channel (docs/API.md, "The control channel"). */
#include "daemon/fleet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/fleet_files.h"
#include "daemon/run_command_line.h"

#define CONTROL_PACKET_MAX (64u << 10)
/* Each fleet's monitor is this very binary, even if the file was replaced since the daemon
 * started (the forked child's /proc/self/exe is the daemon's). */
#define MONITOR_BINARY "/proc/self/exe"
/* epoll data: the fleet's number, shifted, and which of its descriptors woke the loop. */
#define TAG_CONTROL 0u
#define TAG_EXIT    1u
#define TAG_WAKE    UINT64_MAX

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

static uint64_t tag(const struct fleet *fleet, unsigned which)
{
    return ((uint64_t)fleet->number << 1) | which;
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
    struct epoll_event control = {.events = EPOLLIN, .data.u64 = tag(fleet, TAG_CONTROL)};
    struct epoll_event exit = {.events = EPOLLIN, .data.u64 = tag(fleet, TAG_EXIT)};
    if (fleet->pidfd < 0 ||
        epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, fleet->control_fd, &control) < 0 ||
        epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, fleet->pidfd, &exit) < 0) {
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

static struct fleet *fleet_by_number(struct registry *registry, uint64_t number)
{
    for (struct fleet *f = registry->fleets; f; f = f->next)
        if (f->number == number)
            return f;
    return NULL;
}

static bool get_int64(json_object *packet, const char *key, int64_t *out)
{
    json_object *value;
    if (!json_object_object_get_ex(packet, key, &value) ||
        !json_object_is_type(value, json_type_int))
        return false;
    *out = json_object_get_int64(value);
    return true;
}

static const char *get_string(json_object *packet, const char *key)
{
    json_object *value;
    if (!json_object_object_get_ex(packet, key, &value) ||
        !json_object_is_type(value, json_type_string))
        return NULL;
    return json_object_get_string(value);
}

static void copy_text(char *out, size_t outlen, const char *text)
{
    snprintf(out, outlen, "%s", text ? text : "");
}

static void take_stats(struct vm *vm, json_object *packet)
{
    struct {
        const char *key;
        uint64_t *slot;
    } fields[] = {
        {"exits", &vm->counters.exits},         {"memory_bytes", &vm->counters.memory_bytes},
        {"rx_frames", &vm->counters.rx_frames}, {"tx_frames", &vm->counters.tx_frames},
        {"rx_bytes", &vm->counters.rx_bytes},   {"tx_bytes", &vm->counters.tx_bytes},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int64_t value;
        if (get_int64(packet, fields[i].key, &value) && value >= 0)
            *fields[i].slot = (uint64_t)value;
    }
    vm->stats_answers++;
}

/* One packet from a fleet's monitor; the caller holds the registry lock. */
static void take_packet(struct daemon *daemon, struct fleet *fleet, json_object *packet)
{
    struct registry *registry = &daemon->registry;
    const char *event = get_string(packet, "event");
    int64_t index;
    if (!event || !get_int64(packet, "vm", &index) || index < 0 || index >= fleet->count) {
        if (event && strcmp(event, "error") == 0)
            fprintf(stderr, "denali daemon: %s: %s\n", fleet->id,
                    get_string(packet, "message") ? get_string(packet, "message") : "error");
        return;
    }
    struct vm *vm = &fleet->vms[index];
    int64_t status = -1;
    get_int64(packet, "status", &status);
    if (strcmp(event, "created") == 0) {
        copy_text(vm->mac, sizeof(vm->mac), get_string(packet, "mac"));
        copy_text(vm->ipv4, sizeof(vm->ipv4), get_string(packet, "ipv4"));
        /* Deleted before its fleet started: it is not wanted. */
        if (vm->deleted)
            fleet_send(fleet, "kill", (long)index, NULL);
    } else if (strcmp(event, "started") == 0) {
        vm_set_state(registry, vm, VM_RUNNING, EVENT_STARTED);
    } else if (strcmp(event, "ready") == 0) {
        char id[64];
        vm_id(vm, id, sizeof(id));
        if (!vm->deleted)
            event_log_add(registry->events, EVENT_READY, id, false, 0, NULL);
    } else if (strcmp(event, "exited") == 0) {
        vm_set_exited(registry, vm, (int)status);
    } else if (strcmp(event, "stopped") == 0) {
        vm_set_stopped(registry, vm, (int)status, get_string(packet, "reason"));
    } else if (strcmp(event, "paused") == 0) {
        vm_set_state(registry, vm, VM_PAUSED, EVENT_PAUSED);
    } else if (strcmp(event, "resumed") == 0) {
        vm_set_state(registry, vm, VM_RUNNING, EVENT_RESUMED);
    } else if (strcmp(event, "hibernated") == 0) {
        vm_set_state(registry, vm, VM_HIBERNATED, EVENT_HIBERNATED);
    } else if (strcmp(event, "woken") == 0) {
        vm_set_state(registry, vm, VM_RUNNING, EVENT_WOKEN);
    } else if (strcmp(event, "stats") == 0) {
        take_stats(vm, packet);
        pthread_cond_broadcast(&registry->changed);
    } else if (strcmp(event, "error") == 0) {
        const char *message = get_string(packet, "message");
        free(vm->last_error);
        vm->last_error = strdup(message ? message : "the monitor refused");
        vm->errors++;
        pthread_cond_broadcast(&registry->changed);
    }
}

/* Reads every packet waiting on the fleet's channel; the caller holds the registry lock. */
static void drain_channel(struct daemon *daemon, struct fleet *fleet)
{
    static char buffer[CONTROL_PACKET_MAX + 1];
    while (fleet->control_fd >= 0) {
        ssize_t n = recv(fleet->control_fd, buffer, CONTROL_PACKET_MAX, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                /* The monitor closed it; its exit comes through the pidfd. */
                epoll_ctl(daemon->epoll_fd, EPOLL_CTL_DEL, fleet->control_fd, NULL);
                close(fleet->control_fd);
                fleet->control_fd = -1;
            }
            return;
        }
        json_tokener *tokener = json_tokener_new();
        json_object *packet = tokener ? json_tokener_parse_ex(tokener, buffer, (int)n) : NULL;
        json_tokener_free(tokener);
        if (packet && json_object_is_type(packet, json_type_object))
            take_packet(daemon, fleet, packet);
        else
            fprintf(stderr, "denali daemon: %s: a control packet that is not a JSON object\n",
                    fleet->id);
        json_object_put(packet);
    }
}

/* The monitor has exited: every VM it did not report ended is stopped. */
static void reap_monitor(struct daemon *daemon, struct fleet *fleet)
{
    drain_channel(daemon, fleet);
    int wstatus = 0;
    pid_t reaped = waitpid(fleet->pid, &wstatus, WNOHANG);
    if (reaped == 0)
        return; /* not yet: the pidfd stays readable until it has */
    char reason[64];
    if (reaped < 0)
        snprintf(reason, sizeof(reason), "monitor ended (its status is lost: %s)", strerror(errno));
    else
        snprintf(reason, sizeof(reason), "monitor exited with status %d",
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
    for (unsigned i = 0; i < fleet->count; i++)
        vm_set_stopped(&daemon->registry, &fleet->vms[i], -1, reason);
    epoll_ctl(daemon->epoll_fd, EPOLL_CTL_DEL, fleet->pidfd, NULL);
    close(fleet->pidfd);
    fleet->pidfd = -1;
    if (fleet->control_fd >= 0) {
        epoll_ctl(daemon->epoll_fd, EPOLL_CTL_DEL, fleet->control_fd, NULL);
        close(fleet->control_fd);
        fleet->control_fd = -1;
    }
    fleet->monitor_done = true;
    pthread_cond_broadcast(&daemon->registry.changed);
    registry_release_fleet(&daemon->registry, fleet);
}

static void *control_loop(void *arg)
{
    struct daemon *daemon = arg;
    for (;;) {
        struct epoll_event ready[32];
        int n = epoll_wait(daemon->epoll_fd, ready, 32, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        pthread_mutex_lock(&daemon->registry.lock);
        bool done = false;
        for (int i = 0; i < n; i++) {
            uint64_t data = ready[i].data.u64;
            if (data == TAG_WAKE) {
                done = true;
                continue;
            }
            struct fleet *fleet = fleet_by_number(&daemon->registry, data >> 1);
            if (!fleet)
                continue;
            if ((data & 1) == TAG_EXIT)
                reap_monitor(daemon, fleet);
            else
                drain_channel(daemon, fleet);
        }
        pthread_mutex_unlock(&daemon->registry.lock);
        if (done)
            break;
    }
    return NULL;
}

int control_loop_start(struct daemon *daemon, char *err, size_t errlen)
{
    pthread_mutex_init(&daemon->spawner.lock, NULL);
    pthread_cond_init(&daemon->spawner.wake, NULL);
    pthread_cond_init(&daemon->spawner.done, NULL);
    daemon->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    daemon->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event wake = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (daemon->epoll_fd < 0 || daemon->wake_fd < 0 ||
        epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, daemon->wake_fd, &wake) < 0 ||
        pthread_create(&daemon->control_thread, NULL, control_loop, daemon) != 0 ||
        pthread_create(&daemon->spawner.thread, NULL, spawner_main, daemon) != 0) {
        snprintf(err, errlen, "cannot start the control loop: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* True once no fleet's monitor is left, reaping those that ended; the caller holds the lock. */
static bool reap_all(struct daemon *daemon)
{
    bool all = true;
    for (struct fleet *f = daemon->registry.fleets; f; f = f->next) {
        if (!f->started || f->monitor_done)
            continue;
        int wstatus;
        if (waitpid(f->pid, &wstatus, WNOHANG) == f->pid)
            f->monitor_done = true;
        else
            all = false;
    }
    return all;
}

void control_loop_stop(struct daemon *daemon)
{
    uint64_t one = 1;
    if (write(daemon->wake_fd, &one, sizeof(one)) < 0)
        perror("denali daemon: ending the control loop");
    pthread_join(daemon->control_thread, NULL);
    pthread_mutex_lock(&daemon->spawner.lock);
    daemon->spawner.closing = true;
    pthread_cond_broadcast(&daemon->spawner.wake);
    pthread_mutex_unlock(&daemon->spawner.lock);
    pthread_join(daemon->spawner.thread, NULL);
    pthread_mutex_lock(&daemon->registry.lock);
    /* A closed channel already stops a monitor's VMs; SIGTERM is for one that does not read it. */
    for (struct fleet *f = daemon->registry.fleets; f; f = f->next) {
        if (f->control_fd >= 0) {
            close(f->control_fd);
            f->control_fd = -1;
        }
        if (f->started && !f->monitor_done)
            kill(f->pid, SIGTERM);
    }
    for (int tries = 0; tries < 50 && !reap_all(daemon); tries++)
        usleep(100 * 1000);
    for (struct fleet *f = daemon->registry.fleets; f; f = f->next) {
        if (f->started && !f->monitor_done) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, NULL, 0);
            f->monitor_done = true;
        }
        if (f->pidfd >= 0)
            close(f->pidfd);
        f->pidfd = -1;
    }
    pthread_mutex_unlock(&daemon->registry.lock);
    close(daemon->epoll_fd);
    close(daemon->wake_fd);
}
