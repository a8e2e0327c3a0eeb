/* Test guest: issues hypercall number 200, which does not exist; the monitor must stop it. */
#include "test_guest.h"

int main(void)
{
    started("bad_hypercall");
    long r = ilwaco_hypercall(200, 0, 0, 0);
    return survived("bad_hypercall", r);
}
