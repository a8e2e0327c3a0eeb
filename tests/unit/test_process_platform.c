/* Unit tests for the process platform's pure parts: the guest regions it hands a VM process, and
 * how it decodes the control page into a VM exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "denali/abi.h"
#include "image/elf_image.h"
#include "image/guest_layout.h"
#include "platform/process/process_platform.h"
#include "platform/vm_exit.h"
#include "test_elf.h"
#include "test_util.h"

#define PAGE ((uint64_t)DENALI_PAGE_SIZE)
#define MIB  (1ull << 20)

_Static_assert(GUEST_LAYOUT_MAX_REGIONS <= VMPROC_MAX_REGIONS,
               "every region of a layout fits the launch block");

/* One image, its layout, and the regions the platform derives from it. */
struct fixture {
    struct test_elf elf;
    struct elf_image image;
    struct guest_layout layout;
    struct vmproc_region regions[VMPROC_MAX_REGIONS];
    unsigned count;
};

static void plan(struct fixture *f, uint64_t mem_size)
{
    char err[256] = "";
    test_elf_finish(&f->elf);
    if (elf_image_parse(f->elf.bytes, f->elf.size, &f->image, err, sizeof(err)) != 0)
        fail_msg("test image rejected: %s", err);
    if (guest_layout_plan(&f->image, mem_size, &f->layout, err, sizeof(err)) != 0)
        fail_msg("layout refused: %s", err);
    /* Poisoned, so that a field the platform forgets to fill shows up. */
    memset(f->regions, 0xa5, sizeof(f->regions));
    f->count = process_platform_regions(&f->layout, f->regions);
}

static const struct vmproc_region *region_at(const struct fixture *f, uint64_t addr)
{
    for (unsigned i = 0; i < f->count; i++)
        if (addr >= f->regions[i].start && addr < f->regions[i].end)
            return &f->regions[i];
    return NULL;
}

static const struct elf_segment *segment_at(const struct fixture *f, uint64_t addr)
{
    for (unsigned i = 0; i < f->image.segment_count; i++) {
        const struct elf_segment *s = &f->image.segments[i];
        if (addr >= page_down(s->vaddr) && addr < page_up(s->vaddr + s->memsz))
            return s;
    }
    return NULL;
}

static void expect_region(const struct fixture *f, uint64_t addr, uint32_t prot, uint32_t source)
{
    const struct vmproc_region *r = region_at(f, addr);
    if (!r)
        fail_msg("no region covers 0x%llx", (unsigned long long)addr);
    if (r->prot != prot || r->source != source)
        fail_msg("0x%llx: prot %u source %u, expected prot %u source %u", (unsigned long long)addr,
                 r->prot, r->source, prot, source);
}

static void expect_no_region(const struct fixture *f, uint64_t addr)
{
    const struct vmproc_region *r = region_at(f, addr);
    if (r)
        fail_msg("0x%llx is mapped (region 0x%llx-0x%llx) but should not be",
                 (unsigned long long)addr, (unsigned long long)r->start,
                 (unsigned long long)r->end);
}

#define RO  VMPROC_PROT_READ
#define RW  (VMPROC_PROT_READ | VMPROC_PROT_WRITE)
#define RX  (VMPROC_PROT_READ | VMPROC_PROT_EXEC)
#define RAM VMPROC_SOURCE_RAM

/* Rules every region list must keep, whatever the image. */
static void check_invariants(const struct fixture *f)
{
    const uint64_t mem = f->layout.mem_size;
    assert_int_equal(f->count, f->layout.region_count);
    unsigned gates = 0;
    for (unsigned i = 0; i < f->count; i++) {
        const struct vmproc_region *r = &f->regions[i];
        if (r->start < DENALI_LOW_LIMIT)
            fail_msg("region %u starts at 0x%llx, below the low limit", i,
                     (unsigned long long)r->start);
        if (r->end <= r->start || r->end > mem)
            fail_msg("region %u (0x%llx-0x%llx) is empty or beyond guest memory (0x%llx)", i,
                     (unsigned long long)r->start, (unsigned long long)r->end,
                     (unsigned long long)mem);
        /* mmap works in whole pages, so a partial page would map more than the guest may touch. */
        assert_int_equal(r->start % PAGE, 0);
        assert_int_equal(r->end % PAGE, 0);
        assert_true(r->prot & VMPROC_PROT_READ);
        assert_int_equal(r->prot & ~(uint32_t)(RW | VMPROC_PROT_EXEC), 0);
        if ((r->prot & VMPROC_PROT_WRITE) && (r->prot & VMPROC_PROT_EXEC))
            fail_msg("region %u (0x%llx) is writable and executable", i,
                     (unsigned long long)r->start);
        assert_true(r->source == VMPROC_SOURCE_RAM || r->source == VMPROC_SOURCE_FILE ||
                    r->source == VMPROC_SOURCE_GATE);
        /* A private file mapping would swallow writes the monitor must see. */
        if (r->source == VMPROC_SOURCE_FILE)
            assert_false(r->prot & VMPROC_PROT_WRITE);
        if (r->source == VMPROC_SOURCE_FILE)
            assert_int_equal(r->file_offset % PAGE, 0);
        if (r->source == VMPROC_SOURCE_GATE) {
            gates++;
            assert_int_equal(r->start, DENALI_GATE_ADDR);
            assert_int_equal(r->end, DENALI_GATE_ADDR + PAGE);
            assert_int_equal(r->prot, RX);
        }
        for (unsigned j = 0; j < i; j++) {
            const struct vmproc_region *o = &f->regions[j];
            if (r->start < o->end && o->start < r->end)
                fail_msg("regions %u (0x%llx-0x%llx) and %u (0x%llx-0x%llx) overlap", j,
                         (unsigned long long)o->start, (unsigned long long)o->end, i,
                         (unsigned long long)r->start, (unsigned long long)r->end);
        }
    }
    assert_int_equal(gates, 1);
}

/* Every page up to the image's end gets exactly what the ABI and the image say, and no more. */
static void check_pages(const struct fixture *f)
{
    const uint64_t mem = f->layout.mem_size;
    for (uint64_t a = 0; a < DENALI_LOW_LIMIT; a += PAGE)
        expect_no_region(f, a);
    expect_region(f, DENALI_VREGS_ADDR, RO, RAM);
    expect_region(f, DENALI_GATE_ADDR, RX, VMPROC_SOURCE_GATE);
    expect_no_region(f, DENALI_STACK_GUARD);
    for (uint64_t a = DENALI_STACK_BOTTOM; a < DENALI_STACK_TOP; a += PAGE)
        expect_region(f, a, RW, RAM);
    for (uint64_t a = DENALI_IMAGE_BASE; a < f->image.image_end; a += PAGE) {
        const struct elf_segment *s = segment_at(f, a);
        if (!s) {
            expect_no_region(f, a); /* a gap between segments stays unmapped */
            continue;
        }
        if (s->writable) {
            expect_region(f, a, RW, RAM);
            continue;
        }
        expect_region(f, a, s->executable ? RX : RO, VMPROC_SOURCE_FILE);
        /* The page's bytes come from the segment's own place in the file. */
        const struct vmproc_region *r = region_at(f, a);
        uint64_t want = page_down(s->offset) + (a - page_down(s->vaddr));
        if (r->file_offset + (a - r->start) != want)
            fail_msg("0x%llx maps file offset 0x%llx, expected 0x%llx", (unsigned long long)a,
                     (unsigned long long)(r->file_offset + (a - r->start)),
                     (unsigned long long)want);
    }
    /* The heap: everything from the image's end to the end of guest memory. */
    if (f->image.image_end < mem) {
        expect_region(f, f->image.image_end, RW, RAM);
        expect_region(f, mem - PAGE, RW, RAM);
        const struct vmproc_region *heap = region_at(f, f->image.image_end);
        assert_int_equal(heap->start, f->image.image_end);
        assert_int_equal(heap->end, mem);
    }
    expect_no_region(f, mem);
}

static void test_regions_standard_image(void **state)
{
    (void)state;
    const uint64_t sizes[] = {2 * MIB, 64 * MIB, DENALI_MEM_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct fixture f;
        test_elf_standard(&f.elf);
        plan(&f, sizes[i]);
        check_invariants(&f);
        check_pages(&f);
        /* The segments by name: text and rodata from the file, data (and its bss) RAM. */
        expect_region(&f, TEST_TEXT_ADDR, RX, VMPROC_SOURCE_FILE);
        expect_region(&f, TEST_RODATA_ADDR, RO, VMPROC_SOURCE_FILE);
        expect_region(&f, TEST_DATA_ADDR, RW, RAM);
        expect_region(&f, TEST_DATA_ADDR + TEST_DATA_MEMSZ - 1, RW, RAM);
        const struct vmproc_region *text = region_at(&f, TEST_TEXT_ADDR);
        assert_int_equal(text->start, TEST_TEXT_ADDR);
        assert_int_equal(text->file_offset, f.elf.phdrs[TEST_PHDR_TEXT].p_offset);
        const struct vmproc_region *rodata = region_at(&f, TEST_RODATA_ADDR);
        assert_int_equal(rodata->file_offset, page_down(f.elf.phdrs[TEST_PHDR_RODATA].p_offset));
        /* vregs, gate, stack, three segments, heap. */
        assert_int_equal(f.count, 7);
        test_elf_free(&f.elf);
    }
}

/* A clone: RAM comes from the snapshot but for the vregs and the windows mapped over it. */
static void test_clone_regions(void **state)
{
    (void)state;
    struct fixture f;
    test_elf_standard(&f.elf);
    plan(&f, 4 * MIB);
    struct platform_snapshot snap = {.window_count = 1};
    snap.windows[0].start = 2 * MIB;
    snap.windows[0].end = 2 * MIB + 64 * PAGE;
    unsigned before = f.count;
    unsigned count = process_platform_clone_regions(f.regions, f.count, &snap);
    assert_int_equal(count, before + 1);
    f.count = count;
    expect_region(&f, DENALI_VREGS_ADDR, RO, RAM);
    expect_region(&f, DENALI_GATE_ADDR, RX, VMPROC_SOURCE_GATE);
    expect_region(&f, TEST_TEXT_ADDR, RX, VMPROC_SOURCE_FILE);
    expect_region(&f, TEST_RODATA_ADDR, RO, VMPROC_SOURCE_FILE);
    expect_region(&f, TEST_DATA_ADDR, RW, VMPROC_SOURCE_SNAPSHOT);
    expect_region(&f, DENALI_STACK_TOP - PAGE, RW, VMPROC_SOURCE_SNAPSHOT);
    /* The window comes last, so that the VM process maps it over the snapshot's pages. */
    const struct vmproc_region *w = &f.regions[count - 1];
    assert_int_equal(w->start, 2 * MIB);
    assert_int_equal(w->end, 2 * MIB + 64 * PAGE);
    assert_int_equal(w->prot, RW);
    assert_int_equal(w->source, RAM);
    /* No room left: the windows are dropped rather than written past the launch block. */
    struct vmproc_region full[VMPROC_MAX_REGIONS];
    memset(full, 0, sizeof(full));
    assert_int_equal(process_platform_clone_regions(full, VMPROC_MAX_REGIONS, &snap),
                     VMPROC_MAX_REGIONS);
    test_elf_free(&f.elf);
}

/* As many segments as an image may have, starting mid-page, with bss in the writable ones. */
static void test_regions_many_segments(void **state)
{
    (void)state;
    struct fixture f;
    test_elf_init(&f.elf);
    f.elf.ehdr.e_entry = DENALI_IMAGE_BASE;
    const uint32_t flags[] = {PF_R | PF_X, PF_R, PF_R | PF_W};
    for (unsigned i = 0; i < ELF_IMAGE_MAX_SEGMENTS; i++) {
        uint32_t fl = flags[i % 3];
        uint64_t vaddr = DENALI_IMAGE_BASE + i * 3 * PAGE + (i % 3) * 0x10;
        uint64_t filesz = 0x100 + i * 0x10;
        test_elf_add_load(&f.elf, fl, vaddr, filesz, (fl & PF_W) ? 2 * PAGE - 0x20 : filesz);
    }
    test_elf_add_denali_note(&f.elf, DENALI_ABI_VERSION);
    plan(&f, 4 * MIB);
    assert_int_equal(f.image.segment_count, ELF_IMAGE_MAX_SEGMENTS);
    assert_int_equal(f.count, 3 + ELF_IMAGE_MAX_SEGMENTS + 1);
    check_invariants(&f);
    check_pages(&f);
    test_elf_free(&f.elf);
}

/* An image that fills guest memory has no heap region, and nothing runs past the end. */
static void test_regions_image_fills_memory(void **state)
{
    (void)state;
    struct fixture f;
    test_elf_init(&f.elf);
    f.elf.ehdr.e_entry = DENALI_IMAGE_BASE;
    test_elf_add_load(&f.elf, PF_R | PF_X, DENALI_IMAGE_BASE, 0x100, 0x100);
    test_elf_add_load(&f.elf, PF_R | PF_W, 0x110000, 0x100, 2 * MIB - 0x110000);
    test_elf_add_denali_note(&f.elf, DENALI_ABI_VERSION);
    plan(&f, 2 * MIB);
    assert_int_equal(f.image.image_end, 2 * MIB);
    assert_int_equal(f.count, 5);
    check_invariants(&f);
    check_pages(&f);
    expect_region(&f, 2 * MIB - PAGE, RW, RAM);
    test_elf_free(&f.elf);
}

/* --- process_platform_decode --- */

static struct vm_exit decode(const struct vmproc_control *c)
{
    struct vm_exit e;
    /* Garbage in, so that a field the decoder should clear but does not shows up. */
    memset(&e, 0xa5, sizeof(e));
    process_platform_decode(c, &e);
    return e;
}

/* A control page with every field set, as a guest scribbling on it could leave it. */
static struct vmproc_control scribbled(uint32_t kind)
{
    struct vmproc_control c;
    memset(&c, 0x5a, sizeof(c));
    c.kind = kind;
    c.port = DENALI_PORT_BASE + DENALI_HC_CONSOLE_WRITE;
    c.args[0] = 0x150000;
    c.args[1] = 0x42;
    c.args[2] = 0xfeedfacecafef00dull;
    c.rip = 0x100abc;
    c.rsp = 0xffff8;
    c.signo = 11;
    c.si_code = 1;
    c.fault_addr = 0xdead000;
    c.syscall_nr = 2;
    c.syscall_arch = 0xc000003eu;
    c.io_out = 0;
    c.io_size = 4;
    c.message[sizeof(c.message) - 1] = 'x'; /* not NUL-terminated */
    return c;
}

static void test_decode_hypercall(void **state)
{
    (void)state;
    struct vmproc_control c = scribbled(VMPROC_EXIT_HYPERCALL);
    struct vm_exit e = decode(&c);
    assert_int_equal(e.kind, VM_EXIT_IO);
    /* The gate is one single-byte out, whatever the page says about direction and size. */
    assert_int_equal(e.io_out, 1);
    assert_int_equal(e.io_size, 1);
    assert_int_equal(e.io_count, 1);
    assert_int_equal(e.port, DENALI_PORT_BASE + DENALI_HC_CONSOLE_WRITE);
    assert_int_equal(e.args[0], 0x150000);
    assert_int_equal(e.args[1], 0x42);
    assert_int_equal(e.args[2], 0xfeedfacecafef00dull);
    assert_int_equal(e.rip, 0x100abc);
    assert_int_equal(e.rsp, 0xffff8);
    /* Nothing of a fault leaks into a hypercall. */
    assert_int_equal(e.signo, 0);
    assert_int_equal(e.cr2, 0);
    assert_int_equal(e.mmio_addr, 0);
    assert_false(e.mmio_write);
    assert_int_equal(e.detail[0], 0);
}

static void test_decode_port_io(void **state)
{
    (void)state;
    struct vmproc_control c = scribbled(VMPROC_EXIT_PORT_IO);
    c.port = 0x3f8;
    c.io_out = 0;
    c.io_size = 2;
    struct vm_exit e = decode(&c);
    assert_int_equal(e.kind, VM_EXIT_IO);
    assert_int_equal(e.io_out, 0);
    assert_int_equal(e.io_size, 2);
    assert_int_equal(e.io_count, 1);
    assert_int_equal(e.port, 0x3f8);
    assert_int_equal(e.rip, 0x100abc);
    assert_int_equal(e.args[1], 0x42);
    c.io_out = 1;
    c.io_size = 4;
    c.port = DENALI_PORT_BASE;
    e = decode(&c);
    assert_int_equal(e.io_out, 1);
    assert_int_equal(e.io_size, 4);
    assert_int_equal(e.port, DENALI_PORT_BASE);
    /* Any non-zero direction is a write. */
    c.io_out = 0x100;
    e = decode(&c);
    assert_int_equal(e.io_out, 1);
    /* A port no 16-bit port register could hold becomes one no hypercall has. */
    const uint32_t ports[] = {0x10000, 0x10500, 0xffffffff};
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        c.port = ports[i];
        e = decode(&c);
        assert_int_equal(e.kind, VM_EXIT_IO);
        assert_int_equal(e.port, 0xffff);
    }
    c.port = 0xffff;
    e = decode(&c);
    assert_int_equal(e.port, 0xffff);
}

static void test_decode_preempted(void **state)
{
    (void)state;
    struct vmproc_control c = scribbled(VMPROC_EXIT_PREEMPTED);
    struct vm_exit e = decode(&c);
    assert_int_equal(e.kind, VM_EXIT_INTERRUPTED);
    assert_int_equal(e.rip, 0x100abc);
    assert_int_equal(e.signo, 0);
    assert_int_equal(e.port, 0);
}

static void test_decode_fault(void **state)
{
    (void)state;
    struct vmproc_control c = scribbled(VMPROC_EXIT_FAULT);
    c.signo = 31; /* SIGSYS */
    c.si_code = 1;
    c.fault_addr = 0x7fff12345678ull;
    c.syscall_nr = 0x40000027;
    c.syscall_arch = 0x40000003u;
    struct vm_exit e = decode(&c);
    assert_int_equal(e.kind, VM_EXIT_FAULT);
    assert_int_equal(e.signo, 31);
    assert_int_equal(e.si_code, 1);
    assert_int_equal(e.cr2, 0x7fff12345678ull);
    assert_int_equal(e.syscall_nr, 0x40000027);
    assert_int_equal(e.syscall_arch, 0x40000003u);
    assert_int_equal(e.rip, 0x100abc);
    assert_int_equal(e.rsp, 0xffff8);
    /* A fault is not port I/O. */
    assert_int_equal(e.port, 0);
    assert_int_equal(e.io_count, 0);
    /* Negative numbers survive (a guest can ask for syscall -1). */
    c.syscall_nr = -1;
    c.si_code = -6; /* SI_TKILL */
    e = decode(&c);
    assert_int_equal(e.syscall_nr, -1);
    assert_int_equal(e.si_code, -6);
}

static void test_decode_other_kinds_are_unexpected(void **state)
{
    (void)state;
    /* Set-up is over once the guest runs, so these can only be a guest's forgery. */
    const uint32_t kinds[] = {0,          VMPROC_EXIT_READY, VMPROC_EXIT_SETUP_FAILED, 7, 0x102,
                              0xdeadbeef, 0xffffffff};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct vmproc_control c = scribbled(kinds[i]);
        struct vm_exit e = decode(&c);
        assert_int_equal(e.kind, VM_EXIT_UNEXPECTED);
        assert_int_equal(e.reason, kinds[i]);
        assert_int_equal(e.rip, 0x100abc);
        assert_int_equal(e.port, 0);
        assert_int_equal(e.signo, 0);
        assert_int_equal(e.detail[0], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regions_standard_image),
        cmocka_unit_test(test_regions_many_segments),
        cmocka_unit_test(test_clone_regions),
        cmocka_unit_test(test_regions_image_fills_memory),
        cmocka_unit_test(test_decode_hypercall),
        cmocka_unit_test(test_decode_port_io),
        cmocka_unit_test(test_decode_preempted),
        cmocka_unit_test(test_decode_fault),
        cmocka_unit_test(test_decode_other_kinds_are_unexpected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
