/* The control loop: one thread reads every fleet monitor's packets (docs/API.md, "The control
 * channel") into the registry, and reaps every monitor through its pidfd. */
#include "daemon/control_loop.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/fleet.h"

#define CONTROL_PACKET_MAX (64u << 10)
/* epoll data: the fleet's number, shifted, and which of its descriptors woke the loop. */
#define TAG_CONTROL 0u
#define TAG_EXIT    1u
#define TAG_WAKE    UINT64_MAX

static uint64_t tag(const struct fleet *fleet, unsigned which)
{
    return ((uint64_t)fleet->number << 1) | which;
}

int control_loop_watch(struct daemon *daemon, struct fleet *fleet)
{
    struct epoll_event control = {.events = EPOLLIN, .data.u64 = tag(fleet, TAG_CONTROL)};
    struct epoll_event exit = {.events = EPOLLIN, .data.u64 = tag(fleet, TAG_EXIT)};
    if (epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, fleet->control_fd, &control) < 0 ||
        epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, fleet->pidfd, &exit) < 0)
        return -1;
    return 0;
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
    daemon->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    daemon->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event wake = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    if (daemon->epoll_fd < 0 || daemon->wake_fd < 0 ||
        epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, daemon->wake_fd, &wake) < 0 ||
        pthread_create(&daemon->control_thread, NULL, control_loop, daemon) != 0 ||
        fleet_spawner_start(daemon) < 0) {
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
    fleet_spawner_stop(daemon);
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
