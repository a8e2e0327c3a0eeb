/* Test guest: checks that registers survive preemption and hypercalls (preempt_regs [ROUNDS]). */
#include "test_guest.h"

#define NREGS 15
static const char *const names[NREGS] = {"rax", "rbx", "rdx", "rsi", "rdi", "rbp", "r8",  "r9",
                                         "r10", "r11", "r12", "r13", "r14", "r15", "xmm0"};

/*
 * Fills every general register (and xmm0) with a known pattern, spins long
 * enough for the monitor to preempt the VM a few times, and stores what the
 * registers hold afterwards. Only asm can pin values in all registers at once.
 */
static void spin_with_patterns(unsigned long spins, uint64_t out[NREGS])
{
    __asm__ volatile("push %%rbp\n"
                     "push %%rdi\n"
                     "movabs $0x1111111111111111, %%rax\n"
                     "movabs $0x2222222222222222, %%rbx\n"
                     "movabs $0x3333333333333333, %%rdx\n"
                     "movabs $0x4444444444444444, %%rsi\n"
                     "movabs $0x5555555555555555, %%rdi\n"
                     "movabs $0x6666666666666666, %%rbp\n"
                     "movabs $0x7777777777777777, %%r8\n"
                     "movabs $0x8888888888888888, %%r9\n"
                     "movabs $0x9999999999999999, %%r10\n"
                     "movabs $0xaaaaaaaaaaaaaaaa, %%r11\n"
                     "movabs $0xbbbbbbbbbbbbbbbb, %%r12\n"
                     "movabs $0xcccccccccccccccc, %%r13\n"
                     "movabs $0xdddddddddddddddd, %%r14\n"
                     "movabs $0xeeeeeeeeeeeeeeee, %%r15\n"
                     "movq %%r15, %%xmm0\n"
                     "1: dec %%rcx\n"
                     "jnz 1b\n"
                     "xchg (%%rsp), %%rdi\n"
                     "mov %%rax, 0(%%rdi)\n"
                     "mov %%rbx, 8(%%rdi)\n"
                     "mov %%rdx, 16(%%rdi)\n"
                     "mov %%rsi, 24(%%rdi)\n"
                     "mov %%rbp, 40(%%rdi)\n"
                     "mov %%r8, 48(%%rdi)\n"
                     "mov %%r9, 56(%%rdi)\n"
                     "mov %%r10, 64(%%rdi)\n"
                     "mov %%r11, 72(%%rdi)\n"
                     "mov %%r12, 80(%%rdi)\n"
                     "mov %%r13, 88(%%rdi)\n"
                     "mov %%r14, 96(%%rdi)\n"
                     "mov %%r15, 104(%%rdi)\n"
                     "movq %%xmm0, 112(%%rdi)\n"
                     "pop %%rax\n"
                     "mov %%rax, 32(%%rdi)\n"
                     "pop %%rbp\n"
                     : "+c"(spins)
                     : "D"(out)
                     : "rax", "rbx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                       "r15", "xmm0", "memory", "cc");
}

static _Thread_local uint64_t tls_marker = 0x5eed;

int main(int argc, char **argv)
{
    long rounds = argc >= 2 ? strtol(argv[1], 0, 0) : 100;
    static const uint64_t expected[NREGS] = {
        0x1111111111111111, 0x2222222222222222, 0x3333333333333333, 0x4444444444444444,
        0x5555555555555555, 0x6666666666666666, 0x7777777777777777, 0x8888888888888888,
        0x9999999999999999, 0xaaaaaaaaaaaaaaaa, 0xbbbbbbbbbbbbbbbb, 0xcccccccccccccccc,
        0xdddddddddddddddd, 0xeeeeeeeeeeeeeeee, 0xeeeeeeeeeeeeeeee};
    started("preempt_regs");
    for (long r = 0; r < rounds; r++) {
        uint64_t out[NREGS];
        /* A hypercall with a result just before, so a stale result has something to clobber. */
        ilwaco_hypercall(DENALI_HC_NOP, 0, 0, 0);
        spin_with_patterns(10 * 1000 * 1000, out);
        for (int i = 0; i < NREGS; i++) {
            if (out[i] != expected[i]) {
                printf("preempt_regs: round %ld: %s is %#llx, expected %#llx\n", r, names[i],
                       (unsigned long long)out[i], (unsigned long long)expected[i]);
                return 1;
            }
        }
        if (tls_marker != 0x5eed) {
            printf("preempt_regs: round %ld: TLS (fs base) lost\n", r);
            return 1;
        }
    }
    printf("preempt_regs: ok, %ld rounds\n", rounds);
    return 0;
}
