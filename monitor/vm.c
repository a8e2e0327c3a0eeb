/* One VM's context: its vCPU, memory, virtual registers, scheduling state and console line. */
#include "vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void write_vregs(struct vm *vm, const struct guest_image *image, uint32_t id, uint32_t count)
{
    struct denali_vregs *v = vm->vregs;
    v->abi_version = DENALI_ABI_VERSION;
    v->vm_id = id;
    v->vm_count = count;
    v->argc = image->argc;
    v->mem_size = image->layout.mem_size;
    v->image_end = image->elf.image_end;
    v->args_len = image->args_len;
    memcpy(v->args, image->args, image->args_len);
}

static void copy_writable_segments(uint8_t *ram, const struct guest_image *image)
{
    for (unsigned i = 0; i < image->elf.segment_count; i++) {
        const struct elf_segment *s = &image->elf.segments[i];
        /* Fresh RAM is zero, which is the bss; only file bytes need copying. */
        if (s->writable && s->filesz)
            memcpy(ram + s->vaddr, image->file + s->offset, s->filesz);
    }
}

int vm_boot(struct vm *vm, const struct kvm_host *kvm, const struct guest_image *image, uint32_t id,
            uint32_t count, uint8_t *ram, char *err, size_t errlen)
{
    const struct guest_layout *layout = &image->layout;
    vm->id = id;
    vm->mem = (struct guest_memory){.layout = layout, .ram = ram, .file = image->file};
    vm->vregs = (struct denali_vregs *)(ram + DENALI_VREGS_ADDR);
    vm->vcpu.fd = -1;
    vm->vcpu.run = NULL;
    sched_entity_init(&vm->sched);

    int vm_fd = kvm_vm_create(kvm);
    if (vm_fd < 0) {
        snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
        return -1;
    }
    for (unsigned i = 0; i < layout->slot_count; i++) {
        const struct guest_slot *slot = &layout->slots[i];
        void *host = slot->from_file ? (void *)(image->file + slot->file_offset) : ram + slot->gpa;
        if (kvm_vm_map(vm_fd, i, slot->gpa, slot->size, host, slot->from_file) < 0) {
            snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
            close(vm_fd);
            return -1;
        }
    }
    guest_layout_write_page_tables(layout, ram);
    guest_layout_write_system_tables(ram);
    write_vregs(vm, image, id, count);
    copy_writable_segments(ram, image);

    if (kvm_vcpu_create(kvm, vm_fd, &vm->vcpu) < 0) {
        snprintf(err, errlen, "KVM_CREATE_VCPU: %s", strerror(errno));
        close(vm_fd);
        return -1;
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
    if (kvm_vcpu_set_initial_state(kvm, &vm->vcpu, &state) < 0) {
        snprintf(err, errlen, "setting the initial vCPU state: %s", strerror(errno));
        kvm_vcpu_destroy(kvm, &vm->vcpu);
        close(vm_fd);
        return -1;
    }
    /* The vCPU keeps the VM alive; one descriptor per VM is what lets 10,000 fit. */
    close(vm_fd);
    return 0;
}

void vm_set_network(struct vm *vm, struct net_port *port, uint32_t netmask, uint32_t gateway)
{
    vm->port = port;
    memcpy(vm->vregs->mac, port->mac, sizeof(vm->vregs->mac));
    vm->vregs->ipv4 = htonl(port->ipv4);
    vm->vregs->netmask = htonl(netmask);
    vm->vregs->gateway = htonl(gateway);
}

void vm_destroy(struct vm *vm, const struct kvm_host *kvm)
{
    kvm_vcpu_destroy(kvm, &vm->vcpu);
}
