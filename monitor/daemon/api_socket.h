/* The API's Unix socket: made with the contract's modes, refused while another daemon answers. */
#ifndef DENALI_API_SOCKET_H
#define DENALI_API_SOCKET_H

#include <stddef.h>

/*
 * A listening socket at path (its directory made with mode 0750 when missing, the socket 0660).
 * A stale socket there (nobody answers) is replaced; a live one or any other file is not.
 * -1 with one line in err.
 */
int api_socket_open(const char *path, char *err, size_t errlen);

#endif
