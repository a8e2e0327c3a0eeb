/* One VM's context: its vCPU, memory, virtual registers, scheduling state and console line. */
#include "sched/vm.h"

#include <stdio.h>
#include <string.h>

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

int vm_boot(struct vm *vm, struct platform *platform, const struct guest_image *image, uint32_t id,
            uint32_t count, uint8_t *ram, char *err, size_t errlen)
{
    vm->id = id;
    vm->mem = (struct guest_memory){.layout = &image->layout, .ram = ram, .file = image->file};
    vm->vregs = (struct denali_vregs *)(ram + DENALI_VREGS_ADDR);
    sched_entity_init(&vm->sched);
    write_vregs(vm, image, id, count);
    copy_writable_segments(ram, image);
    vm->vcpu = platform->ops->vcpu_create(platform, image, ram, id, err, errlen);
    return vm->vcpu ? 0 : -1;
}

void vm_destroy(struct vm *vm, struct platform *platform)
{
    if (vm->vcpu)
        platform->ops->vcpu_destroy(platform, vm->vcpu);
    vm->vcpu = NULL;
}
