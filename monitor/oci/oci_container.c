/* One container as the commands see it: loaded from --root, with its status worked out. */
#include "oci/oci.h"
#include "oci/oci_api.h"
#include "oci/oci_log.h"

#include "cli/api_client.h"

#include <errno.h>
#include <string.h>

const char *oci_api_for(const struct oci_globals *g, const struct container *c)
{
    if (g->api_flag && g->api_flag[0])
        return g->api_flag;
    return c->api && c->api[0] ? c->api : api_socket_path(NULL);
}

int oci_load(const struct oci_globals *g, const char *id, struct container *c)
{
    char err[512];
    if (!container_id_is_valid(id))
        return oci_error("invalid container id %s: it is made of letters, digits and _+.-", id);
    if (container_load(g->root, id, c, err, sizeof(err)) != 0)
        return oci_error("%s", err);
    return 0;
}

const char *oci_status(const struct oci_globals *g, const struct container *c)
{
    /* As with runc, the container lives exactly as long as the process the shim watches. */
    if (!container_stub_is_alive(c))
        return "stopped";
    if (!c->started)
        return "created";
    if (!c->vm[0])
        return "running";
    char state[32], err[512];
    int exit_status;
    if (oci_api_vm_state(oci_api_for(g, c), c->vm, state, sizeof(state), &exit_status, err,
                         sizeof(err)) == 200 &&
        strcmp(state, "paused") == 0)
        return "paused";
    return "running";
}
