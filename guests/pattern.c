/* Example guest for paging: fills MIB MiB with a pattern of its id, checks both after each idle. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <ilwaco.h>

static uint64_t word(uint32_t id, uint64_t i)
{
    uint64_t x = ((uint64_t)id << 40) ^ (i * 0x9e3779b97f4a7c15ull);
    return x ^ (x >> 29);
}

int main(int argc, char **argv)
{
    int mib = argc > 1 ? atoi(argv[1]) : 2;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    int pause_ms = argc > 3 ? atoi(argv[3]) : 1000;
    if (argc > 4 || mib < 1 || mib > 1024 || rounds < 1 || pause_ms < 0) {
        fprintf(stderr, "usage: pattern [MIB [ROUNDS [PAUSE_MS]]]   (defaults 2, 3, 1000)\n");
        return 2;
    }
    /* With --clone every VM resumes here as a clone, its own id already in the registers. */
    ilwaco_ready();
    uint32_t id = ilwaco_vregs()->vm_id;
    size_t words = (size_t)mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *mem = malloc(words * sizeof(uint64_t));
    if (!mem) {
        fprintf(stderr, "pattern: cannot allocate %d MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < words; i++)
        mem[i] = word(id, i);
    for (int r = 1; r <= rounds; r++) {
        ilwaco_idle(ilwaco_time_ns() + (uint64_t)pause_ms * 1000000ull);
        /* Its identity is memory too: a clone woken from swap must still be itself. */
        if (ilwaco_vregs()->vm_id != id) {
            printf("pattern: vm %u round %d: the registers name vm %u\n", id, r,
                   (unsigned)ilwaco_vregs()->vm_id);
            return 1;
        }
        for (size_t i = 0; i < words; i++)
            if (mem[i] != word(id, i)) {
                printf("pattern: vm %u round %d: word %zu is %016llx, expected %016llx\n", id, r, i,
                       (unsigned long long)mem[i], (unsigned long long)word(id, i));
                return 1;
            }
    }
    printf("pattern: vm %u: %d MiB intact after %d rounds\n", id, mib, rounds);
    return 0;
}
