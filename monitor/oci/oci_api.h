/* denali-oci's requests to the daemon: one call, its expected status, its JSON answer. */
#ifndef DENALI_OCI_API_H
#define DENALI_OCI_API_H

#include <json-c/json.h>
#include <stddef.h>

/*
 * One request (body: NULL or JSON). Returns the HTTP status, with *answer (if answer is not NULL)
 * the parsed body of a 2xx answer, or NULL when there is none. Returns -1 when the daemon
 * could not be reached. On any status other than expected, err holds one line with the
 * daemon's own message.
 */
long oci_api_call(const char *socket_path, const char *method, const char *path, json_object *body,
                  long expected, json_object **answer, char *err, size_t errlen);

/* The VM's state from GET /vms/ID ("created", "running", ...) in state (size statelen), and its
 * exit_status (-1 when null). Returns the HTTP status, or -1 when the daemon was not reached. */
long oci_api_vm_state(const char *socket_path, const char *vm, char *state, size_t statelen,
                      int *exit_status, char *err, size_t errlen);

#endif
