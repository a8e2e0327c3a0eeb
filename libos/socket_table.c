/* ilwaco's socket objects (the fd table they share with files is fd_table.c). */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "net.h"
#include "socket.h"

/* Static: bounded, so a flood of connections cannot exhaust the application's heap. */
static struct sock socks[ILWACO_SOCK_MAX];
static unsigned in_use;

struct sock *ilwaco_sock_alloc(int type)
{
    for (unsigned i = 0; i < ILWACO_SOCK_MAX; i++) {
        if (!socks[i].in_use) {
            memset(&socks[i], 0, sizeof(socks[i]));
            socks[i].in_use = 1;
            socks[i].type = type;
            in_use++;
            return &socks[i];
        }
    }
    return NULL;
}

void ilwaco_sock_free(struct sock *s)
{
    if (s->in_use)
        in_use--;
    s->in_use = 0;
}

unsigned ilwaco_sockets_in_use(void)
{
    return in_use;
}
