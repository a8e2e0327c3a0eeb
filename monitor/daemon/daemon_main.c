/* `denali daemon`: the long-lived supervisor that serves the API (docs/API.md). */
#include "daemon/daemon_main.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/api_server.h"
#include "daemon/api_socket.h"
#include "daemon/daemon.h"
#include "daemon/control_loop.h"
#include "daemon/fleet.h"
#include "platform/platform.h"

#define DEFAULT_SOCKET    "/run/denali/api.sock"
#define DEFAULT_STATE_DIR "/run/denali"
#define EXIT_USAGE        2

static const char usage[] =
    "usage: denali daemon [--api PATH] [--state-dir DIR]\n"
    "Serves the API of docs/API.md (HTTP/1.1, JSON) on a Unix socket and runs the fleets of VMs\n"
    "it is asked for, each under its own `denali run` monitor.\n"
    "\n"
    "      --api PATH        the socket (default $DENALI_API, else " DEFAULT_SOCKET ");\n"
    "                        made with mode 0660, its directory 0750\n"
    "      --state-dir DIR   where each fleet's consoles and monitor log go\n"
    "                        (default " DEFAULT_STATE_DIR ")\n"
    "  -h, --help            show this help\n"
    "\n"
    "SIGINT or SIGTERM ends every fleet, removes the socket and exits 0.\n";

struct daemon_options {
    const char *socket_path;
    const char *state_dir;
};

/* 0 to run, 1 when help was shown, -1 on bad usage. */
static int parse_options(int argc, char **argv, struct daemon_options *out)
{
    static const struct option long_options[] = {
        {"api", required_argument, NULL, 'a'},
        {"state-dir", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *env = getenv("DENALI_API");
    *out = (struct daemon_options){
        .socket_path = env && env[0] ? env : DEFAULT_SOCKET,
        .state_dir = DEFAULT_STATE_DIR,
    };
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case 'a':
            out->socket_path = optarg;
            break;
        case 's':
            out->state_dir = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 1;
        case ':':
            fprintf(stderr, "denali daemon: option '%s' needs a value\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "denali daemon: unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "denali daemon: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int make_state_dir(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0750) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(path, 0750) < 0 && errno != EEXIST ? -1 : 0;
}

static void find_platforms(struct daemon *daemon)
{
    char why[192];
    daemon->kvm_available = platform_available(PLATFORM_KVM, why, sizeof(why));
    daemon->process_available = platform_available(PLATFORM_PROCESS, why, sizeof(why));
    /* What `--platform auto` picks: kvm when it can be used, else process. */
    daemon->default_platform = daemon->kvm_available ? "kvm" : "process";
}

int daemon_main(int argc, char **argv)
{
    struct daemon_options options;
    int parsed = parse_options(argc, argv, &options);
    if (parsed != 0)
        return parsed > 0 ? 0 : EXIT_USAGE;
    static struct daemon daemon;
    /* Absolute, so the paths in each monitor's command line do not depend on a working directory.
     */
    char *state_dir =
        make_state_dir(options.state_dir) == 0 ? realpath(options.state_dir, NULL) : NULL;
    if (!state_dir) {
        fprintf(stderr, "denali daemon: --state-dir %s: %s\n", options.state_dir, strerror(errno));
        return 1;
    }
    daemon.state_dir = state_dir;
    find_platforms(&daemon);
    /* Blocked before any thread starts, so only sigwait below sees them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    int listen_fd = api_socket_open(options.socket_path, err, sizeof(err));
    if (listen_fd < 0) {
        fprintf(stderr, "denali daemon: %s\n", err);
        return 1;
    }
    event_log_init(&daemon.events);
    registry_init(&daemon.registry, &daemon.events);
    struct api_server *server = NULL;
    if (control_loop_start(&daemon, err, sizeof(err)) < 0 ||
        !(server = api_server_start(&daemon, listen_fd, err, sizeof(err)))) {
        fprintf(stderr, "denali daemon: %s\n", err);
        unlink(options.socket_path);
        return 1;
    }
    fprintf(stderr, "denali daemon: serving the API on %s (state in %s)\n", options.socket_path,
            options.state_dir);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "denali daemon: %s: ending every fleet\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&daemon.stopping, true);
    event_log_close(&daemon.events);
    /* The socket goes first, so no new client finds a daemon that is ending. */
    unlink(options.socket_path);
    api_server_stop(server);
    control_loop_stop(&daemon);
    registry_destroy(&daemon.registry);
    event_log_destroy(&daemon.events);
    free(state_dir);
    return 0;
}
