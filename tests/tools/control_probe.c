/* Test tool: drives `denali run --control-fd` through a script of sends and waits, printing events.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PACKET_MAX (64 << 10)

static const char usage[] =
    "usage: control_probe [--timeout S] STEP... -- DENALI run [OPTIONS] IMAGE [ARGS...]\n"
    "Starts the monitor with its control channel on descriptor 3, then does each STEP:\n"
    "  send:JSON       send one command packet\n"
    "  raw:TEXT        send TEXT as a packet as it is (for malformed commands)\n"
    "  wait:TEXT       read events until one contains TEXT\n"
    "  sleep:MS        wait, printing events meanwhile\n"
    "  close           close the channel (the daemon going away)\n"
    "Every event read is printed on its own line. At the end it waits for the monitor and\n"
    "prints `monitor exit N`. Exit 0, or 1 if a wait timed out (--timeout, default 30 s).\n";

static int channel = -1;
static double timeout_s = 30;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads events until one contains want (NULL: none) or until the time is up. */
static int read_events(const char *want, double until)
{
    static char packet[PACKET_MAX + 1];
    while (channel >= 0) {
        double left = until - now_s();
        if (left <= 0)
            return want ? -1 : 0;
        struct pollfd pfd = {.fd = channel, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno != EINTR)
            return -1;
        if (ready <= 0)
            continue;
        ssize_t n = recv(channel, packet, PACKET_MAX, 0);
        if (n <= 0)
            return want ? -1 : 0; /* the monitor has gone */
        packet[n] = '\0';
        printf("%s\n", packet);
        fflush(stdout);
        if (want && strstr(packet, want))
            return 0;
    }
    return want ? -1 : 0;
}

int main(int argc, char **argv)
{
    int first_step = 1;
    if (argc > 2 && strcmp(argv[1], "--timeout") == 0) {
        timeout_s = atof(argv[2]);
        first_step = 3;
    }
    int dashes = -1;
    for (int i = first_step; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dashes = i;
            break;
        }
    if (dashes < 0 || dashes + 1 >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        perror("control_probe: socketpair");
        return 2;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("control_probe: fork");
        return 2;
    }
    if (child == 0) {
        if (dup2(pair[1], 3) < 0)
            _exit(127);
        execvp(argv[dashes + 1], argv + dashes + 1);
        perror("control_probe: exec");
        _exit(127);
    }
    close(pair[1]);
    channel = pair[0];
    int status = 0;
    for (int i = first_step; i < dashes && status == 0; i++) {
        const char *step = argv[i];
        if (strncmp(step, "send:", 5) == 0 || strncmp(step, "raw:", 4) == 0) {
            const char *text = strchr(step, ':') + 1;
            if (channel < 0 || send(channel, text, strlen(text), MSG_NOSIGNAL) < 0) {
                fprintf(stderr, "control_probe: cannot send %s\n", text);
                status = 1;
            }
        } else if (strncmp(step, "wait:", 5) == 0) {
            if (read_events(step + 5, now_s() + timeout_s) < 0) {
                fprintf(stderr, "control_probe: no event with %s\n", step + 5);
                status = 1;
            }
        } else if (strncmp(step, "sleep:", 6) == 0) {
            read_events(NULL, now_s() + atof(step + 6) / 1000);
        } else if (strcmp(step, "close") == 0) {
            close(channel);
            channel = -1;
        } else {
            fprintf(stderr, "control_probe: unknown step '%s'\n", step);
            status = 2;
        }
    }
    if (status != 0)
        kill(child, SIGKILL);
    /* The rest of the events, until the monitor ends and closes its end. */
    read_events(NULL, now_s() + timeout_s);
    int wstatus;
    waitpid(child, &wstatus, 0);
    printf("monitor exit %d\n",
           WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
    return status;
}
