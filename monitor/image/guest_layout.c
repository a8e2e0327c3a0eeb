/* The guest memory map of one image: accessible regions, KVM memslots and the page tables. */
#include "image/guest_layout.h"

#include <stdio.h>
#include <string.h>

#include "denali/abi.h"

#define PAGE_MASK ((uint64_t)DENALI_PAGE_SIZE - 1)
#define HUGE_PAGE (2ull << 20)
#define GIB       (1ull << 30)
#define ENTRIES   512

#define PML4_ADDR DENALI_PAGETABLE_ADDR
#define PDPT_ADDR (PML4_ADDR + DENALI_PAGE_SIZE)
#define PD_ADDR   (PDPT_ADDR + DENALI_PAGE_SIZE)
#define PD_PAGES  ((unsigned)(DENALI_MEM_MAX / GIB))
#define PT_ADDR   (PD_ADDR + PD_PAGES * DENALI_PAGE_SIZE)
#define PT_PAGES  ((unsigned)(DENALI_IMAGE_LIMIT / HUGE_PAGE))

_Static_assert(2 + PD_PAGES + PT_PAGES <= DENALI_PAGETABLE_PAGES, "page-table area too small");

static uint64_t page_down(uint64_t x)
{
    return x & ~PAGE_MASK;
}

static uint64_t page_up(uint64_t x)
{
    return (x + PAGE_MASK) & ~PAGE_MASK;
}

static void add_region(struct guest_layout *layout, struct guest_region region)
{
    layout->regions[layout->region_count++] = region;
}

static void add_ram_slot(struct guest_layout *layout, uint64_t start, uint64_t end)
{
    if (end > start)
        layout->slots[layout->slot_count++] =
            (struct guest_slot){.gpa = start, .size = end - start, .from_file = false};
}

int guest_layout_plan(const struct elf_image *image, uint64_t mem_size, struct guest_layout *layout,
                      char *err, size_t errlen)
{
    memset(layout, 0, sizeof(*layout));
    if (mem_size < DENALI_MEM_MIN || mem_size > DENALI_MEM_MAX || mem_size % DENALI_MEM_ALIGN) {
        snprintf(err, errlen, "guest memory must be a multiple of 2 MiB from 2 MiB to 4 GiB");
        return -1;
    }
    if (elf_image_check_fits(image, mem_size, err, errlen) < 0)
        return -1;
    layout->mem_size = mem_size;
    layout->low_end = (image->image_end + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);

    add_region(layout, (struct guest_region){.start = DENALI_VREGS_ADDR,
                                             .end = DENALI_VREGS_ADDR + DENALI_PAGE_SIZE});
    add_region(layout, (struct guest_region){.start = DENALI_GATE_ADDR,
                                             .end = DENALI_GATE_ADDR + DENALI_PAGE_SIZE,
                                             .executable = true,
                                             .gate = true});
    add_region(layout, (struct guest_region){.start = DENALI_STACK_BOTTOM,
                                             .end = DENALI_STACK_TOP,
                                             .writable = true});
    uint64_t ram_from = 0;
    for (unsigned i = 0; i < image->segment_count; i++) {
        const struct elf_segment *s = &image->segments[i];
        struct guest_region r = {
            .start = page_down(s->vaddr),
            .end = page_up(s->vaddr + s->memsz),
            .writable = s->writable,
            .executable = s->executable,
            .from_file = !s->writable,
            .file_offset = page_down(s->offset),
        };
        add_region(layout, r);
        if (r.from_file) {
            add_ram_slot(layout, ram_from, r.start);
            layout->slots[layout->slot_count++] = (struct guest_slot){.gpa = r.start,
                                                                      .size = r.end - r.start,
                                                                      .from_file = true,
                                                                      .file_offset = r.file_offset};
            ram_from = r.end;
        }
    }
    add_ram_slot(layout, ram_from, mem_size);
    if (image->image_end < mem_size)
        add_region(layout, (struct guest_region){
                               .start = image->image_end, .end = mem_size, .writable = true});
    return 0;
}

static uint64_t leaf_flags(const struct guest_region *r)
{
    uint64_t flags = PTE_PRESENT | PTE_USER | PTE_ACCESSED | PTE_DIRTY;
    if (r->writable)
        flags |= PTE_WRITE;
    if (!r->executable)
        flags |= PTE_NX;
    return flags;
}

static const struct guest_region *region_at(const struct guest_layout *layout, uint64_t gpa)
{
    for (unsigned i = 0; i < layout->region_count; i++)
        if (gpa >= layout->regions[i].start && gpa < layout->regions[i].end)
            return &layout->regions[i];
    return NULL;
}

static void put_entry(uint8_t *ram, uint64_t table, unsigned index, uint64_t value)
{
    memcpy(ram + table + (uint64_t)index * sizeof(value), &value, sizeof(value));
}

void guest_layout_write_page_tables(const struct guest_layout *layout, uint8_t *ram)
{
    const uint64_t table_flags = PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_ACCESSED;
    put_entry(ram, PML4_ADDR, 0, PDPT_ADDR | table_flags);
    uint64_t gib_count = (layout->mem_size + GIB - 1) / GIB;
    for (unsigned g = 0; g < gib_count; g++)
        put_entry(ram, PDPT_ADDR, g, (PD_ADDR + g * DENALI_PAGE_SIZE) | table_flags);

    /* The high region is plain heap: writable, never executable. */
    const uint64_t heap_flags =
        PTE_PRESENT | PTE_WRITE | PTE_USER | PTE_ACCESSED | PTE_DIRTY | PTE_HUGE | PTE_NX;
    for (uint64_t addr = 0; addr < layout->mem_size; addr += HUGE_PAGE) {
        uint64_t pd = PD_ADDR + (addr / GIB) * DENALI_PAGE_SIZE;
        unsigned index = (unsigned)((addr / HUGE_PAGE) % ENTRIES);
        if (addr < layout->low_end)
            put_entry(ram, pd, index,
                      (PT_ADDR + (addr / HUGE_PAGE) * DENALI_PAGE_SIZE) | table_flags);
        else
            put_entry(ram, pd, index, addr | heap_flags);
    }
    for (uint64_t addr = 0; addr < layout->low_end; addr += DENALI_PAGE_SIZE) {
        const struct guest_region *r = region_at(layout, addr);
        uint64_t entry;
        if (r)
            entry = addr | leaf_flags(r);
        else if (addr == DENALI_SYSTEM_ADDR) /* the CPU's tables and the handlers' stack */
            entry = addr | PTE_PRESENT | PTE_WRITE | PTE_ACCESSED | PTE_DIRTY | PTE_NX;
        else if (addr == GUEST_HANDLER_ADDR) /* the exception handlers: supervisor code */
            entry = addr | PTE_PRESENT | PTE_ACCESSED;
        else
            continue;
        uint64_t pt = PT_ADDR + (addr / HUGE_PAGE) * DENALI_PAGE_SIZE;
        put_entry(ram, pt, (unsigned)((addr / DENALI_PAGE_SIZE) % ENTRIES), entry);
    }
}

/* A flat descriptor; access holds P, DPL, S and the type. */
static uint64_t flat_descriptor(uint8_t access, bool code)
{
    uint64_t limit_low = 0xffff, limit_high = 0xf;
    uint64_t flags = code ? 0xa /* G, L */ : 0xc /* G, D/B */;
    return limit_low | (uint64_t)access << 40 | limit_high << 48 | flags << 52;
}

/* Vectors for which the CPU pushes an error code. */
static bool has_error_code(unsigned vector)
{
    return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
           vector == 29 || vector == 30;
}

#define HANDLER_COMMON (GUEST_HANDLER_ADDR + GUEST_IDT_VECTORS * GUEST_HANDLER_STRIDE)

/*
 * One stub per vector pushes a 0 where the CPU pushed no error code, then
 * the vector, and jumps to the common part, which loads what
 * GUEST_FAULT_PORT's reader wants and reports it. The monitor never
 * resumes a VM after that; the halt is for form.
 */
static void write_exception_handlers(uint8_t *ram)
{
    uint8_t *page = ram + GUEST_HANDLER_ADDR;
    memset(page, 0xcc, DENALI_PAGE_SIZE); /* int3 between stubs: never reached */
    for (unsigned v = 0; v < GUEST_IDT_VECTORS; v++) {
        uint8_t *stub = page + v * GUEST_HANDLER_STRIDE;
        unsigned n = 0;
        if (!has_error_code(v)) {
            stub[n++] = 0x6a; /* push $0 */
            stub[n++] = 0;
        }
        stub[n++] = 0x6a; /* push $vector */
        stub[n++] = (uint8_t)v;
        stub[n++] = 0xe9; /* jmp common */
        int32_t rel =
            (int32_t)(HANDLER_COMMON - (GUEST_HANDLER_ADDR + v * GUEST_HANDLER_STRIDE + n + 4));
        memcpy(stub + n, &rel, 4);
    }
    /* The port's bytes are spelled out so that each instruction keeps to its line. */
    _Static_assert(GUEST_FAULT_PORT == 0x7f0, "the handlers' out goes to GUEST_FAULT_PORT");
    static const uint8_t common[] = {
        0x5f,                   /* pop %rdi: the vector */
        0x41, 0x5a,             /* pop %r10: the error code */
        0x48, 0x8b, 0x34, 0x24, /* mov (%rsp), %rsi: the faulting %rip */
        0x0f, 0x20, 0xd3,       /* mov %cr2, %rbx */
        0x66, 0xba, 0xf0, 0x07, /* mov $GUEST_FAULT_PORT, %dx */
        0xee,                   /* out %al, (%dx) */
        0xf4, 0xeb, 0xfd        /* 1: hlt; jmp 1b */
    };
    memcpy(ram + HANDLER_COMMON, common, sizeof(common));
}

static void write_idt(uint8_t *ram)
{
    for (unsigned v = 0; v < GUEST_IDT_VECTORS; v++) {
        uint64_t offset = GUEST_HANDLER_ADDR + v * GUEST_HANDLER_STRIDE;
        /* Present, DPL 0 (an `int n` from the guest is a #GP), 64-bit interrupt gate. */
        uint64_t low = (offset & 0xffff) | (uint64_t)GUEST_SEL_KERNEL_CODE << 16 | 0x8eull << 40 |
                       ((offset >> 16) & 0xffff) << 48;
        uint64_t high = offset >> 32;
        memcpy(ram + GUEST_IDT_ADDR + v * 16, &low, 8);
        memcpy(ram + GUEST_IDT_ADDR + v * 16 + 8, &high, 8);
    }
}

void guest_layout_write_system_tables(uint8_t *ram)
{
    uint8_t *page = ram + DENALI_SYSTEM_ADDR;
    /* Accessed bits preset, so the CPU never needs to write a descriptor. */
    uint64_t data = flat_descriptor(0xf3, false);  /* present, DPL 3, data read/write */
    uint64_t code = flat_descriptor(0xfb, true);   /* present, DPL 3, code execute/read */
    uint64_t kernel = flat_descriptor(0x9b, true); /* present, DPL 0, code execute/read */
    memcpy(page + (GUEST_SEL_USER_DATA & ~7), &data, 8);
    memcpy(page + (GUEST_SEL_USER_CODE & ~7), &code, 8);
    memcpy(page + GUEST_SEL_KERNEL_CODE, &kernel, 8);
    uint64_t base = GUEST_TSS_ADDR, limit = GUEST_TSS_LIMIT;
    uint64_t tss_low = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x8bull << 40 |
                       ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
    uint64_t tss_high = base >> 32;
    memcpy(page + GUEST_SEL_TSS, &tss_low, 8);
    memcpy(page + GUEST_SEL_TSS + 8, &tss_high, 8);
    uint8_t *tss = ram + GUEST_TSS_ADDR;
    uint16_t iomap = GUEST_TSS_IOMAP_OFFSET;
    memcpy(tss + 0x66, &iomap, sizeof(iomap));
    /* All-zero bitmap bits open every port below the limit; ports above it stay closed. */
    tss[GUEST_TSS_IOMAP_OFFSET + GUEST_IO_PORT_LIMIT / 8] = 0xff;
    /* RSP0: where an exception from the guest's CPL 3 switches to. */
    uint64_t rsp0 = GUEST_HANDLER_STACK;
    memcpy(tss + 4, &rsp0, sizeof(rsp0));
    write_idt(ram);
    write_exception_handlers(ram);
}

/* Resolves the longest run from gpa (at most len bytes) that the guest may access. */
static const uint8_t *resolve(const struct guest_memory *mem, uint64_t gpa, uint64_t len,
                              bool write, uint64_t *run)
{
    const struct guest_region *r = region_at(mem->layout, gpa);
    if (!r || (write && !r->writable))
        return NULL;
    *run = r->end - gpa < len ? r->end - gpa : len;
    if (r->from_file)
        return mem->file + r->file_offset + (gpa - r->start);
    return mem->ram + gpa;
}

bool guest_range_ok(const struct guest_memory *mem, uint64_t gpa, uint64_t len, bool write)
{
    if (gpa + len < gpa)
        return false;
    while (len > 0) {
        uint64_t run;
        if (!resolve(mem, gpa, len, write, &run))
            return false;
        gpa += run;
        len -= run;
    }
    return true;
}

int guest_copy_in(const struct guest_memory *mem, void *dst, uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa)
        return -1;
    uint8_t *out = dst;
    while (len > 0) {
        uint64_t run;
        const uint8_t *src = resolve(mem, gpa, len, false, &run);
        if (!src || guest_make_resident(mem, gpa, run) < 0)
            return -1;
        memcpy(out, src, run);
        out += run;
        gpa += run;
        len -= run;
    }
    return 0;
}

int guest_copy_out(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len)
{
    if (gpa + len < gpa)
        return -1;
    const uint8_t *in = src;
    while (len > 0) {
        uint64_t run;
        const uint8_t *dst = resolve(mem, gpa, len, true, &run);
        if (!dst || guest_make_resident(mem, gpa, run) < 0)
            return -1;
        memcpy((uint8_t *)dst, in, run);
        in += run;
        gpa += run;
        len -= run;
    }
    return 0;
}
