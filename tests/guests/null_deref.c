/* Test guest: reads address 0; page 0 is unmapped, so the VM must die with a page fault. */
#include "test_guest.h"

int main(void)
{
    started("null_deref");
    int x = *(volatile int *)(uintptr_t)0;
    return survived("null_deref", x);
}
