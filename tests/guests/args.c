/* Test guest: prints each boot argument on its own line, to check the monitor passes them intact.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        printf("arg %d: %s\n", i, argv[i]);
    return 0;
}
