/* Test guest: spins forever without a hypercall; only preemption and the monitor's limits stop it.
 */
#include "test_guest.h"

int main(void)
{
    started("loop_forever");
    for (;;)
        __asm__ volatile("");
}
