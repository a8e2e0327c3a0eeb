/* The daemon's shared state: its settings, its fleets and VMs, its events and the control loop. */
#ifndef DENALI_DAEMON_H
#define DENALI_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "daemon/event_log.h"
#include "daemon/registry.h"

/* The HTTP status codes the API answers with, for denali_api_requests_total. */
#define DAEMON_STATUS_CODES 600

struct daemon {
    const char *state_dir;
    char self_exe[4096]; /* this binary, which each fleet's monitor runs */
    const char *default_platform;
    bool kvm_available, process_available;
    struct event_log events;
    struct registry registry;
    int epoll_fd, wake_fd; /* the control loop's; wake_fd ends it */
    pthread_t control_thread;
    atomic_bool stopping;
    atomic_uint_fast64_t responses[DAEMON_STATUS_CODES];
};

#endif
