/* The stub: the process the shim sees as the container's, living exactly as long as the VM. */
#include "oci/stub.h"
#include "oci/oci_api.h"
#include "oci/oci_log.h"

#include "cli/api_client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The descriptor on which the stub finds its start FIFO. */
#define STUB_FIFO_FD 3

/* How long the stub keeps trying a daemon it cannot reach before it gives the VM up. */
#define STUB_PATIENCE_SECONDS 30

int stub_prepare_fifo(const struct container *c, char *err, size_t errlen)
{
    char *path = container_fifo_path(c);
    int fd = -1;
    if (mkfifo(path, 0600) != 0) {
        snprintf(err, errlen, "cannot make %s: %s", path, strerror(errno));
    } else {
        /*
         * Read and write: the stub then always holds a writer itself, so its read waits for a
         * byte instead of ending at once, and a writer's non-blocking open fails only when no
         * stub holds the FIFO.
         */
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    }
    free(path);
    return fd;
}

pid_t stub_spawn(const struct oci_globals *g, const struct container *c, int fifo, char *err,
                 size_t errlen)
{
    /* Whether exec worked: the child's end closes on exec, or carries its errno. */
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "cannot start the stub: %s", strerror(errno));
        return -1;
    }
    const char *argv[16];
    int n = 0;
    argv[n++] = "denali-oci";
    argv[n++] = "--root";
    argv[n++] = g->root;
    if (g->log_path) {
        argv[n++] = "--log";
        argv[n++] = g->log_path;
        argv[n++] = "--log-format";
        argv[n++] = g->log_format;
    }
    argv[n++] = "stub";
    argv[n++] = c->id;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot start the stub: %s", strerror(errno));
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        /* Out of the way first, so that placing one cannot overwrite the other. */
        int high_fifo = fcntl(fifo, F_DUPFD_CLOEXEC, 64);
        int high_report = fcntl(report[1], F_DUPFD_CLOEXEC, 64);
        if (high_fifo < 0 || high_report < 0 || dup2(high_fifo, STUB_FIFO_FD) < 0 ||
            dup3(high_report, STUB_FIFO_FD + 1, O_CLOEXEC) < 0)
            _exit(127);
        close_range(STUB_FIFO_FD + 2, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv("/proc/self/exe", (char **)argv);
        int failure = errno;
        if (write(STUB_FIFO_FD + 1, &failure, sizeof(failure)) < 0)
            _exit(127);
        _exit(127);
    }
    close(report[1]);
    int failure;
    ssize_t got;
    do
        got = read(report[0], &failure, sizeof(failure));
    while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof(failure)) {
        waitpid(pid, NULL, 0);
        snprintf(err, errlen, "cannot start the stub (/proc/self/exe): %s", strerror(failure));
        return -1;
    }
    return pid;
}

int stub_check_waiting(const struct container *c, char *err, size_t errlen)
{
    char *path = container_fifo_path(c);
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        snprintf(err, errlen, "no stub waits on %s: %s", path, strerror(saved));
        errno = saved;
    }
    free(path);
    return fd;
}

int stub_release(int fifo, char *err, size_t errlen)
{
    char go = 1;
    int result = 0;
    if (write(fifo, &go, 1) != 1) {
        snprintf(err, errlen, "cannot release the stub: %s", strerror(errno));
        result = -1;
    }
    close(fifo);
    return result;
}

/* The console so far, copied to standard output; a new stream after a break skips what was
 * copied. */
struct console_copy {
    unsigned long long copied;   /* bytes of the console already written out */
    unsigned long long position; /* where this stream is in the console */
    bool output_gone;            /* the reader has left: keep following, stop writing */
};

static int copy_console(void *ctx, const char *data, size_t length)
{
    struct console_copy *copy = ctx;
    size_t skip = 0;
    if (copy->position < copy->copied)
        skip = copy->copied - copy->position < length ? copy->copied - copy->position : length;
    copy->position += length;
    for (size_t done = skip; done < length && !copy->output_gone;) {
        ssize_t n = write(STDOUT_FILENO, data + done, length - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            copy->output_gone = true;
        else
            done += (size_t)n;
    }
    if (copy->position > copy->copied)
        copy->copied = copy->position;
    return 0;
}

static void pause_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/*
 * Follows the VM's console until the VM ends, and returns its exit status: the guest's own, or
 * 137 for a VM the monitor stopped without one (killed), or one that is gone from the daemon.
 */
static int follow_vm(const char *api, const char *vm)
{
    char path[256], err[512], state[32];
    snprintf(path, sizeof(path), "/vms/%s/logs?follow=true", vm);
    struct console_copy copy = {0};
    int unreachable_seconds = 0;
    int exit_status;
    for (;;) {
        /* An error's body would reach the stream's reader: a VM known to be gone is not asked. */
        if (oci_api_vm_state(api, vm, state, sizeof(state), &exit_status, err, sizeof(err)) == 404)
            return 137;
        long status = 0;
        copy.position = 0;
        /* The stream ends when the VM does (or the daemon or the connection goes). */
        api_stream(api, path, copy_console, &copy, &status, err, sizeof(err));
        long known =
            oci_api_vm_state(api, vm, state, sizeof(state), &exit_status, err, sizeof(err));
        if (known == 404)
            return 137; /* removed by a forced delete */
        if (known == 200 && strcmp(state, "exited") == 0)
            return exit_status >= 0 ? exit_status & 0xff : 0;
        if (known == 200 && strcmp(state, "stopped") == 0)
            return exit_status >= 0 ? exit_status & 0xff : 137;
        if (known == 200) {
            unreachable_seconds = 0;
            /* Still live: the stream broke, or the daemon has not yet recorded the end. */
            pause_ms(200);
            continue;
        }
        if (++unreachable_seconds > STUB_PATIENCE_SECONDS) {
            oci_error("the stub of VM %s lost the daemon: %s", vm, err);
            return 255;
        }
        pause_ms(1000);
    }
}

int oci_stub(const struct oci_globals *g, int argc, char **argv)
{
    if (argc != 2)
        return oci_error("stub: used by create only");
    struct container c;
    char err[512];
    if (container_load(g->root, argv[1], &c, err, sizeof(err)) != 0)
        return oci_error("stub: %s", err);
    char go;
    ssize_t got;
    do
        got = read(STUB_FIFO_FD, &go, 1);
    while (got < 0 && errno == EINTR);
    close(STUB_FIFO_FD);
    if (got != 1) {
        container_free(&c);
        return oci_error("stub: no start FIFO on descriptor %d", STUB_FIFO_FD);
    }
    if (!c.vm[0]) {
        /* A pod sandbox: it holds nothing, and waits to be killed, as the pause program does. */
        container_free(&c);
        for (;;)
            pause();
    }
    /* A reader of the console that leaves must not end the stub while the VM goes on. */
    signal(SIGPIPE, SIG_IGN);
    int status = follow_vm(oci_api_for(g, &c), c.vm);
    container_free(&c);
    return status;
}
