/* Test guest: a console write from address 0; page 0 is never guest-accessible, so it must be
 * refused. */
#include "test_guest.h"

int main(void)
{
    started("null_pointer");
    long r = ilwaco_hypercall(DENALI_HC_CONSOLE_WRITE, 0, 16, 0);
    return survived("null_pointer", r);
}
