/* From a create request to the child monitor's `denali run` command line, checked by its parser. */
#ifndef DENALI_RUN_COMMAND_LINE_H
#define DENALI_RUN_COMMAND_LINE_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/create_request.h"

/* The descriptor the child monitor's control channel has (docs/API.md, "The control channel"). */
#define RUN_CONTROL_FD 3

/*
 * The NULL-terminated argv (argv[0] "denali") that starts request's fleet with its consoles in
 * console_dir: `denali run --control-fd 3 --console dir:... --no-progress -n N ...`. Before it
 * returns it checks everything after --control-fd with `denali run`'s own option parser, so a
 * bad combination gets that parser's message. NULL with one line in err otherwise.
 * *memory_bytes gets the VMs' memory size as the parser understood it.
 */
char **run_command_line(const struct create_request *request, const char *console_dir,
                        uint64_t *memory_bytes, char *err, size_t errlen);
void run_command_line_free(char **argv);

#endif
