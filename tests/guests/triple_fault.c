/* Test guest: executes ud2; with no guest IDT the #UD becomes a triple fault and must end the VM.
 */
#include "test_guest.h"

int main(void)
{
    started("triple_fault");
    __asm__ volatile("ud2");
    return survived("triple_fault", 0);
}
