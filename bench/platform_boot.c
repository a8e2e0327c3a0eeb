/* The platform's bare create floor: VMs booted through the platform seam, no scheduler. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "image/guest_image.h"
#include "image/ram_pool.h"
#include "platform/platform.h"
#include "sched/vm.h"

#define MAX_PARALLEL 64
#define MEM_SIZE     (2u << 20)

static struct platform *platform;
static struct guest_image image;
static struct ram_pool pool;
static uint64_t *latency_ns;
static unsigned long vm_count;

struct booter {
    pthread_t thread;
    unsigned long first, stride;
    int failed;
};

/* Nothing to wake: every VM here is run by the thread that created it. */
static void no_wake(void *ctx, uint32_t id)
{
    (void)ctx;
    (void)id;
}

/*
 * One thread, as one of the monitor's workers creates VMs: the monitor's own
 * vm_boot (virtual registers, data, the platform's vcpu_create), one run to
 * the first exit, and the same teardown, timed from before vm_boot to that
 * exit as the monitor's boot figure is.
 */
static void *booter_main(void *arg)
{
    struct booter *b = arg;
    for (unsigned long i = b->first; i < vm_count && !b->failed; i += b->stride) {
        uint8_t *ram = ram_pool_get(&pool);
        if (!ram) {
            fprintf(stderr, "platform_boot: no RAM slot free\n");
            b->failed = 1;
            break;
        }
        char err[256] = "";
        struct vm vm;
        memset(&vm, 0, sizeof(vm));
        uint64_t t0 = bench_now_ns();
        if (vm_boot(&vm, platform, &image, (uint32_t)i, (uint32_t)vm_count, ram, err, sizeof(err)) <
            0) {
            fprintf(stderr, "platform_boot: vm %lu: %s\n", i, err);
            b->failed = 1;
        } else {
            struct vm_exit exit;
            do
                platform->ops->vcpu_run(vm.vcpu, &exit);
            while (exit.kind == VM_EXIT_INTERRUPTED);
            latency_ns[i] = bench_now_ns() - t0;
            if (exit.kind != VM_EXIT_IO) {
                fprintf(stderr, "platform_boot: vm %lu: first exit is not a hypercall (%d)\n", i,
                        (int)exit.kind);
                b->failed = 1;
            }
        }
        vm_destroy(&vm, platform);
        ram_pool_put(&pool, ram);
    }
    return NULL;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: platform_boot kvm|process|auto IMAGE [N [PARALLEL]]\n"
            "  boots N (default 1000) VMs of IMAGE, %u MiB each, through the platform alone,\n"
            "  by PARALLEL threads (default 1, up to %d); prints one FLOOR line\n",
            MEM_SIZE >> 20, MAX_PARALLEL);
    return 2;
}

int main(int argc, char **argv)
{
    enum platform_kind kind;
    unsigned long parallel = 1;
    vm_count = 1000;
    if (argc < 3 || argc > 5 || platform_parse(argv[1], &kind) < 0 ||
        (argc >= 4 && (vm_count = strtoul(argv[3], NULL, 0)) == 0) ||
        (argc == 5 && ((parallel = strtoul(argv[4], NULL, 0)) == 0 || parallel > MAX_PARALLEL)))
        return usage();
    char err[256];
    platform = platform_open(kind, err, sizeof(err));
    if (!platform) {
        fprintf(stderr, "platform_boot: %s\n", err);
        return 1;
    }
    char *guest_argv[] = {argv[2]};
    if (guest_image_load(&image, argv[2], MEM_SIZE, 1, guest_argv, err, sizeof(err)) < 0 ||
        ram_pool_init(&pool, MEM_SIZE, (unsigned)parallel, platform->shared_ram) < 0 ||
        !(latency_ns = calloc(vm_count, sizeof(*latency_ns)))) {
        fprintf(stderr, "platform_boot: %s\n", err[0] ? err : "cannot set up guest memory");
        return 1;
    }
    platform->ram = &pool;
    platform->wake = no_wake;

    struct booter booters[MAX_PARALLEL];
    unsigned long started = 0;
    int failed = 0;
    uint64_t t0 = bench_now_ns();
    for (; started < parallel; started++) {
        booters[started] = (struct booter){.first = started, .stride = parallel};
        if (pthread_create(&booters[started].thread, NULL, booter_main, &booters[started])) {
            fprintf(stderr, "platform_boot: cannot start thread %lu\n", started);
            failed = 1;
            break;
        }
    }
    for (unsigned long t = 0; t < started; t++) {
        pthread_join(booters[t].thread, NULL);
        failed |= booters[t].failed;
    }
    uint64_t wall = bench_now_ns() - t0;
    platform_close(platform);
    if (failed)
        return 1;

    struct bench_latency l = bench_latency_of(latency_ns, vm_count);
    double p50 = l.p50_us, p99 = l.p99_us, mean = l.mean_us;
    printf("platform_boot: %lu VMs on %s by %lu threads, vm_boot to the first exit: p50 %.1f us, "
           "p99 %.1f us, mean %.1f us; %.1f ms in all\n",
           vm_count, platform_kind_name(kind), parallel, p50, p99, mean, (double)wall / 1e6);
    printf("FLOOR platform_boot platform=%s n=%lu parallel=%lu p50_us=%.1f p99_us=%.1f "
           "mean_us=%.1f wall_ms=%.1f\n",
           platform_kind_name(kind), vm_count, parallel, p50, p99, mean, (double)wall / 1e6);
    free(latency_ns);
    ram_pool_destroy(&pool);
    guest_image_unload(&image);
    return 0;
}
