/* Test guest: writes the process platform's control page itself, then runs on (or faults on kvm).
 */
#include <string.h>

#include "test_guest.h"

/*
 * The process platform's control page (monitor/platform/process/vmproc_abi.h);
 * a guest is not meant to know it, which is the point: it is still reachable.
 */
#define CONTROL_ADDR   0x600000100000ull
#define TURN_MONITOR   1u
#define EXIT_HYPERCALL 2u

struct forged {
    uint32_t turn;
    uint32_t pad[15];
    uint32_t kind;
    uint32_t port;
    uint64_t args[3];
};

int main(int argc, char **argv)
{
    started("forge_handoff");
    volatile struct forged *c = (volatile struct forged *)(uintptr_t)CONTROL_ADDR;
    if (argc > 1 && strcmp(argv[1], "garbage") == 0) {
        /* An exit of a kind that does not exist. */
        c->kind = 0xdeadu;
    } else {
        /* A plausible exit, an idle with no deadline, whose author then keeps the CPU. */
        c->kind = EXIT_HYPERCALL;
        c->port = DENALI_PORT_BASE + DENALI_HC_IDLE;
        c->args[0] = DENALI_DEADLINE_NONE;
        c->args[1] = 0;
    }
    c->turn = TURN_MONITOR;
    for (;;)
        __asm__ volatile("" ::: "memory");
}
