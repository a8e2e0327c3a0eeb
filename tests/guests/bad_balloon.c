/* Test guest: gives back memory it cannot (text, unaligned, outside); the monitor must stop it. */
#include <string.h>

#include "test_guest.h"

int main(int argc, char **argv)
{
    started("bad_balloon");
    uint64_t addr = 0x100000, len = 4096; /* text: the image's own pages, from its file */
    if (argc > 1 && strcmp(argv[1], "unaligned") == 0)
        addr = ilwaco_vregs()->image_end + 4096 + 1;
    else if (argc > 1 && strcmp(argv[1], "outside") == 0)
        addr = ilwaco_vregs()->mem_size, len = 8192;
    long r = ilwaco_hypercall(DENALI_HC_BALLOON, addr, len, 0);
    return survived("bad_balloon", r);
}
