/* Native start-to-exit floor for bench/boot.sh: a static host program printing one line. */
#include <stdio.h>

int main(void)
{
    printf("hello from a native process\n");
    return 0;
}
