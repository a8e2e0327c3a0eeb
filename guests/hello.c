/* Example guest: greets from its VM, the smallest program that exercises musl's stdio on ilwaco. */
#include <stdio.h>

#include <ilwaco.h>

int main(void)
{
    const volatile struct denali_vregs *v = ilwaco_vregs();
    printf("hello from vm %u of %u\n", (unsigned)v->vm_id, (unsigned)v->vm_count);
    return 0;
}
