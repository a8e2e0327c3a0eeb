/* Test guest: recurses without bound until the stack hits its unmapped guard page. */
#include "test_guest.h"

/* Never reached, and volatile so the compiler cannot prove the recursion is infinite. */
static volatile unsigned long limit = ~0ul;

static unsigned long recurse(unsigned long depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth == limit)
        return 0;
    /* The addition after the call keeps it from becoming a loop. */
    return recurse(depth + 1) + (unsigned char)frame[0];
}

int main(void)
{
    started("stack_overflow");
    return survived("stack_overflow", (long)recurse(0));
}
