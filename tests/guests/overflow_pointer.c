/* Test guest: a console write whose address + length wraps past 2^64; the range check must not
 * wrap. */
#include "test_guest.h"

/*
 * The default length fits DENALI_CONSOLE_MAX, so a monitor cannot refuse it
 * for its size alone and must get the wrapped range right: 0xfffffffffffff000
 * + 0x1000 is 0 modulo 2^64. "overflow_pointer ADDR LEN" tries other pairs.
 */
int main(int argc, char **argv)
{
    uint64_t addr = 0xfffffffffffff000ull, len = 0x1000;
    if (argc == 3) {
        addr = strtoull(argv[1], 0, 0);
        len = strtoull(argv[2], 0, 0);
    }
    started("overflow_pointer");
    long r = ilwaco_hypercall(DENALI_HC_CONSOLE_WRITE, addr, len, 0);
    return survived("overflow_pointer", r);
}
