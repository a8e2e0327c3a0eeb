/* Raw floors for one exit: a bare CPL-3 guest's `outb` to user space, and a `cpuid` KVM ends in the
 * kernel. */
#include "bare_kvm.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#define BATCHES 100u
/* cpuid exits per KVM_RUN in the in-kernel floor. */
#define CPUIDS_PER_RUN 1000u

/*
 * `1: mov $CPUIDS_PER_RUN, %r8d; 2: xor %eax, %eax; cpuid; dec %r8d; jnz 2b;
 *  mov $BARE_PORT, %edx; outb %al, %dx; jmp 1b`, one instruction per line
 */
/* clang-format off */
static const uint8_t cpuid_loop[] = {
    0x41, 0xb8, CPUIDS_PER_RUN & 0xff, CPUIDS_PER_RUN >> 8, 0, 0, /* mov $n, %r8d */
    0x31, 0xc0,                                                 /* xor %eax, %eax */
    0x0f, 0xa2,                                                 /* cpuid */
    0x41, 0xff, 0xc8,                                           /* dec %r8d */
    0x75, 0xf7,                                                 /* jnz -9 */
    0xba, BARE_PORT & 0xff, BARE_PORT >> 8, 0, 0,               /* mov $port, %edx */
    0xee,                                                       /* outb %al, %dx */
    0xeb, 0xe9,                                                 /* jmp -23 */
};
/* clang-format on */

/* Maps guest memory, writes code into it and creates its VM; NULL (with a message) on failure. */
static uint8_t *start_vm(struct bare_kvm *k, struct bare_vm *vm, const uint8_t *code, size_t len)
{
    uint8_t *mem = mmap(NULL, BARE_MEM_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        perror("raw_exit: mmap");
        return NULL;
    }
    bare_guest_init(mem, code, len);
    if (bare_vm_create(k, vm, mem) < 0) {
        munmap(mem, BARE_MEM_SIZE);
        return NULL;
    }
    return mem;
}

static void stop_vm(struct bare_kvm *k, struct bare_vm *vm, uint8_t *mem)
{
    bare_vm_destroy(k, vm);
    munmap(mem, BARE_MEM_SIZE);
}

/*
 * The floor of an exit that never leaves the kernel: KVM answers `cpuid`
 * itself. Every Denali hypercall must reach the monitor instead, and the
 * difference is what a VM switch costs beyond the hardware's own.
 */
static int in_kernel_floor(struct bare_kvm *k, double *median_ns)
{
    struct bare_vm vm;
    uint8_t *mem = start_vm(k, &vm, cpuid_loop, sizeof(cpuid_loop));
    if (!mem)
        return -1;
    uint64_t run_ns[21];
    int rc = 0;
    for (unsigned i = 0; i < 21 && rc == 0; i++) {
        uint64_t t0 = bare_now_ns();
        rc = bare_vm_run_out(k, &vm);
        run_ns[i] = bare_now_ns() - t0;
    }
    /* The first run faults pages in; the rest are steady. */
    if (rc == 0)
        *median_ns = (double)bare_quantile(run_ns + 1, 20, 0.5) / CPUIDS_PER_RUN;
    stop_vm(k, &vm, mem);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long n = 100000;
    if (argc > 2 || (argc == 2 && (n = strtoul(argv[1], NULL, 0)) < BATCHES)) {
        fprintf(stderr, "usage: raw_exit [N >= %u]   (default 100000 round trips)\n", BATCHES);
        return 2;
    }

    struct bare_kvm k;
    if (bare_kvm_open(&k) < 0)
        return 1;
    struct bare_vm vm;
    uint8_t *mem = start_vm(&k, &vm, bare_out_loop, sizeof(bare_out_loop));
    if (!mem)
        return 1;

    /* Warm up: first entry faults in the guest's pages and shadow page tables. */
    for (int i = 0; i < 1000; i++)
        if (bare_vm_run_out(&k, &vm) < 0)
            return 1;

    unsigned long per_batch = n / BATCHES;
    n = per_batch * BATCHES;
    uint64_t batch_ns[BATCHES];
    uint64_t start = bare_now_ns();
    for (unsigned b = 0; b < BATCHES; b++) {
        uint64_t t0 = bare_now_ns();
        for (unsigned long i = 0; i < per_batch; i++)
            if (bare_vm_run_out(&k, &vm) < 0)
                return 1;
        batch_ns[b] = bare_now_ns() - t0;
    }
    uint64_t total = bare_now_ns() - start;

    double mean = (double)total / (double)n;
    for (unsigned b = 0; b < BATCHES; b++)
        batch_ns[b] = batch_ns[b] * 1000 / per_batch; /* picoseconds per round trip */
    double median = (double)bare_quantile(batch_ns, BATCHES, 0.5) / 1000.0;
    double p10 = (double)bare_quantile(batch_ns, BATCHES, 0.1) / 1000.0;
    double p90 = (double)bare_quantile(batch_ns, BATCHES, 0.9) / 1000.0;

    printf(
        "raw_exit: %lu round trips (guest `outb` at CPL 3 -> KVM_EXIT_IO -> KVM_RUN) in %.1f ms\n",
        n, (double)total / 1e6);
    printf("raw_exit: mean %.1f ns, median of %u batches %.1f ns (p10 %.1f, p90 %.1f)\n", mean,
           BATCHES, median, p10, p90);
    printf("FLOOR raw_exit n=%lu mean_ns=%.1f median_ns=%.1f\n", n, mean, median);

    stop_vm(&k, &vm, mem);

    double in_kernel_ns = 0;
    if (in_kernel_floor(&k, &in_kernel_ns) < 0)
        return 1;
    printf("raw_exit: an exit KVM ends in the kernel (`cpuid`, %u per run): median %.1f ns, "
           "%.2f of the `outb` round trip\n",
           CPUIDS_PER_RUN, in_kernel_ns, in_kernel_ns / median);
    printf("FLOOR in_kernel_exit median_ns=%.1f\n", in_kernel_ns);
    bare_kvm_close(&k);
    return 0;
}
