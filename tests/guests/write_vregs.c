/* Test guest: writes to the virtual registers page, which is read-only; the VM must die. */
#include "test_guest.h"

int main(void)
{
    started("write_vregs");
    volatile struct denali_vregs *v = (volatile struct denali_vregs *)(uintptr_t)DENALI_VREGS_ADDR;
    v->vm_id = 12345;
    return survived("write_vregs", v->vm_id);
}
