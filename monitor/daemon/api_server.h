/* The HTTP side of the daemon: libmicrohttpd on the API socket, and routing to the endpoints. */
#ifndef DENALI_API_SERVER_H
#define DENALI_API_SERVER_H

#include <stddef.h>

#include "daemon/daemon.h"

struct api_server;

/* Serves the API on listen_fd (a listening Unix socket, taken). NULL with err when it cannot. */
struct api_server *api_server_start(struct daemon *daemon, int listen_fd, char *err, size_t errlen);
/* Stops serving; waits for every connection's thread. */
void api_server_stop(struct api_server *server);

#endif
