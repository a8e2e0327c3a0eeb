/* The stub: the process the shim sees as the container's, living exactly as long as the VM. */
#ifndef DENALI_OCI_STUB_H
#define DENALI_OCI_STUB_H

#include "oci/oci.h"

#include <stddef.h>
#include <sys/types.h>

/* Makes c's start FIFO and opens it for the stub. The descriptor, or -1 with err. */
int stub_prepare_fifo(const struct container *c, char *err, size_t errlen);

/*
 * Starts the stub (this program again, as `denali-oci stub ID`) with fifo as its descriptor 3 and
 * this process's standard descriptors as its own: the shim gave create the container's stdio.
 * Its pid once it runs, or -1 with err.
 */
pid_t stub_spawn(const struct oci_globals *g, const struct container *c, int fifo, char *err,
                 size_t errlen);

/*
 * Lets c's stub go on once the VM has been started: -1 with err (errno ENXIO) when no stub is
 * waiting. stub_check_waiting opens the FIFO first, so that start can refuse before it starts
 * the VM; stub_release then writes to it and closes it.
 */
int stub_check_waiting(const struct container *c, char *err, size_t errlen);
int stub_release(int fifo, char *err, size_t errlen);

#endif
