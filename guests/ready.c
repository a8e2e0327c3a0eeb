/* Example guest for --clone: runs to its ready call, then prints its identity and a random. */
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

#include <ilwaco.h>

int main(void)
{
    /* Only the template gets this far before the snapshot; clones resume below. */
    printf("template booted\n");
    fflush(stdout);
    int cloned = ilwaco_ready();
    const volatile struct denali_vregs *v = ilwaco_vregs();
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return 1;
    printf("vm %u of %u clone=%d mac=%02x ipv4=%08x random=%016llx\n", (unsigned)v->vm_id,
           (unsigned)v->vm_count, cloned, v->mac[5], (unsigned)v->ipv4, (unsigned long long)r);
    return 0;
}
