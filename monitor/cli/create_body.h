/* `denali run -d`'s command line made into the create body of POST /vms (docs/API.md): pure. */
#ifndef DENALI_CLI_CREATE_BODY_H
#define DENALI_CLI_CREATE_BODY_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

enum create_result { CREATE_OK, CREATE_HELP, CREATE_ERROR };

struct create_request {
    json_object *body; /* the caller's to put */
    const char *api;   /* --api PATH, or NULL */
    unsigned count;    /* VMs the body asks for */
};

/*
 * argv[0] is "run"; -d or --detach may come anywhere before IMAGE. `denali run`'s own parser
 * checks the options, so a detached run refuses what an attached one would, with the same words;
 * options that only make sense attached (--console, --stats, --progress, ...) are refused too.
 * Relative paths (IMAGE, --restore, --swap) are made absolute against cwd, as the daemon has its
 * own working directory. One line in err on CREATE_ERROR.
 */
enum create_result create_body_parse(int argc, char **argv, const char *cwd,
                                     struct create_request *out, char *err, size_t errlen);

/* Whether -d or --detach comes before IMAGE among `denali run` arguments (argv[0] "run"). */
bool create_body_is_detached(int argc, char **argv);

#endif
