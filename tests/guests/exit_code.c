/* Test guest: exit_code N exits with status N, to check the monitor reports guests' statuses. */
#include "test_guest.h"

int main(int argc, char **argv)
{
    char *end = 0;
    long status = argc == 2 ? strtol(argv[1], &end, 0) : 0;
    if (argc != 2 || end == argv[1] || *end != '\0') {
        fprintf(stderr, "usage: exit_code N\n");
        return 2;
    }
    printf("exit_code: exiting with %ld\n", status);
    exit((int)status);
}
