/* Example guest for ballooning: uses and frees MIB MiB of heap, then idles; gives it back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ilwaco.h>

#define MIB        (1024 * 1024)
#define STEP_NS    20000000ull /* 20 ms */
#define CHUNKS_MAX 64

int main(int argc, char **argv)
{
    int mib = argc > 1 ? atoi(argv[1]) : 4;
    int secs = argc > 2 ? atoi(argv[2]) : 2;
    if (argc > 3 || mib < 1 || mib > CHUNKS_MAX || secs < 1 || secs > 600) {
        fprintf(stderr, "usage: balloon [MIB [SECONDS]]   (defaults 4 and 2; MIB up to %d)\n",
                CHUNKS_MAX);
        return 2;
    }
    /* Under --clone every VM is a clone from here, and the memory below is its own. */
    ilwaco_ready();
    /* A MiB at a time: large enough for musl to map and unmap it, so the pages go back to ilwaco.
     */
    char *chunks[CHUNKS_MAX];
    for (int i = 0; i < mib; i++) {
        chunks[i] = malloc(MIB);
        if (!chunks[i]) {
            fprintf(stderr, "balloon: out of memory after %d MiB\n", i);
            return 1;
        }
        memset(chunks[i], 0xa5, MIB);
    }
    for (int i = 0; i < mib; i++)
        free(chunks[i]);
    printf("balloon: used and freed %d KiB\n", mib * 1024);
    fflush(stdout);
    uint64_t end = ilwaco_time_ns() + (uint64_t)secs * 1000000000ull;
    while (ilwaco_time_ns() < end)
        ilwaco_idle(ilwaco_time_ns() + STEP_NS);
    /* Pages given back come back as zeroes when used again: use them all again and check. */
    for (int i = 0; i < mib; i++) {
        chunks[i] = calloc(1, MIB);
        if (!chunks[i]) {
            fprintf(stderr, "balloon: out of memory again after %d MiB\n", i);
            return 1;
        }
        for (size_t j = 0; j < MIB; j += 4096)
            if (chunks[i][j]) {
                fprintf(stderr, "balloon: a reused page is not zero\n");
                return 1;
            }
        memset(chunks[i], i + 1, MIB);
    }
    for (int i = 0; i < mib; i++)
        for (size_t j = 0; j < MIB; j += 512)
            if (chunks[i][j] != (char)(i + 1)) {
                fprintf(stderr, "balloon: MiB %d changed under the guest\n", i);
                return 1;
            }
    printf("balloon: reused %d KiB intact\n", mib * 1024);
    return 0;
}
