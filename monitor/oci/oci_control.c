/* The commands that change a container: start, kill, pause, resume, delete (and those refused). */
#include "oci/oci.h"
#include "oci/oci_api.h"
#include "oci/oci_log.h"
#include "oci/stub.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Parses a command's options: --help, and at most one flag without a value (shortopts names it),
 * which sets *flag. The positional arguments are left at argv[optind..]. -1 (after usage) when
 * something is wrong or too few or too many positional arguments remain; 1 for --help.
 */
static int parse_flags(int argc, char **argv, const char *usage, const struct option *options,
                       const char *shortopts, bool *flag, int min_positional, int max_positional)
{
    int option;
    while ((option = getopt_long(argc, argv, shortopts, options, NULL)) != -1) {
        if (option != 'h' && option != '?') {
            if (flag)
                *flag = true;
            continue;
        }
        if (option == 'h') {
            printf("usage: denali-oci %s\n", usage);
            return 1;
        }
        if (option == '?') {
            fprintf(stderr, "usage: denali-oci %s\n", usage);
            return -1;
        }
    }
    int positional = argc - optind;
    if (positional < min_positional || positional > max_positional) {
        fprintf(stderr, "usage: denali-oci %s\n", usage);
        return -1;
    }
    return 0;
}

static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {0}};

/* The exit status of a command after parse_flags said stop (r is 1 or -1). */
static int after_parse(int r)
{
    return r > 0 ? 0 : 2;
}

int oci_start(const struct oci_globals *g, int argc, char **argv)
{
    int r = parse_flags(argc, argv, "start ID", help_only, "h", NULL, 1, 1);
    if (r != 0)
        return after_parse(r);
    struct container c;
    if (oci_load(g, argv[optind], &c) != 0)
        return 1;
    char err[1024], path[256];
    int status = 1;
    const char *now = oci_status(g, &c);
    if (strcmp(now, "created") != 0) {
        oci_error("cannot start a container that is %s", now);
        goto done;
    }
    /* The stub must be there to follow the VM before the VM may run. */
    int fifo = stub_check_waiting(&c, err, sizeof(err));
    if (fifo < 0) {
        oci_error("%s", err);
        goto done;
    }
    snprintf(path, sizeof(path), "/vms/%s/start", c.vm);
    if (c.vm[0] &&
        oci_api_call(oci_api_for(g, &c), "POST", path, NULL, 204, NULL, err, sizeof(err)) != 204) {
        close(fifo);
        oci_error("cannot start the VM: %s", err);
        goto done;
    }
    c.started = true;
    if (container_save(&c, err, sizeof(err)) != 0)
        oci_warn("%s", err);
    if (stub_release(fifo, err, sizeof(err)) != 0) {
        oci_error("%s", err);
        goto done;
    }
    status = 0;
done:
    container_free(&c);
    return status;
}

struct signal_name {
    int number;
    const char *name;
};

static const struct signal_name signal_names[] = {
    {SIGHUP, "HUP"},     {SIGINT, "INT"},   {SIGQUIT, "QUIT"}, {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},
    {SIGUSR2, "USR2"},   {SIGTERM, "TERM"}, {SIGCONT, "CONT"}, {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
    {SIGWINCH, "WINCH"}, {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGABRT, "ABRT"},
};

/* A signal as kill's argument: 9, KILL or SIGKILL. -1 when it is none of these. */
static int parse_signal(const char *text)
{
    char *end;
    long number = strtol(text, &end, 10);
    if (end != text && *end == '\0')
        return number >= 0 && number < 65 ? (int)number : -1;
    const char *bare = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
        if (strcasecmp(bare, signal_names[i].name) == 0)
            return signal_names[i].number;
    return -1;
}

static const char *signal_name(int number)
{
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
        if (signal_names[i].number == number)
            return signal_names[i].name;
    return NULL;
}

int oci_kill(const struct oci_globals *g, int argc, char **argv)
{
    static const struct option options[] = {
        {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool all = false; /* one VM per container: all its processes are the VM */
    int r = parse_flags(argc, argv, "kill [--all] ID [SIGNAL]", options, "ah", &all, 1, 2);
    if (r != 0)
        return after_parse(r);
    const char *signal_text = optind + 1 < argc ? argv[optind + 1] : "SIGTERM";
    int signal_number = parse_signal(signal_text);
    if (signal_number < 0)
        return oci_error("unknown signal %s", signal_text);
    struct container c;
    if (oci_load(g, argv[optind], &c) != 0)
        return 1;
    int status = 1;
    char err[1024], path[256];
    const char *now = oci_status(g, &c);
    /* These words are the ones containerd's shim takes for "already gone". */
    if (strcmp(now, "stopped") == 0) {
        oci_error("container not running");
        goto done;
    }
    if (signal_number == 0) {
        status = 0;
        goto done;
    }
    if (strcmp(now, "created") == 0 || !c.vm[0]) {
        /* No VM runs (yet): the stub is the whole container, as runc's init would be. */
        if (kill(c.pid, signal_number) != 0)
            oci_error("container not running (%s)", strerror(errno));
        else
            status = 0;
        goto done;
    }
    const char *name = signal_name(signal_number);
    if (!name) {
        oci_error("signal %d cannot be given to a Denali VM", signal_number);
        goto done;
    }
    char full_name[16];
    snprintf(full_name, sizeof(full_name), "SIG%s", name);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "signal", json_object_new_string(full_name));
    snprintf(path, sizeof(path), "/vms/%s/kill", c.vm);
    long code = oci_api_call(oci_api_for(g, &c), "POST", path, body, 202, NULL, err, sizeof(err));
    json_object_put(body);
    if (code == 202)
        status = 0;
    else if (code == 409 || code == 404)
        oci_error("container not running (%s)", err);
    else
        oci_error("cannot signal the VM: %s", err);
done:
    container_free(&c);
    return status;
}

/* pause and resume: one POST each, on a running (or paused) container. */
static int pause_or_resume(const struct oci_globals *g, int argc, char **argv, const char *verb)
{
    char usage[32];
    snprintf(usage, sizeof(usage), "%s ID", verb);
    int r = parse_flags(argc, argv, usage, help_only, "h", NULL, 1, 1);
    if (r != 0)
        return after_parse(r);
    struct container c;
    if (oci_load(g, argv[optind], &c) != 0)
        return 1;
    char err[1024], path[256];
    int status = 0;
    const char *now = oci_status(g, &c);
    if (!c.vm[0]) {
        status = oci_error("container %s is a pod sandbox: it has no VM to %s", c.id, verb);
    } else if (strcmp(now, "running") != 0 && strcmp(now, "paused") != 0) {
        status = oci_error("container %s is %s: only a running one can %s", c.id, now, verb);
    } else {
        snprintf(path, sizeof(path), "/vms/%s/%s", c.vm, verb);
        if (oci_api_call(oci_api_for(g, &c), "POST", path, NULL, 204, NULL, err, sizeof(err)) !=
            204)
            status = oci_error("cannot %s the VM: %s", verb, err);
    }
    container_free(&c);
    return status;
}

int oci_pause(const struct oci_globals *g, int argc, char **argv)
{
    return pause_or_resume(g, argc, argv, "pause");
}

int oci_resume(const struct oci_globals *g, int argc, char **argv)
{
    return pause_or_resume(g, argc, argv, "resume");
}

int oci_delete(const struct oci_globals *g, int argc, char **argv)
{
    static const struct option options[] = {
        {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool force = false;
    int r = parse_flags(argc, argv, "delete [--force] ID", options, "fh", &force, 1, 1);
    if (r != 0)
        return after_parse(r);
    const char *id = argv[optind];
    if (!container_id_is_valid(id))
        return oci_error("invalid container id %s: it is made of letters, digits and _+.-", id);
    struct container c;
    char err[1024], path[256];
    if (container_load(g->root, id, &c, err, sizeof(err)) != 0) {
        /* runc's --force forgets what does not exist without a word; the shim counts on it. */
        return force && errno == ENOENT ? 0 : oci_error("%s", err);
    }
    int status = 1;
    const char *now = oci_status(g, &c);
    if (!force && strcmp(now, "running") == 0) {
        oci_error("cannot delete container %s that is not stopped: %s", id, now);
        goto done;
    }
    if (!force && strcmp(now, "paused") == 0) {
        oci_error("cannot delete container %s that is not stopped: %s", id, now);
        goto done;
    }
    /* Forced in the API whatever our own --force: the VM must not outlive its container. */
    snprintf(path, sizeof(path), "/vms/%s?force=true", c.vm);
    long code = c.vm[0] ? oci_api_call(oci_api_for(g, &c), "DELETE", path, NULL, 204, NULL, err,
                                       sizeof(err))
                        : 204;
    if (code != 204 && code != 404) {
        if (!force) {
            oci_error("cannot remove the VM: %s", err);
            goto done;
        }
        oci_warn("cannot remove the VM %s: %s", c.vm, err);
    }
    if (container_stub_is_alive(&c))
        kill(c.pid, SIGKILL);
    if (container_remove(&c, err, sizeof(err)) != 0) {
        oci_error("%s", err);
        goto done;
    }
    status = 0;
done:
    container_free(&c);
    return status;
}

int oci_refuse(const struct oci_globals *g, int argc, char **argv)
{
    (void)g;
    (void)argc;
    const char *why = "";
    if (strcmp(argv[0], "exec") == 0)
        why = ": a Denali VM runs one guest image; there is nothing to exec into";
    else if (strcmp(argv[0], "update") == 0)
        why = ": a VM's resources are fixed when it is created (org.denali.* annotations)";
    return oci_error("%s is not supported by denali-oci%s", argv[0], why);
}
