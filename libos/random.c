/* ilwaco's pseudo-random generator (xoshiro256**): seeded by the host per VM, boot and clone; not
 * cryptographic. */
#include <string.h>

#include "internal.h"

static uint64_t state[4];

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next(void)
{
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

void ilwaco_random_init(void)
{
    const volatile struct denali_vregs *v = ilwaco__vregs();
    /*
     * The guest has no entropy source of its own; the VM's identity and the
     * boot time at least make every VM's stream different.
     */
    uint64_t seed = ((uint64_t)v->vm_id << 32 | v->vm_count) ^ v->time_ns;
    seed ^= (uint64_t)v->ipv4 << 16 ^ (uint64_t)v->mac[5] << 56 ^ (uint64_t)v->mac[4] << 48;
    /* The host's own random bits, fresh for every boot and every clone. */
    seed ^= (uint64_t)v->entropy[0] << 32 | v->entropy[1];
    for (int i = 0; i < 4; i++)
        state[i] = splitmix(&seed);
}

void ilwaco_random_fill(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        uint64_t r = next();
        size_t n = len < sizeof(r) ? len : sizeof(r);
        memcpy(p, &r, n);
        p += n;
        len -= n;
    }
}
