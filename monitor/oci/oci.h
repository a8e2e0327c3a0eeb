/* What denali-oci's commands share: the global options, and each command's entry point. */
#ifndef DENALI_OCI_H
#define DENALI_OCI_H

#include "oci/oci_state.h"

#define OCI_VERSION      "0.11.0"
#define OCI_SPEC_VERSION "1.0.2"

struct oci_globals {
    const char *root;       /* --root: the containers' records */
    const char *api_flag;   /* --api, or NULL (then DENALI_API, then the default) */
    const char *log_path;   /* --log, or NULL */
    const char *log_format; /* --log-format: text or json */
};

/* The daemon's socket for c: --api if given, else the one c was created with. */
const char *oci_api_for(const struct oci_globals *g, const struct container *c);

/* Loads container id, reporting a failure as a command does (then returns 1); 0 when loaded. */
int oci_load(const struct oci_globals *g, const char *id, struct container *c);

/* Each command gets its own argv, argv[0] being the command's name; returns the exit status. */
int oci_create(const struct oci_globals *g, int argc, char **argv);
int oci_start(const struct oci_globals *g, int argc, char **argv);
int oci_kill(const struct oci_globals *g, int argc, char **argv);
int oci_delete(const struct oci_globals *g, int argc, char **argv);
int oci_pause(const struct oci_globals *g, int argc, char **argv);
int oci_resume(const struct oci_globals *g, int argc, char **argv);
int oci_state(const struct oci_globals *g, int argc, char **argv);
int oci_ps(const struct oci_globals *g, int argc, char **argv);
int oci_list(const struct oci_globals *g, int argc, char **argv);
int oci_features(const struct oci_globals *g, int argc, char **argv);
int oci_refuse(const struct oci_globals *g, int argc, char **argv);
/* The stub process (stub.c), run by create with the start FIFO as descriptor 3. */
int oci_stub(const struct oci_globals *g, int argc, char **argv);

/*
 * The container's status as OCI state reports it: "created" (stub waiting for start), "running",
 * "paused" (the daemon says so) or "stopped" (the stub has ended).
 */
const char *oci_status(const struct oci_globals *g, const struct container *c);

#endif
