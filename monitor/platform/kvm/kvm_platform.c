/* The kvm platform: KVM VMs whose vCPUs the workers enter; the seam's calls mapped onto kvm.c. */
#include "platform/kvm/kvm_platform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/guest_image.h"
#include "platform/kvm/kvm.h"

struct kvm_platform {
    struct platform base;
    struct kvm_host host;
};

struct platform_vcpu {
    struct kvm_vcpu vcpu;
};

static struct kvm_platform *kvm_of(struct platform *p)
{
    return (struct kvm_platform *)p;
}

static void write_gate(uint8_t *ram)
{
    static const uint8_t code[] = KVM_GATE_CODE;
    memcpy(ram + DENALI_GATE_ADDR, code, sizeof(code));
}

static struct platform_vcpu *kvm_vcpu_create_for(struct platform *p,
                                                 const struct guest_image *image, uint8_t *ram,
                                                 uint32_t id, char *err, size_t errlen)
{
    (void)id;
    const struct kvm_host *kvm = &kvm_of(p)->host;
    const struct guest_layout *layout = &image->layout;
    struct platform_vcpu *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory for a vCPU");
        return NULL;
    }
    v->vcpu.fd = -1;
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
    free(v);
}

static void kvm_close(struct platform *p)
{
    kvm_host_close(&kvm_of(p)->host);
    free(p);
}

/*
 * Clones need the vCPU's registers saved and set (KVM_GET_REGS/SREGS/FPU)
 * and RAM mapped private from the snapshot: not built yet, and no machine
 * with /dev/kvm was at hand to test it; a clear refusal until then.
 */
static struct platform_vcpu *kvm_clone(struct platform *p, const struct guest_image *image,
                                       uint8_t *ram, uint32_t id,
                                       const struct platform_snapshot *snap, char *err,
                                       size_t errlen)
{
    (void)p, (void)image, (void)ram, (void)id, (void)snap;
    snprintf(err, errlen,
             "clones are not supported on the kvm platform yet (use --platform process)");
    return NULL;
}

static struct platform_vcpu *kvm_resume(struct platform *p, const struct guest_image *image,
                                        uint8_t *ram, uint32_t id,
                                        const struct platform_snapshot *state, char *err,
                                        size_t errlen)
{
    (void)p, (void)image, (void)ram, (void)id, (void)state;
    snprintf(err, errlen, "hibernation is not supported on the kvm platform yet");
    return NULL;
}

static int kvm_capture(struct platform_vcpu *vcpu, struct platform_snapshot *snap, char *err,
                       size_t errlen)
{
    (void)vcpu, (void)snap;
    snprintf(err, errlen,
             "snapshots are not supported on the kvm platform yet (use --platform process)");
    return -1;
}

/* A KVM VM's memory is all in the pool, mapped by the monitor. */
static uint64_t kvm_private_bytes(struct platform *p)
{
    (void)p;
    return 0;
}

static const struct platform_ops kvm_ops = {
    .name = "kvm",
    .vcpu_create = kvm_vcpu_create_for,
    .vcpu_clone = kvm_clone,
    .vcpu_resume = kvm_resume,
    .vcpu_capture = kvm_capture,
    .private_bytes = kvm_private_bytes,
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
    k->base.kind = PLATFORM_KVM;
    k->base.shared_ram = false;
    k->base.fds_per_vm = 1; /* the vCPU's */
    return &k->base;
}
