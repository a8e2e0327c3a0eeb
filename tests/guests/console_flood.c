/* Test guest: console_flood [LINES] prints many lines fast, to load the monitor's console path. */
#include "test_guest.h"

int main(int argc, char **argv)
{
    long lines = argc >= 2 ? strtol(argv[1], 0, 0) : 10000;
    started("console_flood");
    for (long i = 0; i < lines; i++)
        printf("console_flood: line %ld of %ld\n", i + 1, lines);
    return 0;
}
