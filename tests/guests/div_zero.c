/* Test guest: divides by zero with a real div instruction; the #DE must end the VM. */
#include "test_guest.h"

int main(void)
{
    started("div_zero");
    unsigned quotient = 1, remainder = 0;
    /* In asm because C division by a known zero is undefined and the compiler may drop it. */
    __asm__ volatile("divl %2" : "+a"(quotient), "+d"(remainder) : "r"(0u));
    return survived("div_zero", quotient);
}
