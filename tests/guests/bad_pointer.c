/* Test guest: asks for a console write from beyond the end of its memory; the monitor must refuse.
 */
#include "test_guest.h"

int main(void)
{
    started("bad_pointer");
    uint64_t beyond = ilwaco_vregs()->mem_size + DENALI_PAGE_SIZE;
    long r = ilwaco_hypercall(DENALI_HC_CONSOLE_WRITE, beyond, 16, 0);
    return survived("bad_pointer", r);
}
