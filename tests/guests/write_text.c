/* Test guest: writes over its own code; text is read-only, so the VM must die with a page fault. */
#include "test_guest.h"

int main(void)
{
    started("write_text");
    volatile unsigned char *code = (volatile unsigned char *)(uintptr_t)&main;
    code[0] = 0xc3;
    return survived("write_text", code[0]);
}
