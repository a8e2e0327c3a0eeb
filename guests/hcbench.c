/* Example guest: times N null hypercalls on the virtual clock, the guest's view of exit cost. */
#include <stdio.h>
#include <stdlib.h>

#include <ilwaco.h>

int main(int argc, char **argv)
{
    char *end = 0;
    unsigned long long n = argc == 2 ? strtoull(argv[1], &end, 10) : 0;
    if (argc != 2 || end == argv[1] || *end != '\0' || argv[1][0] == '-') {
        fprintf(stderr, "usage: hcbench N\n");
        return 2;
    }

    /* One call first so t0 is a time the monitor wrote just now, not at boot. */
    ilwaco_hypercall(DENALI_HC_NOP, 0, 0, 0);
    uint64_t t0 = ilwaco_time_ns();
    for (unsigned long long i = 0; i < n; i++)
        ilwaco_hypercall(DENALI_HC_NOP, 0, 0, 0);
    uint64_t t = ilwaco_time_ns() - t0;

    printf("hcbench: %llu calls %llu ns %llu ns/call\n", n, (unsigned long long)t,
           n ? (unsigned long long)(t / n) : 0ull);
    return 0;
}
