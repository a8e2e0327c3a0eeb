/* Test guest: writes to I/O port 0x80, outside the Denali hypercall range; the monitor must stop
 * it. */
#include "test_guest.h"

int main(void)
{
    started("bad_port");
    __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"((uint16_t)0x80) : "memory");
    return survived("bad_port", 0);
}
