/* denali-oci's requests to the daemon: one call, its expected status, its JSON answer. */
#include "oci/oci_api.h"

#include "cli/api_client.h"

#include <stdio.h>
#include <string.h>

long oci_api_call(const char *socket_path, const char *method, const char *path, json_object *body,
                  long expected, json_object **answer, char *err, size_t errlen)
{
    if (answer)
        *answer = NULL;
    struct api_response response;
    const char *text = body ? json_object_to_json_string_ext(
                                  body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                            : NULL;
    if (api_request(socket_path, method, path, text, &response, err, errlen) != 0)
        return -1;
    long status = response.status;
    if (status != expected)
        snprintf(err, errlen, "%s %s: %ld %s", method, path, status, api_fault_message(&response));
    else if (answer && response.length > 0)
        *answer = json_tokener_parse(response.body);
    api_response_free(&response);
    return status;
}

long oci_api_vm_state(const char *socket_path, const char *vm, char *state, size_t statelen,
                      int *exit_status, char *err, size_t errlen)
{
    char path[256];
    snprintf(path, sizeof(path), "/vms/%s", vm);
    json_object *answer;
    long status = oci_api_call(socket_path, "GET", path, NULL, 200, &answer, err, errlen);
    state[0] = '\0';
    *exit_status = -1;
    if (status != 200)
        return status;
    json_object *value;
    if (answer && json_object_object_get_ex(answer, "state", &value) &&
        json_object_is_type(value, json_type_string))
        snprintf(state, statelen, "%s", json_object_get_string(value));
    if (answer && json_object_object_get_ex(answer, "exit_status", &value) &&
        json_object_is_type(value, json_type_int))
        *exit_status = json_object_get_int(value);
    json_object_put(answer);
    if (!state[0]) {
        snprintf(err, errlen, "GET %s: the answer has no state", path);
        return -1;
    }
    return status;
}
