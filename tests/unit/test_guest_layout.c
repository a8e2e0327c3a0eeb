/* Unit tests for the guest memory layout: page tables walked like the MMU, KVM slots, guest copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "denali/abi.h"
#include "image/elf_image.h"
#include "image/guest_layout.h"
#include "test_elf.h"
#include "test_util.h"

#define PAGE      ((uint64_t)DENALI_PAGE_SIZE)
#define HUGE_PAGE (2ull << 20)
#define MIB       (1ull << 20)
#define GIB       (1ull << 30)

/* Bits 52..62 are reserved or ignored; the layout must leave them clear. */
#define PTE_HIGH_BITS 0x7ff0000000000000ull

/* One parsed image, its layout at one memory size, and zeroed guest RAM holding the tables. */
struct fixture {
    struct test_elf elf;
    struct elf_image image;
    struct guest_layout layout;
    uint8_t *ram;
    uint64_t mem_size;
    struct guest_memory mem;
};

static void fixture_setup(struct fixture *f, uint64_t mem_size)
{
    char err[256] = "";
    f->mem_size = mem_size;
    test_elf_finish(&f->elf);
    if (elf_image_parse(f->elf.bytes, f->elf.size, &f->image, err, sizeof(err)) != 0)
        fail_msg("test image rejected: %s", err);
    if (guest_layout_plan(&f->image, mem_size, &f->layout, err, sizeof(err)) != 0)
        fail_msg("layout refused: %s", err);
    /* Lazily backed, like the monitor's RAM: only the pages the tables touch cost memory. */
    void *ram = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(ram != MAP_FAILED);
    f->ram = ram;
    guest_layout_write_page_tables(&f->layout, f->ram);
    f->mem = (struct guest_memory){.layout = &f->layout, .ram = f->ram, .file = f->elf.bytes};
}

static void fixture_teardown(struct fixture *f)
{
    munmap(f->ram, f->mem_size);
    test_elf_free(&f->elf);
}

/* What the MMU makes of one guest-virtual address at CPL 3. */
struct walk {
    bool present;
    bool user;
    bool write;
    bool nx;
    uint64_t phys;
    uint64_t page_size;
};

static uint64_t read_entry(const struct fixture *f, uint64_t table, unsigned index)
{
    /* Every table lives in the monitor-owned page-table area. */
    if (table < DENALI_PAGETABLE_ADDR ||
        table >= DENALI_PAGETABLE_ADDR + DENALI_PAGETABLE_PAGES * PAGE || table % PAGE)
        fail_msg("page table at 0x%llx is outside the page-table area", (unsigned long long)table);
    uint64_t entry;
    memcpy(&entry, f->ram + table + index * sizeof(entry), sizeof(entry));
    return entry;
}

static struct walk walk(const struct fixture *f, uint64_t va)
{
    struct walk w = {.user = true, .write = true};
    uint64_t table = DENALI_PAGETABLE_ADDR;
    for (int level = 3; level >= 0; level--) {
        unsigned shift = 12 + 9 * (unsigned)level;
        uint64_t entry = read_entry(f, table, (unsigned)((va >> shift) & 511));
        if (!(entry & PTE_PRESENT))
            return (struct walk){.present = false};
        if (entry & PTE_HIGH_BITS)
            fail_msg("entry 0x%llx for 0x%llx has reserved bits set", (unsigned long long)entry,
                     (unsigned long long)va);
        w.user = w.user && (entry & PTE_USER);
        w.write = w.write && (entry & PTE_WRITE);
        w.nx = w.nx || (entry & PTE_NX);
        bool leaf = level == 0 || (entry & PTE_HUGE);
        if (leaf && level == 3)
            fail_msg("PML4 entry for 0x%llx has PS set", (unsigned long long)va);
        if (leaf) {
            uint64_t size = 1ull << shift;
            uint64_t base = entry & PTE_ADDR_MASK;
            if (base % size)
                fail_msg("leaf for 0x%llx is not aligned to its page size", (unsigned long long)va);
            w.present = true;
            w.page_size = size;
            w.phys = base | (va & (size - 1));
            return w;
        }
        table = entry & PTE_ADDR_MASK;
    }
    return w; /* not reached */
}

enum perm {
    P_NONE,      /* not present */
    P_SYSTEM_RW, /* present, supervisor-only, writable, NX: the CPU's tables and stack */
    P_SYSTEM_RX, /* present, supervisor-only, read-only, executable: the exception handlers */
    P_RO,        /* user, read-only, NX */
    P_RW,        /* user, writable, NX */
    P_RX,        /* user, read-only, executable */
    P_BAD,       /* a combination the layout never means: W+X, or supervisor read-only NX */
};

static const char *perm_name(enum perm p)
{
    static const char *names[] = {"not present",
                                  "supervisor read-write NX",
                                  "supervisor read-execute",
                                  "user read-only NX",
                                  "user read-write NX",
                                  "user read-execute",
                                  "an impossible combination"};
    return names[p];
}

static enum perm perm_of(const struct walk *w)
{
    if (!w->present)
        return P_NONE;
    if (!w->user) {
        if (w->write)
            return w->nx ? P_SYSTEM_RW : P_BAD;
        return w->nx ? P_BAD : P_SYSTEM_RX;
    }
    if (w->write)
        return w->nx ? P_RW : P_BAD;
    return w->nx ? P_RO : P_RX;
}

/* The permission the guest should have at va, worked out from the ABI and the image alone. */
static enum perm expected_perm(const struct fixture *f, uint64_t va)
{
    if (va >= f->mem_size)
        return P_NONE;
    if (va >= GUEST_HANDLER_ADDR && va < GUEST_HANDLER_ADDR + PAGE)
        return P_SYSTEM_RX;
    if (va < DENALI_SYSTEM_ADDR)
        return P_NONE; /* page 0, the page tables */
    if (va < DENALI_SYSTEM_ADDR + PAGE)
        return P_SYSTEM_RW;
    if (va < DENALI_VREGS_ADDR)
        return P_NONE;
    if (va < DENALI_VREGS_ADDR + PAGE)
        return P_RO;
    if (va < DENALI_GATE_ADDR + PAGE)
        return P_RX; /* the hypercall gate */
    if (va < DENALI_STACK_BOTTOM)
        return P_NONE; /* guard */
    if (va < DENALI_STACK_TOP)
        return P_RW;
    if (va >= f->image.image_end)
        return P_RW; /* heap */
    for (unsigned i = 0; i < f->image.segment_count; i++) {
        const struct elf_segment *s = &f->image.segments[i];
        if (va >= page_down(s->vaddr) && va < page_up(s->vaddr + s->memsz))
            return s->writable ? P_RW : s->executable ? P_RX : P_RO;
    }
    return P_NONE; /* a gap inside the image */
}

static void expect_page(const struct fixture *f, uint64_t va, enum perm expected)
{
    struct walk w = walk(f, va);
    enum perm got = perm_of(&w);
    if (got != expected)
        fail_msg("0x%llx: expected %s, got %s (present %d user %d write %d nx %d)",
                 (unsigned long long)va, perm_name(expected), perm_name(got), w.present, w.user,
                 w.write, w.nx);
    if (w.present && w.phys != va)
        fail_msg("0x%llx maps to 0x%llx, not to itself", (unsigned long long)va,
                 (unsigned long long)w.phys);
}

/*
 * Walks every 4 KiB page below low_end and every 2 MiB page above it, comparing the MMU's view
 * with the expected map and with what guest_copy_in/out allow.
 */
static void sweep(struct fixture *f)
{
    uint64_t va = 0;
    while (va < f->mem_size) {
        struct walk w = walk(f, va);
        enum perm expected = expected_perm(f, va);
        expect_page(f, va, expected);
        uint64_t step = va < f->layout.low_end ? PAGE : HUGE_PAGE;
        if (w.present && w.page_size != step)
            fail_msg("0x%llx: page size 0x%llx, expected 0x%llx", (unsigned long long)va,
                     (unsigned long long)w.page_size, (unsigned long long)step);
        /* The copy routines allow exactly what the guest itself may do, at both ends. */
        uint64_t ends[2] = {va, va + step - 1};
        for (int i = 0; i < 2; i++) {
            uint8_t byte = 0;
            bool readable = expected == P_RO || expected == P_RW || expected == P_RX;
            int in = guest_copy_in(&f->mem, &byte, ends[i], 1);
            if ((in == 0) != readable)
                fail_msg("guest_copy_in at 0x%llx returned %d", (unsigned long long)ends[i], in);
            int out = in == 0 ? guest_copy_out(&f->mem, ends[i], &byte, 1) : -1;
            if (readable && (out == 0) != (expected == P_RW))
                fail_msg("guest_copy_out at 0x%llx returned %d", (unsigned long long)ends[i], out);
            if (guest_range_ok(&f->mem, ends[i], 1, false) != readable)
                fail_msg("guest_range_ok(read) at 0x%llx disagrees", (unsigned long long)ends[i]);
            if (guest_range_ok(&f->mem, ends[i], 1, true) != (expected == P_RW))
                fail_msg("guest_range_ok(write) at 0x%llx disagrees", (unsigned long long)ends[i]);
        }
        va += step;
    }
}

static void expect_beyond_mem_unmapped(const struct fixture *f)
{
    const uint64_t beyond[] = {f->mem_size,
                               f->mem_size + PAGE,
                               f->mem_size + HUGE_PAGE,
                               (f->mem_size + GIB) & ~(GIB - 1),
                               4 * GIB,
                               4 * GIB + HUGE_PAGE,
                               512 * GIB,
                               (1ull << 47) - PAGE};
    for (size_t i = 0; i < sizeof(beyond) / sizeof(beyond[0]); i++) {
        if (beyond[i] >= f->mem_size)
            expect_page(f, beyond[i], P_NONE);
    }
}

/* The KVM slots are sorted, disjoint, exactly cover guest memory, and only read-only segments
 * come from the file. */
static void check_slots(const struct fixture *f)
{
    const struct guest_layout *l = &f->layout;
    assert_true(l->slot_count >= 1);
    assert_true(l->slot_count <= GUEST_LAYOUT_MAX_SLOTS);
    uint64_t next = 0;
    unsigned file_slots = 0;
    for (unsigned i = 0; i < l->slot_count; i++) {
        const struct guest_slot *s = &l->slots[i];
        assert_int_equal(s->gpa, next);
        assert_true(s->size > 0);
        assert_int_equal(s->size % PAGE, 0);
        next = s->gpa + s->size;
        if (s->from_file) {
            /* It is the next read-only segment, page-rounded, at its page-rounded offset. */
            const struct elf_segment *seg = NULL;
            unsigned seen = 0;
            for (unsigned j = 0; j < f->image.segment_count; j++) {
                if (f->image.segments[j].writable)
                    continue;
                if (seen++ == file_slots)
                    seg = &f->image.segments[j];
            }
            assert_non_null(seg);
            assert_int_equal(s->gpa, page_down(seg->vaddr));
            assert_int_equal(s->size, page_up(seg->vaddr + seg->memsz) - page_down(seg->vaddr));
            assert_int_equal(s->file_offset, page_down(seg->offset));
            file_slots++;
        }
    }
    assert_int_equal(next, f->mem_size);
    unsigned read_only = 0;
    for (unsigned j = 0; j < f->image.segment_count; j++)
        read_only += !f->image.segments[j].writable;
    assert_int_equal(file_slots, read_only);
}

/* Key addresses of the standard image, checked by name before the sweep. */
static void check_key_addresses(const struct fixture *f)
{
    expect_page(f, 0, P_NONE);
    expect_page(f, 0xff8, P_NONE);
    expect_page(f, DENALI_VREGS_ADDR, P_RO);
    expect_page(f, DENALI_GATE_ADDR, P_RX);
    expect_page(f, DENALI_PAGETABLE_ADDR, P_NONE);
    expect_page(f, DENALI_PAGETABLE_ADDR + (DENALI_PAGETABLE_PAGES - 1) * PAGE, P_NONE);
    expect_page(f, DENALI_SYSTEM_ADDR, P_SYSTEM_RW);
    expect_page(f, GUEST_HANDLER_ADDR, P_SYSTEM_RX);
    expect_page(f, DENALI_STACK_GUARD, P_NONE);
    expect_page(f, DENALI_STACK_BOTTOM, P_RW);
    expect_page(f, DENALI_STACK_TOP - 1, P_RW);
    expect_page(f, TEST_TEXT_ADDR, P_RX);
    expect_page(f, TEST_TEXT_ADDR + TEST_TEXT_SIZE - 1, P_RX);
    expect_page(f, page_up(TEST_TEXT_ADDR + TEST_TEXT_SIZE), P_NONE);
    expect_page(f, TEST_RODATA_ADDR, P_RO);
    expect_page(f, TEST_RODATA_ADDR + PAGE, P_NONE);
    expect_page(f, TEST_DATA_ADDR, P_RW);
    expect_page(f, page_down(TEST_DATA_ADDR), P_RW);
    expect_page(f, TEST_DATA_ADDR + TEST_DATA_FILESZ, P_RW); /* bss */
    expect_page(f, TEST_DATA_ADDR + TEST_DATA_MEMSZ - 1, P_RW);
    expect_page(f, TEST_IMAGE_END, P_RW); /* heap */
    expect_page(f, f->mem_size - 1, P_RW);
}

static void check_layout_at(uint64_t mem_size)
{
    struct fixture f;
    test_elf_standard(&f.elf);
    fixture_setup(&f, mem_size);
    assert_int_equal(f.layout.mem_size, mem_size);
    assert_int_equal(f.layout.low_end, HUGE_PAGE);
    check_key_addresses(&f);
    if (mem_size > HUGE_PAGE) {
        struct walk w = walk(&f, HUGE_PAGE);
        assert_int_equal(w.page_size, HUGE_PAGE);
        expect_page(&f, HUGE_PAGE, P_RW);
    }
    expect_beyond_mem_unmapped(&f);
    check_slots(&f);
    sweep(&f);
    fixture_teardown(&f);
}

static void test_layout_2m(void **state)
{
    (void)state;
    check_layout_at(2 * MIB);
}

static void test_layout_64m(void **state)
{
    (void)state;
    check_layout_at(64 * MIB);
}

static void test_layout_1g_plus_2m(void **state)
{
    (void)state;
    check_layout_at(GIB + 2 * MIB);
}

static void test_layout_4g(void **state)
{
    (void)state;
    check_layout_at(DENALI_MEM_MAX);
}

static void test_layout_slot_shape(void **state)
{
    (void)state;
    /* RAM below text, text (file), RAM in the gap, rodata (file), RAM for the rest. */
    struct fixture f;
    test_elf_standard(&f.elf);
    fixture_setup(&f, 64 * MIB);
    assert_int_equal(f.layout.slot_count, 5);
    assert_false(f.layout.slots[0].from_file);
    assert_true(f.layout.slots[1].from_file);
    assert_int_equal(f.layout.slots[1].gpa, TEST_TEXT_ADDR);
    assert_false(f.layout.slots[2].from_file);
    assert_true(f.layout.slots[3].from_file);
    assert_int_equal(f.layout.slots[3].gpa, TEST_RODATA_ADDR);
    assert_false(f.layout.slots[4].from_file);
    fixture_teardown(&f);
}

/* An image spread over several 2 MiB regions, up to the image limit. */
static void test_layout_large_image(void **state)
{
    (void)state;
    struct fixture f;
    test_elf_init(&f.elf);
    f.elf.ehdr.e_entry = 0x300000;
    test_elf_add_load(&f.elf, PF_R, TEST_TEXT_ADDR, 0x10, 0x10);
    test_elf_add_load(&f.elf, PF_R | PF_X, 0x300000, 0x2000, 0x2000);
    test_elf_add_load(&f.elf, PF_R | PF_W, 0x5ff800, 0x1000, 0x1000);
    test_elf_add_load(&f.elf, PF_R | PF_W, DENALI_IMAGE_LIMIT - 3 * PAGE, 0x10, 3 * PAGE);
    test_elf_add_denali_note(&f.elf, DENALI_ABI_VERSION);
    fixture_setup(&f, 64 * MIB);
    assert_int_equal(f.layout.low_end, DENALI_IMAGE_LIMIT);
    expect_page(&f, 0x200000, P_NONE);
    expect_page(&f, 0x300000, P_RX);
    expect_page(&f, 0x5ff000, P_RW);
    expect_page(&f, 0x600000, P_RW);
    expect_page(&f, 0x601000, P_NONE);
    expect_page(&f, DENALI_IMAGE_LIMIT - PAGE, P_RW);
    expect_page(&f, DENALI_IMAGE_LIMIT, P_RW);
    check_slots(&f);
    sweep(&f);
    fixture_teardown(&f);
}

/* An image that fills guest memory exactly leaves no heap. */
static void test_layout_image_fills_memory(void **state)
{
    (void)state;
    struct fixture f;
    test_elf_init(&f.elf);
    f.elf.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&f.elf, PF_R | PF_X, TEST_TEXT_ADDR, 0x100, 0x100);
    test_elf_add_load(&f.elf, PF_R, HUGE_PAGE - PAGE, 0x100, 0x100);
    test_elf_add_denali_note(&f.elf, DENALI_ABI_VERSION);
    fixture_setup(&f, 2 * MIB);
    assert_int_equal(f.image.image_end, 2 * MIB);
    expect_page(&f, HUGE_PAGE - PAGE, P_RO);
    expect_page(&f, HUGE_PAGE - 2 * PAGE, P_NONE);
    expect_page(&f, HUGE_PAGE, P_NONE);
    check_slots(&f);
    sweep(&f);
    fixture_teardown(&f);
}

static void test_plan_refuses_bad_sizes(void **state)
{
    (void)state;
    int rc;
    struct test_elf e;
    struct elf_image image;
    struct guest_layout layout;
    char err[256] = "";
    test_elf_standard(&e);
    test_elf_finish(&e);
    rc = elf_image_parse(e.bytes, e.size, &image, err, sizeof(err));
    assert_int_equal(rc, 0);
    const uint64_t bad[] = {0, MIB, 3 * MIB, 2 * MIB + PAGE, DENALI_MEM_MAX + 2 * MIB, UINT64_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        rc = guest_layout_plan(&image, bad[i], &layout, err, sizeof(err));
        assert_int_equal(rc, -1);
        assert_contains(err, "guest memory");
    }
    test_elf_free(&e);

    /* An image bigger than guest memory. */
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0x100, 0x100);
    test_elf_add_load(&e, PF_R | PF_W, 0x400000, 0x10, 0x10);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    test_elf_finish(&e);
    rc = elf_image_parse(e.bytes, e.size, &image, err, sizeof(err));
    assert_int_equal(rc, 0);
    rc = guest_layout_plan(&image, 2 * MIB, &layout, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_contains(err, "guest memory");
    rc = guest_layout_plan(&image, 6 * MIB, &layout, err, sizeof(err));
    assert_int_equal(rc, 0);
    test_elf_free(&e);
}

/* The system tables: user segments, and a TSS whose I/O bitmap opens exactly the hypercall ports.
 */
static bool port_open(const uint8_t *tss, unsigned port)
{
    uint16_t iomap;
    memcpy(&iomap, tss + 0x66, sizeof(iomap));
    uint32_t byte = iomap + port / 8;
    if (byte > GUEST_TSS_LIMIT)
        return false;
    return !(tss[byte] & (1u << (port % 8)));
}

static uint64_t descriptor(const uint8_t *gdt, unsigned selector)
{
    uint64_t d;
    memcpy(&d, gdt + (selector & ~7u), sizeof(d));
    return d;
}

static void test_system_tables(void **state)
{
    (void)state;
    uint8_t *ram = calloc(1, DENALI_STACK_GUARD);
    assert_non_null(ram);
    guest_layout_write_system_tables(ram);
    const uint8_t *gdt = ram + GUEST_GDT_ADDR;
    const uint8_t *tss = ram + GUEST_TSS_ADDR;

    /* Selectors ask for ring 3 and sit inside the GDT. */
    assert_int_equal(GUEST_SEL_USER_CODE & 3, 3);
    assert_int_equal(GUEST_SEL_USER_DATA & 3, 3);
    assert_true((GUEST_SEL_USER_CODE | 7) <= GUEST_GDT_LIMIT);
    assert_true(GUEST_SEL_TSS + 15 <= GUEST_GDT_LIMIT);
    uint64_t code = descriptor(gdt, GUEST_SEL_USER_CODE);
    uint64_t data = descriptor(gdt, GUEST_SEL_USER_DATA);
    assert_true(code & (1ull << 47));      /* present */
    assert_int_equal((code >> 45) & 3, 3); /* DPL 3 */
    assert_true(code & (1ull << 43));      /* code */
    assert_true(code & (1ull << 53));      /* 64-bit (L) */
    assert_false(code & (1ull << 54));     /* D clear with L */
    assert_true(data & (1ull << 47));      /* present */
    assert_int_equal((data >> 45) & 3, 3); /* DPL 3 */
    assert_false(data & (1ull << 43));     /* data */
    assert_true(data & (1ull << 41));      /* writable */
    uint64_t tss_low = descriptor(gdt, GUEST_SEL_TSS);
    assert_true(tss_low & (1ull << 47));          /* present */
    assert_int_equal((tss_low >> 40) & 0xf, 0xb); /* 64-bit TSS (busy) */
    uint64_t tss_base = ((tss_low >> 16) & 0xffffff) | ((tss_low >> 56) & 0xff) << 24;
    assert_int_equal(tss_base, GUEST_TSS_ADDR);
    assert_int_equal(tss_low & 0xffff, GUEST_TSS_LIMIT);

    /* Everything lives in the one system page, below the handlers' stack. */
    assert_true(GUEST_TSS_ADDR + GUEST_TSS_LIMIT < GUEST_IDT_ADDR);
    assert_true(GUEST_GDT_ADDR + GUEST_GDT_LIMIT < GUEST_TSS_ADDR);
    assert_true(GUEST_IDT_ADDR + GUEST_IDT_LIMIT < GUEST_HANDLER_STACK - 256);
    assert_int_equal(GUEST_HANDLER_STACK, DENALI_SYSTEM_ADDR + PAGE);

    /* An exception from ring 3 goes to ring 0 code on the system page's stack. */
    uint64_t kernel = descriptor(gdt, GUEST_SEL_KERNEL_CODE);
    assert_true(kernel & (1ull << 47));      /* present */
    assert_int_equal((kernel >> 45) & 3, 0); /* DPL 0 */
    assert_true(kernel & (1ull << 43));      /* code */
    assert_true(kernel & (1ull << 53));      /* 64-bit (L) */
    uint64_t rsp0;
    memcpy(&rsp0, tss + 4, sizeof(rsp0));
    assert_int_equal(rsp0, GUEST_HANDLER_STACK);
    for (unsigned v = 0; v < GUEST_IDT_VECTORS; v++) {
        uint64_t low, high;
        memcpy(&low, ram + GUEST_IDT_ADDR + v * 16, 8);
        memcpy(&high, ram + GUEST_IDT_ADDR + v * 16 + 8, 8);
        uint64_t offset = (low & 0xffff) | ((low >> 48) & 0xffff) << 16 | high << 32;
        assert_int_equal(offset, GUEST_HANDLER_ADDR + v * GUEST_HANDLER_STRIDE);
        assert_int_equal((low >> 16) & 0xffff, GUEST_SEL_KERNEL_CODE);
        /* Present, DPL 0 (an `int n` from ring 3 is a #GP), interrupt gate, no IST. */
        assert_int_equal((low >> 40) & 0xff, 0x8e);
        assert_int_equal((low >> 32) & 7, 0);
        /* Each stub pushes what it must, then jumps to the common part. */
        const uint8_t *stub = ram + offset;
        bool error_code =
            v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
        unsigned at = error_code ? 0 : 2;
        assert_int_equal(stub[at], 0x6a);
        assert_int_equal(stub[at + 1], v);
        assert_int_equal(stub[at + 2], 0xe9);
        int32_t rel;
        memcpy(&rel, stub + at + 3, 4);
        assert_int_equal(offset + at + 7 + (int64_t)rel,
                         GUEST_HANDLER_ADDR + GUEST_IDT_VECTORS * GUEST_HANDLER_STRIDE);
    }
    /* The common part reports with one `out` to the fault port. */
    const uint8_t *common = ram + GUEST_HANDLER_ADDR + GUEST_IDT_VECTORS * GUEST_HANDLER_STRIDE;
    const uint8_t report[] = {0x66, 0xba, GUEST_FAULT_PORT & 0xff, GUEST_FAULT_PORT >> 8, 0xee};
    assert_memory_equal(common + 10, report, sizeof(report));

    for (unsigned nr = 0; nr < 256; nr++)
        assert_true(port_open(tss, DENALI_PORT_BASE + nr));
    assert_false(port_open(tss, GUEST_IO_PORT_LIMIT));
    assert_false(port_open(tss, GUEST_IO_PORT_LIMIT + 7));
    assert_false(port_open(tss, GUEST_IO_PORT_LIMIT + 8));
    assert_false(port_open(tss, 0xffff));
    /* Nothing outside the system and handler pages was written. */
    for (uint64_t i = 0; i < DENALI_STACK_GUARD; i++) {
        if ((i >= DENALI_SYSTEM_ADDR && i < DENALI_SYSTEM_ADDR + PAGE) ||
            (i >= GUEST_HANDLER_ADDR && i < GUEST_HANDLER_ADDR + PAGE))
            continue;
        if (ram[i])
            fail_msg("byte 0x%llx written", (unsigned long long)i);
    }
    free(ram);
}

/* guest_copy_in / guest_copy_out on the standard image in 2 MiB. */

static void copy_setup(struct fixture *f)
{
    test_elf_standard(&f->elf);
    fixture_setup(f, 2 * MIB);
}

static void expect_copy_in_refused(struct fixture *f, uint64_t gpa, uint64_t len)
{
    uint8_t buf[64];
    assert_true(len <= sizeof(buf));
    if (guest_copy_in(&f->mem, buf, gpa, len) != -1)
        fail_msg("guest_copy_in(0x%llx, %llu) was allowed", (unsigned long long)gpa,
                 (unsigned long long)len);
    if (guest_range_ok(&f->mem, gpa, len, false))
        fail_msg("guest_range_ok(0x%llx, %llu, read) said yes", (unsigned long long)gpa,
                 (unsigned long long)len);
}

static void expect_copy_out_refused(struct fixture *f, uint64_t gpa, uint64_t len)
{
    uint8_t buf[64];
    memset(buf, 0xee, sizeof(buf));
    assert_true(len <= sizeof(buf));
    if (guest_copy_out(&f->mem, gpa, buf, len) != -1)
        fail_msg("guest_copy_out(0x%llx, %llu) was allowed", (unsigned long long)gpa,
                 (unsigned long long)len);
    if (guest_range_ok(&f->mem, gpa, len, true))
        fail_msg("guest_range_ok(0x%llx, %llu, write) said yes", (unsigned long long)gpa,
                 (unsigned long long)len);
}

static void test_copy_refuses_forbidden_memory(void **state)
{
    (void)state;
    int rc;
    struct fixture f;
    copy_setup(&f);
    struct {
        uint64_t gpa, len;
    } bad[] = {
        {0, 1},                              /* page 0 */
        {0x800, 8},                          /* page 0 */
        {DENALI_VREGS_ADDR - 8, 16},         /* the low pages into the vregs */
        {DENALI_PAGETABLE_ADDR, 8},          /* the PML4 */
        {DENALI_PAGETABLE_ADDR + 0x6000, 8}, /* a later table */
        {DENALI_GATE_ADDR + PAGE - 8, 16},   /* the gate into the guard */
        {DENALI_SYSTEM_ADDR, 8},             /* GDT */
        {GUEST_TSS_ADDR, 8},                 /* TSS */
        {DENALI_SYSTEM_ADDR - 8, 16},        /* tables into the system page */
        {DENALI_STACK_GUARD, 1},             /* guard */
        {DENALI_STACK_BOTTOM - 8, 16},       /* guard into the stack */
        {DENALI_STACK_BOTTOM - 1, 2},        /* guard into the stack */
        {0x102000, 4},                       /* the gap after text */
        {TEST_RODATA_ADDR + PAGE - 4, 8},    /* rodata into the gap */
        {2 * MIB, 1},                        /* at mem_size */
        {2 * MIB - 8, 16},                   /* straddling mem_size */
        {4 * GIB, 8},                        /* far beyond */
        {UINT64_MAX, 1},                     /* the last address */
        {UINT64_MAX - 7, 16},                /* wraps to 0 */
        {UINT64_MAX - 7, 9},                 /* wraps by one byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_copy_in_refused(&f, bad[i].gpa, bad[i].len);
        expect_copy_out_refused(&f, bad[i].gpa, bad[i].len);
    }
    /* A huge length from a good address wraps around 2^64. */
    uint8_t buf[16];
    assert_false(guest_range_ok(&f.mem, TEST_IMAGE_END, UINT64_MAX, false));
    assert_false(guest_range_ok(&f.mem, 0, UINT64_MAX, false));
    rc = guest_copy_in(&f.mem, buf, TEST_IMAGE_END, UINT64_MAX);
    assert_int_equal(rc, -1);
    rc = guest_copy_out(&f.mem, TEST_IMAGE_END, buf, UINT64_MAX - 0x1000);
    assert_int_equal(rc, -1);
    fixture_teardown(&f);
}

static void test_copy_out_refuses_read_only(void **state)
{
    (void)state;
    int rc;
    struct fixture f;
    copy_setup(&f);
    expect_copy_out_refused(&f, TEST_TEXT_ADDR, 8);
    expect_copy_out_refused(&f, TEST_ENTRY, 1);
    expect_copy_out_refused(&f, TEST_TEXT_ADDR + TEST_TEXT_SIZE - 1, 1);
    expect_copy_out_refused(&f, TEST_RODATA_ADDR, 8);
    expect_copy_out_refused(&f, TEST_RODATA_ADDR + TEST_RODATA_SIZE, 8); /* rest of the page */
    expect_copy_out_refused(&f, DENALI_VREGS_ADDR, 8);
    expect_copy_out_refused(&f, DENALI_VREGS_ADDR + PAGE - 1, 1);
    /* From the writable stack into read-only text. */
    expect_copy_out_refused(&f, DENALI_STACK_TOP - 8, 16);
    /* The vregs in guest RAM were not touched. */
    for (uint64_t i = 0; i < PAGE; i++)
        assert_int_equal(f.ram[DENALI_VREGS_ADDR + i], 0);
    /* Reading them is allowed. */
    struct denali_vregs *v = (struct denali_vregs *)(f.ram + DENALI_VREGS_ADDR);
    v->vm_id = 77;
    uint32_t id = 0;
    rc = guest_copy_in(&f.mem, &id, DENALI_VREGS_ADDR + offsetof(struct denali_vregs, vm_id), 4);
    assert_int_equal(rc, 0);
    assert_int_equal(id, 77);
    fixture_teardown(&f);
}

static void test_copy_in_stack_into_text(void **state)
{
    (void)state;
    int rc;
    struct fixture f;
    copy_setup(&f);
    for (unsigned i = 0; i < 16; i++)
        f.ram[DENALI_STACK_TOP - 16 + i] = (uint8_t)(0xa0 + i);
    uint8_t buf[48];
    rc = guest_copy_in(&f.mem, buf, DENALI_STACK_TOP - 16, sizeof(buf));
    assert_int_equal(rc, 0);
    uint64_t text_offset = f.elf.phdrs[TEST_PHDR_TEXT].p_offset;
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(buf[i], 0xa0 + i);
    for (unsigned i = 16; i < sizeof(buf); i++)
        assert_int_equal(buf[i], f.elf.bytes[text_offset + i - 16]);
    assert_true(guest_range_ok(&f.mem, DENALI_STACK_TOP - 16, sizeof(buf), false));
    assert_false(guest_range_ok(&f.mem, DENALI_STACK_TOP - 16, sizeof(buf), true));
    /* The whole stack and the whole heap, each as one range. */
    assert_true(
        guest_range_ok(&f.mem, DENALI_STACK_BOTTOM, DENALI_STACK_TOP - DENALI_STACK_BOTTOM, true));
    assert_true(guest_range_ok(&f.mem, TEST_IMAGE_END, 2 * MIB - TEST_IMAGE_END, true));
    assert_false(guest_range_ok(&f.mem, TEST_IMAGE_END, 2 * MIB - TEST_IMAGE_END + 1, false));
    fixture_teardown(&f);
}

static void test_copy_in_from_file_segments(void **state)
{
    (void)state;
    int rc;
    struct fixture f;
    copy_setup(&f);
    /* Whole pages of text and rodata read back as the file's bytes, even past filesz. */
    uint8_t *buf = malloc(2 * PAGE);
    assert_non_null(buf);
    uint64_t text_offset = f.elf.phdrs[TEST_PHDR_TEXT].p_offset;
    rc = guest_copy_in(&f.mem, buf, TEST_TEXT_ADDR, 2 * PAGE);
    assert_int_equal(rc, 0);
    assert_memory_equal(buf, f.elf.bytes + text_offset, 2 * PAGE);
    uint64_t rodata_offset = f.elf.phdrs[TEST_PHDR_RODATA].p_offset;
    rc = guest_copy_in(&f.mem, buf, TEST_RODATA_ADDR, PAGE);
    assert_int_equal(rc, 0);
    assert_memory_equal(buf, f.elf.bytes + page_down(rodata_offset), PAGE);
    assert_int_equal(buf[0], test_elf_pattern(rodata_offset));
    free(buf);
    fixture_teardown(&f);
}

static void test_copy_heap_and_data(void **state)
{
    (void)state;
    int rc;
    struct fixture f;
    copy_setup(&f);
    const char msg[] = "hello, heap";
    uint8_t back[sizeof(msg)];
    const uint64_t places[] = {
        TEST_IMAGE_END,                           /* first heap byte */
        0x150000,                                 /* middle of the heap */
        2 * MIB - sizeof(msg),                    /* last heap bytes */
        TEST_DATA_ADDR,                           /* data */
        TEST_DATA_ADDR + TEST_DATA_FILESZ + 0x10, /* bss */
        page_down(TEST_DATA_ADDR),                /* data's first page, below its vaddr */
        DENALI_STACK_BOTTOM,                      /* stack */
        DENALI_STACK_TOP - sizeof(msg),           /* top of the stack */
    };
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        rc = guest_copy_out(&f.mem, places[i], msg, sizeof(msg));
        assert_int_equal(rc, 0);
        assert_memory_equal(f.ram + places[i], msg, sizeof(msg));
        memset(back, 0, sizeof(back));
        rc = guest_copy_in(&f.mem, back, places[i], sizeof(back));
        assert_int_equal(rc, 0);
        assert_memory_equal(back, msg, sizeof(msg));
    }
    fixture_teardown(&f);
}

static void test_copy_zero_length(void **state)
{
    (void)state;
    int rc;
    struct fixture f;
    copy_setup(&f);
    uint8_t byte = 0x5a;
    /* No byte is outside the guest's reach, so nothing is refused and nothing is touched. */
    rc = guest_copy_in(&f.mem, &byte, 0, 0);
    assert_int_equal(rc, 0);
    rc = guest_copy_out(&f.mem, TEST_TEXT_ADDR, &byte, 0);
    assert_int_equal(rc, 0);
    assert_int_equal(byte, 0x5a);
    fixture_teardown(&f);
}

static void test_copy_across_huge_pages(void **state)
{
    (void)state;
    int rc;
    struct fixture f;
    test_elf_standard(&f.elf);
    fixture_setup(&f, GIB + 2 * MIB);
    uint8_t out[64], in[64];
    for (unsigned i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 3 + 1);
    /* Across the 4 KiB / 2 MiB boundary and across the first GiB. */
    const uint64_t places[] = {HUGE_PAGE - 32, GIB - 32, GIB + 2 * MIB - sizeof(out)};
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        rc = guest_copy_out(&f.mem, places[i], out, sizeof(out));
        assert_int_equal(rc, 0);
        rc = guest_copy_in(&f.mem, in, places[i], sizeof(in));
        assert_int_equal(rc, 0);
        assert_memory_equal(in, out, sizeof(out));
        assert_memory_equal(f.ram + places[i], out, sizeof(out));
    }
    expect_copy_in_refused(&f, GIB + 2 * MIB - 32, 64);
    fixture_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_2m),
        cmocka_unit_test(test_layout_64m),
        cmocka_unit_test(test_layout_1g_plus_2m),
        cmocka_unit_test(test_layout_4g),
        cmocka_unit_test(test_layout_slot_shape),
        cmocka_unit_test(test_layout_large_image),
        cmocka_unit_test(test_layout_image_fills_memory),
        cmocka_unit_test(test_plan_refuses_bad_sizes),
        cmocka_unit_test(test_system_tables),
        cmocka_unit_test(test_copy_refuses_forbidden_memory),
        cmocka_unit_test(test_copy_out_refuses_read_only),
        cmocka_unit_test(test_copy_in_stack_into_text),
        cmocka_unit_test(test_copy_in_from_file_segments),
        cmocka_unit_test(test_copy_heap_and_data),
        cmocka_unit_test(test_copy_zero_length),
        cmocka_unit_test(test_copy_across_huge_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
