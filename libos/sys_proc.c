/* ilwaco's process calls: exit, identity, signals (never delivered) and randomness. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "fd_table.h"
#include "internal.h"

_Noreturn void ilwaco_sys_exit(long status)
{
    /* A guest that wrote files and never called fsync still leaves a consistent file system. */
    if (&ilwaco_file_calls)
        ilwaco_file_calls.unmount();
    ilwaco_exit((int)status);
}

long ilwaco_sys_uname(void *buf)
{
    struct utsname *u = buf;
    memset(u, 0, sizeof(*u));
    strcpy(u->sysname, "Denali");
    snprintf(u->nodename, sizeof(u->nodename), "vm%u", (unsigned)ilwaco__vregs()->vm_id);
    snprintf(u->release, sizeof(u->release), "ilwaco-abi%u", DENALI_ABI_VERSION);
    strcpy(u->version, "ilwaco");
    strcpy(u->machine, "x86_64");
    return 0;
}

/*
 * A signal sent to ourselves (abort, raise) cannot be delivered to a
 * handler, so it ends the VM the way an unhandled signal ends a process,
 * with the shell's 128 + signal status and a line saying why.
 */
long ilwaco_sys_kill(long pid, long sig)
{
    if (sig < 0 || sig >= _NSIG)
        return -EINVAL;
    if (pid != 0 && pid != 1 && pid != -1)
        return -ESRCH;
    if (sig == 0)
        return 0;
    char line[48];
    int n = snprintf(line, sizeof(line), "ilwaco: terminated by signal %ld\n", sig);
    ilwaco_console_write(line, (size_t)n);
    ilwaco_exit(128 + (int)sig);
}

long ilwaco_sys_sigprocmask(void *oldset, size_t setsize)
{
    /* Every signal is effectively blocked and none is ever pending: report an empty mask. */
    if (oldset)
        memset(oldset, 0, setsize < 128 ? setsize : 128);
    return 0;
}

long ilwaco_sys_sigaction(void *oldact, size_t setsize)
{
    /* The kernel's sigaction is handler, flags and restorer, then the mask of setsize bytes. */
    if (oldact)
        memset(oldact, 0, 3 * sizeof(void *) + (setsize < 128 ? setsize : 128));
    return 0;
}

long ilwaco_sys_getrandom(void *buf, size_t len)
{
    ilwaco_random_fill(buf, len);
    return (long)len;
}
