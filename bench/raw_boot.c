/* Raw floor for booting one VM: create, set up and run a bare CPL-3 guest to its first exit. */
#include "bare_kvm.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

/* One VM from nothing to its first `out` exit; returns 0 and the durations in ns. */
static int boot_once(const struct bare_kvm *k, uint64_t *boot_ns, uint64_t *total_ns,
                     uint64_t *run_ns)
{
    uint64_t t0 = bare_now_ns();
    uint8_t *mem = mmap(NULL, BARE_MEM_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        perror("raw_boot: mmap");
        return -1;
    }
    madvise(mem, BARE_MEM_SIZE, MADV_NOHUGEPAGE);
    bare_guest_init(mem, bare_out_loop, sizeof(bare_out_loop));
    struct bare_vm vm;
    if (bare_vm_create(k, &vm, mem) < 0)
        return -1;
    uint64_t tr = bare_now_ns();
    if (bare_vm_run_out(k, &vm) < 0)
        return -1;
    uint64_t t1 = bare_now_ns();
    bare_vm_destroy(k, &vm);
    munmap(mem, BARE_MEM_SIZE);
    uint64_t t2 = bare_now_ns();
    *boot_ns = t1 - t0;
    *total_ns = t2 - t0;
    *run_ns = t1 - tr;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long n = 1000;
    if (argc > 2 || (argc == 2 && (n = strtoul(argv[1], NULL, 0)) == 0)) {
        fprintf(stderr, "usage: raw_boot [N]   (default 1000 VMs, one after another)\n");
        return 2;
    }
    struct bare_kvm k;
    if (bare_kvm_open(&k) < 0)
        return 1;
    uint64_t *boot = calloc(n, sizeof(*boot)), *total = calloc(n, sizeof(*total));
    uint64_t *run = calloc(n, sizeof(*run));
    if (!boot || !total || !run) {
        fprintf(stderr, "raw_boot: out of memory\n");
        return 1;
    }
    uint64_t start = bare_now_ns();
    for (unsigned long i = 0; i < n; i++)
        if (boot_once(&k, &boot[i], &total[i], &run[i]) < 0)
            return 1;
    double wall_ms = (double)(bare_now_ns() - start) / 1e6;

    double b50 = (double)bare_quantile(boot, n, 0.5) / 1e3;
    double b99 = (double)bare_quantile(boot, n, 0.99) / 1e3;
    double t50 = (double)bare_quantile(total, n, 0.5) / 1e3;
    double t99 = (double)bare_quantile(total, n, 0.99) / 1e3;
    double r50 = (double)bare_quantile(run, n, 0.5) / 1e3;
    printf("raw_boot: %lu VMs one at a time in %.1f ms\n", n, wall_ms);
    printf("raw_boot: create to first exit: p50 %.1f us, p99 %.1f us\n", b50, b99);
    printf("raw_boot: of which the first KVM_RUN: p50 %.1f us\n", r50);
    printf("raw_boot: create to all closed: p50 %.1f us, p99 %.1f us\n", t50, t99);
    printf("FLOOR raw_boot n=%lu p50_us=%.1f p99_us=%.1f total_p50_us=%.1f total_p99_us=%.1f "
           "wall_ms=%.1f\n",
           n, b50, b99, t50, t99, wall_ms);
    free(boot);
    free(total);
    free(run);
    bare_kvm_close(&k);
    return 0;
}
