/* The kvm platform: KVM VMs whose vCPUs the workers enter; the seam's calls mapped onto kvm.c. */
#include "platform/kvm/kvm_platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/guest_image.h"
#include "image/ram_pool.h"
#include "platform/kvm/kvm.h"
#include "platform/kvm/kvm_memory.h"

struct kvm_platform {
    struct platform base;
    struct kvm_host host;
    /* The monitor's own /proc/self/pagemap, opened by the first VM paged (-1 before). */
    _Atomic int pagemap_fd;
    /* Clones alive: their copy-on-write pages are the monitor's anonymous memory. */
    _Atomic unsigned live_clones;
};

struct platform_vcpu {
    struct kvm_vcpu vcpu;
    struct kvm_platform *owner;
    uint8_t *ram;
    uint64_t mem_size;
    bool cow_clone; /* its slot maps a snapshot copy-on-write: mapped back when it ends */
};

_Static_assert(sizeof(struct kvm_cpu_state) <= PLATFORM_CPU_STATE_MAX,
               "the kvm platform's CPU state fits a snapshot");

static struct kvm_platform *kvm_of(struct platform *p)
{
    return (struct kvm_platform *)p;
}

static void write_gate(uint8_t *ram)
{
    static const uint8_t code[] = KVM_GATE_CODE;
    memcpy(ram + DENALI_GATE_ADDR, code, sizeof(code));
}

/*
 * A new KVM VM over the slot at ram, its vCPU at the image's entry; a
 * clone's gate page is already in its memory (the snapshot's).
 */
static struct platform_vcpu *make_vcpu(struct platform *p, const struct guest_image *image,
                                       uint8_t *ram, bool with_gate, char *err, size_t errlen)
{
    const struct kvm_host *kvm = &kvm_of(p)->host;
    const struct guest_layout *layout = &image->layout;
    struct platform_vcpu *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory for a vCPU");
        return NULL;
    }
    v->vcpu.fd = -1;
    v->owner = kvm_of(p);
    v->ram = ram;
    v->mem_size = layout->mem_size;
    int vm_fd = kvm_vm_create(kvm);
    if (vm_fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
        free(v);
        return NULL;
    }
    for (unsigned i = 0; i < layout->slot_count; i++) {
        const struct guest_slot *slot = &layout->slots[i];
        void *host = slot->from_file ? (void *)(image->file + slot->file_offset) : ram + slot->gpa;
        if (kvm_vm_map(vm_fd, i, slot->gpa, slot->size, host, slot->from_file) < 0) {
            snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
            goto fail;
        }
    }
    guest_layout_write_page_tables(layout, ram);
    guest_layout_write_system_tables(ram);
    if (with_gate)
        write_gate(ram);
    if (kvm_vcpu_create(kvm, vm_fd, &v->vcpu) < 0) {
        snprintf(err, errlen, "KVM_CREATE_VCPU: %s", strerror(errno));
        goto fail;
    }
    struct kvm_initial_state state = {
        .rip = image->elf.entry,
        .rsp = DENALI_STACK_TOP,
        .cr3 = DENALI_PAGETABLE_ADDR,
        .gdt_base = GUEST_GDT_ADDR,
        .gdt_limit = GUEST_GDT_LIMIT,
        .code_selector = GUEST_SEL_USER_CODE,
        .data_selector = GUEST_SEL_USER_DATA,
        .tss_selector = GUEST_SEL_TSS,
        .tss_base = GUEST_TSS_ADDR,
        .tss_limit = GUEST_TSS_LIMIT,
        .idt_base = GUEST_IDT_ADDR,
        .idt_limit = GUEST_IDT_LIMIT,
    };
    if (kvm_vcpu_set_initial_state(kvm, &v->vcpu, &state) < 0) {
        snprintf(err, errlen, "setting the initial vCPU state: %s", strerror(errno));
        kvm_vcpu_destroy(kvm, &v->vcpu);
        goto fail;
    }
    /* The vCPU keeps the VM alive; one descriptor per VM is what lets 10,000 fit. */
    close(vm_fd);
    return v;
fail:
    close(vm_fd);
    free(v);
    return NULL;
}

static struct platform_vcpu *kvm_vcpu_create_for(struct platform *p,
                                                 const struct guest_image *image, uint8_t *ram,
                                                 uint32_t id, char *err, size_t errlen)
{
    (void)id;
    return make_vcpu(p, image, ram, true, err, errlen);
}

static void kvm_run_vcpu(struct platform_vcpu *v, struct vm_exit *exit)
{
    kvm_vcpu_run(&v->vcpu, exit);
}

static void kvm_set_result(struct platform_vcpu *v, uint64_t value)
{
    kvm_vcpu_set_result(&v->vcpu, value);
}

static bool kvm_result_pending(const struct platform_vcpu *v)
{
    return kvm_vcpu_result_pending(&v->vcpu);
}

static void kvm_kick(struct platform_vcpu *v)
{
    kvm_vcpu_kick(v->vcpu.run);
}

static void kvm_destroy(struct platform *p, struct platform_vcpu *v)
{
    kvm_vcpu_destroy(&kvm_of(p)->host, &v->vcpu);
    /* The next VM in this slot must see the pool's zeroed memory, not this clone's. */
    if (v->cow_clone) {
        int rc = ram_pool_remap(p->ram, v->ram);
        if (rc < 0)
            fprintf(stderr, "denali: mapping a clone's slot back: %s\n", strerror(-rc));
        atomic_fetch_sub(&kvm_of(p)->live_clones, 1);
    }
    free(v);
}

static void kvm_close(struct platform *p)
{
    int fd = atomic_load(&kvm_of(p)->pagemap_fd);
    if (fd >= 0)
        close(fd);
    kvm_host_close(&kvm_of(p)->host);
    free(p);
}

/* Puts a new vCPU where state left off, or ends it; rax is what the guest's hypercall returns. */
static struct platform_vcpu *restore_or_end(struct platform *p, struct platform_vcpu *v,
                                            const struct platform_snapshot *state, uint64_t rax,
                                            char *err, size_t errlen)
{
    struct kvm_cpu_state cpu;
    memcpy(&cpu, state->cpu_state, sizeof(cpu));
    if (kvm_vcpu_restore(&v->vcpu, &cpu, rax) < 0) {
        snprintf(err, errlen, "setting the saved vCPU state: %s", strerror(errno));
        kvm_destroy(p, v);
        return NULL;
    }
    return v;
}

static bool is_kvm_state(const struct platform_snapshot *state)
{
    return state->platform == PLATFORM_KVM && state->cpu_state_len == sizeof(struct kvm_cpu_state);
}

/*
 * A clone: its memory the snapshot's, copy-on-write in the monitor's own
 * address space (KVM maps whatever the monitor maps), but for its virtual
 * registers and windows, which the monitor has written; its vCPU resumes
 * from the ready call with the result 1.
 */
static struct platform_vcpu *kvm_clone(struct platform *p, const struct guest_image *image,
                                       uint8_t *ram, uint32_t id,
                                       const struct platform_snapshot *snap, char *err,
                                       size_t errlen)
{
    (void)id;
    if (!is_kvm_state(snap)) {
        snprintf(err, errlen, "the snapshot was not taken on the kvm platform");
        return NULL;
    }
    uint64_t size = image->layout.mem_size;
    if (kvm_memory_map_clone(ram, size, snap, p->ram, err, errlen) < 0)
        return NULL;
    struct platform_vcpu *v = make_vcpu(p, image, ram, false, err, errlen);
    if (!v) {
        ram_pool_remap(p->ram, ram);
        return NULL;
    }
    v->cow_clone = true;
    atomic_fetch_add(&kvm_of(p)->live_clones, 1);
    return restore_or_end(p, v, snap, 1, err, errlen);
}

/* Back from hibernation: its memory is in its slot again, its registers in state. */
static struct platform_vcpu *kvm_resume(struct platform *p, const struct guest_image *image,
                                        uint8_t *ram, uint32_t id,
                                        const struct platform_snapshot *state, char *err,
                                        size_t errlen)
{
    (void)id;
    if (!is_kvm_state(state) || state->memfd >= 0) {
        snprintf(err, errlen, "a hibernated VM's state is not the kvm platform's");
        return NULL;
    }
    struct platform_vcpu *v = make_vcpu(p, image, ram, true, err, errlen);
    return v ? restore_or_end(p, v, state, 0, err, errlen) : NULL;
}

/* At a hypercall through the gate (a ready call, an idle). */
static int kvm_capture(struct platform_vcpu *v, struct platform_snapshot *snap, char *err,
                       size_t errlen)
{
    struct kvm_cpu_state cpu;
    if (kvm_vcpu_save(&v->vcpu, DENALI_GATE_ADDR, &cpu) < 0) {
        if (errno == EINVAL)
            snprintf(err, errlen, "the vCPU did not stop at a hypercall through the gate");
        else
            snprintf(err, errlen, "reading the vCPU's state: %s", strerror(errno));
        return -1;
    }
    memcpy(snap->cpu_state, &cpu, sizeof(cpu));
    snap->cpu_state_len = sizeof(cpu);
    snap->platform = PLATFORM_KVM;
    return 0;
}

/*
 * A KVM VM's memory is all in the pool, mapped by the monitor, but for
 * clones' copy-on-write pages: in a shared pool they are the monitor's
 * anonymous memory (its RssAnon, which also holds its own small heap).
 */
static uint64_t kvm_private_bytes(struct platform *p)
{
    if (atomic_load(&kvm_of(p)->live_clones) == 0 || !p->ram || p->ram->memfd < 0)
        return 0;
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    unsigned long kib = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "RssAnon: %lu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kib << 10;
}

/* The monitor's own /proc/self/pagemap, opened once by whichever worker needs it first. */
static int own_pagemap(struct kvm_platform *k, char *err, size_t errlen)
{
    int fd = atomic_load(&k->pagemap_fd);
    if (fd >= 0)
        return fd;
    fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "/proc/self/pagemap: %s", strerror(errno));
        return -1;
    }
    int none = -1;
    if (!atomic_compare_exchange_strong(&k->pagemap_fd, &none, fd)) {
        close(fd);
        fd = none;
    }
    return fd;
}

/*
 * Paging: a userfaultfd over the VM's slot in the monitor itself, where
 * KVM's own accesses fault too; the slot must be in the shared pool, whose
 * memfd keeps the pages while page-table entries are dropped.
 */
static int kvm_pager_start(struct platform_vcpu *v, uint64_t *addr_base, char *err, size_t errlen)
{
    struct kvm_platform *k = v->owner;
    if (!k->base.ram || k->base.ram->memfd < 0) {
        snprintf(err, errlen, "paging on kvm needs guest RAM in a memfd");
        return -1;
    }
    if (own_pagemap(k, err, errlen) < 0)
        return -1;
    *addr_base = (uint64_t)(uintptr_t)v->ram;
    return kvm_memory_userfault(v->ram, v->mem_size, err, errlen);
}

/*
 * A clone being hibernated: its own pages are the monitor's anonymous
 * memory under the view at v->ram, which the pool's memfd does not see;
 * they go into the slot's memfd pages, over the snapshot's bytes the
 * caller put there. The windows are the memfd's already (shared).
 */
static int kvm_copy_private(struct platform_vcpu *v, uint8_t *ram, uint64_t gpa, uint64_t len,
                            char *err, size_t errlen)
{
    struct ram_pool *pool = v->owner->base.ram;
    if (!v->cow_clone || ram != v->ram || !pool || pool->memfd < 0) {
        snprintf(err, errlen, "only a clone in a shared pool is gathered into its slot");
        return -1;
    }
    int pagemap = own_pagemap(v->owner, err, errlen);
    if (pagemap < 0)
        return -1;
    return kvm_memory_copy_private(pagemap, v->ram, gpa, len, pool->memfd,
                                   ram_pool_offset(pool, v->ram), err, errlen);
}

static int kvm_referenced(struct platform_vcpu *v, uint64_t gpa, uint64_t pages, uint8_t *bits)
{
    return kvm_memory_referenced(atomic_load(&v->owner->pagemap_fd), v->ram, gpa, pages, bits);
}

static void kvm_forget_references(struct platform_vcpu *v)
{
    if (v->owner->base.ram && v->owner->base.ram->memfd >= 0 && !v->cow_clone)
        kvm_memory_forget_references(v->ram, v->mem_size);
}

static const struct platform_ops kvm_ops = {
    .name = "kvm",
    .vcpu_create = kvm_vcpu_create_for,
    .vcpu_clone = kvm_clone,
    .vcpu_resume = kvm_resume,
    .vcpu_capture = kvm_capture,
    .private_bytes = kvm_private_bytes,
    .vcpu_copy_private = kvm_copy_private,
    .pager_start = kvm_pager_start,
    .referenced = kvm_referenced,
    .forget_references = kvm_forget_references,
    .vcpu_run = kvm_run_vcpu,
    .vcpu_set_result = kvm_set_result,
    .vcpu_result_pending = kvm_result_pending,
    .vcpu_kick = kvm_kick,
    .vcpu_destroy = kvm_destroy,
    .close = kvm_close,
};

struct platform *kvm_platform_open(char *err, size_t errlen)
{
    struct kvm_platform *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (kvm_host_open(&k->host, err, errlen) < 0) {
        free(k);
        return NULL;
    }
    k->base.ops = &kvm_ops;
    atomic_init(&k->pagemap_fd, -1);
    k->base.kind = PLATFORM_KVM;
    k->base.shared_ram = false;
    k->base.fds_per_vm = 1; /* the vCPU's */
    k->base.faults_hold_worker = true;
    return &k->base;
}
