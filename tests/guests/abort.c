/* Test guest: calls abort(); with no signal delivery ilwaco must end the VM with status 134. */
#include "test_guest.h"

int main(void)
{
    started("abort");
    abort();
}
