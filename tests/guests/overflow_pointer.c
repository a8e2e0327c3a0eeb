/* Test guest: a console write whose address + length wraps past 2^64; the range check must not
 * wrap. */
#include "test_guest.h"

int main(void)
{
    started("overflow_pointer");
    long r = ilwaco_hypercall(DENALI_HC_CONSOLE_WRITE, 0xfffffffffffff000ull, 0x2000, 0);
    return survived("overflow_pointer", r);
}
