/* The daemon's shared state: its settings, its fleets and VMs, its events and the control loop. */
#ifndef DENALI_DAEMON_H
#define DENALI_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "daemon/event_log.h"
#include "daemon/registry.h"

/* The HTTP status codes the API answers with, for denali_api_requests_total. */
#define DAEMON_STATUS_CODES 600

/* One monitor to fork: what the spawner thread needs, and what it answers. */
struct spawn {
    const char *exe;
    char **argv;
    int channel, log_fd;
    pid_t daemon_pid;
    pid_t pid; /* the child, or -1 with error */
    int error;
};

/* The thread that forks monitors (fleet.c says why it is one thread). */
struct spawner {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    struct spawn *job; /* the one being forked */
    bool closing;
};

struct daemon {
    const char *state_dir;
    const char *default_platform;
    bool kvm_available, process_available;
    struct event_log events;
    struct registry registry;
    int epoll_fd, wake_fd; /* the control loop's; wake_fd ends it */
    pthread_t control_thread;
    struct spawner spawner;
    atomic_bool stopping;
    atomic_uint_fast64_t responses[DAEMON_STATUS_CODES];
};

#endif
