/* Unit tests for elf_image_parse and elf_image_check_fits: a good image and every malformed one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "denali/abi.h"
#include "image/elf_image.h"
#include "test_elf.h"
#include "test_util.h"

#define PAGE ((uint64_t)DENALI_PAGE_SIZE)

/* Parses e's bytes, the first size of them. */
static int parse_prefix(struct test_elf *e, size_t size, struct elf_image *image, char *err,
                        size_t errlen)
{
    test_elf_finish(e);
    return elf_image_parse(e->bytes, size, image, err, errlen);
}

/* Parses the first size bytes of e, expects a rejection whose reason contains needle, frees e. */
static void expect_reject_prefix(struct test_elf *e, size_t size, const char *needle)
{
    struct elf_image image;
    char err[256] = "";
    int rc = parse_prefix(e, size, &image, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_contains(err, needle);
    /* A one-line reason. */
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\n'));
    test_elf_free(e);
}

static void expect_reject(struct test_elf *e, const char *needle)
{
    expect_reject_prefix(e, e->size, needle);
}

static void expect_accept(struct test_elf *e, struct elf_image *image)
{
    char err[256] = "";
    int rc = parse_prefix(e, e->size, image, err, sizeof(err));
    if (rc != 0)
        fail_msg("rejected: %s", err);
    test_elf_free(e);
}

/* An image with one text segment at the image base, entry at its start, and the ABI note. */
static void minimal(struct test_elf *e)
{
    test_elf_init(e);
    e->ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(e, PF_R | PF_X, TEST_TEXT_ADDR, 0x100, 0x100);
    test_elf_add_denali_note(e, DENALI_ABI_VERSION);
}

static void test_good_image(void **state)
{
    (void)state;
    int rc;
    struct test_elf e;
    struct elf_image image;
    test_elf_standard(&e);
    uint64_t data_offset = e.phdrs[TEST_PHDR_DATA].p_offset;
    expect_accept(&e, &image);
    assert_int_equal(image.entry, TEST_ENTRY);
    assert_int_equal(image.abi_version, DENALI_ABI_VERSION);
    assert_int_equal(image.segment_count, 3);
    assert_int_equal(image.image_end, TEST_IMAGE_END);

    const struct elf_segment *text = &image.segments[0];
    assert_int_equal(text->vaddr, TEST_TEXT_ADDR);
    assert_int_equal(text->memsz, TEST_TEXT_SIZE);
    assert_int_equal(text->filesz, TEST_TEXT_SIZE);
    assert_true(text->executable);
    assert_false(text->writable);

    const struct elf_segment *rodata = &image.segments[1];
    assert_int_equal(rodata->vaddr, TEST_RODATA_ADDR);
    assert_false(rodata->executable);
    assert_false(rodata->writable);

    const struct elf_segment *data = &image.segments[2];
    assert_int_equal(data->vaddr, TEST_DATA_ADDR);
    assert_int_equal(data->filesz, TEST_DATA_FILESZ);
    assert_int_equal(data->memsz, TEST_DATA_MEMSZ);
    assert_int_equal(data->offset, data_offset);
    assert_true(data->writable);
    assert_false(data->executable);

    char err[256] = "";
    rc = elf_image_check_fits(&image, DENALI_MEM_MIN, err, sizeof(err));
    assert_int_equal(rc, 0);
}

static void test_segments_sorted_by_address(void **state)
{
    (void)state;
    struct test_elf e;
    struct elf_image image;
    test_elf_init(&e);
    e.ehdr.e_entry = 0x300000;
    test_elf_add_load(&e, PF_R | PF_W, 0x500000, 0x10, 0x10);
    test_elf_add_load(&e, PF_R | PF_X, 0x300000, 0x10, 0x10);
    test_elf_add_load(&e, PF_R, 0x100000, 0x10, 0x10);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_accept(&e, &image);
    assert_int_equal(image.segment_count, 3);
    assert_int_equal(image.segments[0].vaddr, 0x100000);
    assert_int_equal(image.segments[1].vaddr, 0x300000);
    assert_int_equal(image.segments[2].vaddr, 0x500000);
    assert_int_equal(image.image_end, 0x501000);
}

static void test_other_program_headers_ignored(void **state)
{
    (void)state;
    struct test_elf e;
    struct elf_image image;
    minimal(&e);
    Elf64_Phdr stack = {.p_type = PT_GNU_STACK, .p_flags = PF_R | PF_W};
    Elf64_Phdr tls = {.p_type = PT_TLS, .p_flags = PF_R, .p_vaddr = TEST_TEXT_ADDR};
    test_elf_add_phdr(&e, &stack);
    test_elf_add_phdr(&e, &tls);
    expect_accept(&e, &image);
    assert_int_equal(image.segment_count, 1);
}

static void test_note_after_other_notes(void **state)
{
    (void)state;
    struct test_elf e;
    struct elf_image image;
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0x100, 0x100);
    /* A first PT_NOTE holding only a GNU note, then one holding another note and the ABI note. */
    uint8_t build_id[20] = {1, 2, 3};
    test_elf_add_note(&e, "GNU", 4, NT_GNU_BUILD_ID, build_id, sizeof(build_id));
    unsigned both = test_elf_add_note(&e, "Other", 6, 7, build_id, 5);
    uint64_t first_offset = e.phdrs[both].p_offset;
    unsigned abi = test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    assert_int_equal(e.phdrs[abi].p_offset, first_offset + e.phdrs[both].p_filesz);
    e.phdrs[both].p_filesz += e.phdrs[abi].p_filesz;
    e.phdrs[both].p_memsz = e.phdrs[both].p_filesz;
    e.phdrs[abi].p_type = PT_NULL;
    expect_accept(&e, &image);
    assert_int_equal(image.abi_version, DENALI_ABI_VERSION);
}

static void test_segment_ending_at_image_limit(void **state)
{
    (void)state;
    struct test_elf e;
    struct elf_image image;
    minimal(&e);
    test_elf_add_load(&e, PF_R | PF_W, DENALI_IMAGE_LIMIT - PAGE, 0x10, PAGE);
    expect_accept(&e, &image);
    assert_int_equal(image.image_end, DENALI_IMAGE_LIMIT);
}

/* Truncated files. */

static void test_truncated_header(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    expect_reject_prefix(&e, sizeof(Elf64_Ehdr) - 1, "truncated");
    test_elf_standard(&e);
    expect_reject_prefix(&e, 4, "truncated");
    test_elf_standard(&e);
    expect_reject_prefix(&e, 0, "truncated");
}

static void test_truncated_program_headers(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    expect_reject_prefix(&e, sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 10, "program headers");
    test_elf_standard(&e);
    expect_reject_prefix(&e, sizeof(Elf64_Ehdr) + 4 * sizeof(Elf64_Phdr) - 1, "truncated");
}

static void test_program_headers_beyond_file(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_phoff = UINT64_MAX - 8; /* offset + size wraps */
    expect_reject(&e, "program headers");
    test_elf_standard(&e);
    e.ehdr.e_phoff = e.size;
    expect_reject(&e, "program headers");
}

static void test_truncated_segment_data(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    const Elf64_Phdr *data = &e.phdrs[TEST_PHDR_DATA];
    expect_reject_prefix(&e, data->p_offset + data->p_filesz - 1, "truncated");
    test_elf_standard(&e);
    const Elf64_Phdr *text = &e.phdrs[TEST_PHDR_TEXT];
    expect_reject_prefix(&e, text->p_offset + 1, "outside the file");
}

static void test_truncated_note(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    const Elf64_Phdr *note = &e.phdrs[TEST_PHDR_NOTE];
    assert_int_equal(note->p_offset + note->p_filesz, e.size);
    expect_reject_prefix(&e, e.size - 1, "note");
    test_elf_standard(&e);
    expect_reject_prefix(&e, e.phdrs[TEST_PHDR_NOTE].p_offset + 4, "truncated");
}

/* The ELF header. */

static void test_bad_magic(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_ident[EI_MAG1] = 'X';
    expect_reject(&e, "not an ELF");
    test_elf_standard(&e);
    e.ehdr.e_ident[EI_MAG0] = 0;
    expect_reject(&e, "not an ELF");
}

static void test_bad_class(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_ident[EI_CLASS] = ELFCLASS32;
    expect_reject(&e, "64-bit");
    test_elf_standard(&e);
    e.ehdr.e_ident[EI_CLASS] = ELFCLASSNONE;
    expect_reject(&e, "64-bit");
}

static void test_bad_endianness(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_ident[EI_DATA] = ELFDATA2MSB;
    expect_reject(&e, "little-endian");
}

static void test_bad_version(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_ident[EI_VERSION] = 2;
    expect_reject(&e, "version");
    test_elf_standard(&e);
    e.ehdr.e_version = EV_NONE;
    expect_reject(&e, "version");
}

static void test_bad_machine(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_machine = EM_386;
    expect_reject(&e, "x86-64");
    test_elf_standard(&e);
    e.ehdr.e_machine = EM_AARCH64;
    expect_reject(&e, "x86-64");
}

static void test_bad_type(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_type = ET_DYN;
    expect_reject(&e, "not a static executable");
    test_elf_standard(&e);
    e.ehdr.e_type = ET_REL;
    expect_reject(&e, "not a static executable");
    test_elf_standard(&e);
    e.ehdr.e_type = ET_CORE;
    expect_reject(&e, "not a static executable");
}

static void test_bad_program_header_size(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_phentsize = sizeof(Elf32_Phdr);
    expect_reject(&e, "program header size");
}

static void test_bad_program_header_count(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.ehdr.e_phnum = 0;
    expect_reject(&e, "program header count");
    /* More program headers than any real guest has, though all fit in the file. */
    test_elf_standard(&e);
    Elf64_Phdr null = {.p_type = PT_NULL};
    while (e.ehdr.e_phnum < 65)
        test_elf_add_phdr(&e, &null);
    expect_reject(&e, "program header count");
}

/* Program headers. */

static void test_dynamic(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    const char interp[] = "/lib64/ld-linux-x86-64.so.2";
    uint64_t offset = test_elf_append(&e, interp, sizeof(interp));
    Elf64_Phdr ph = {
        .p_type = PT_INTERP, .p_flags = PF_R, .p_offset = offset, .p_filesz = sizeof(interp)};
    test_elf_add_phdr(&e, &ph);
    expect_reject(&e, "dynamic");

    test_elf_standard(&e);
    Elf64_Phdr dyn = {.p_type = PT_DYNAMIC, .p_flags = PF_R | PF_W};
    test_elf_add_phdr(&e, &dyn);
    expect_reject(&e, "dynamic");
}

static void test_no_load_segments(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_reject(&e, "no loadable segments");

    /* Empty PT_LOADs load nothing. */
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0, 0);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_reject(&e, "no loadable segments");
}

static void test_too_many_segments(void **state)
{
    (void)state;
    struct test_elf e;
    minimal(&e);
    for (unsigned i = 1; i < ELF_IMAGE_MAX_SEGMENTS; i++)
        test_elf_add_load(&e, PF_R, TEST_TEXT_ADDR + i * 0x10000, 0x10, 0x10);
    struct elf_image image;
    expect_accept(&e, &image);
    assert_int_equal(image.segment_count, ELF_IMAGE_MAX_SEGMENTS);

    minimal(&e);
    for (unsigned i = 1; i <= ELF_IMAGE_MAX_SEGMENTS; i++)
        test_elf_add_load(&e, PF_R, TEST_TEXT_ADDR + i * 0x10000, 0x10, 0x10);
    expect_reject(&e, "more than 8 loadable segments");
}

static void test_overlapping_segments(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0x3000, 0x3000);
    test_elf_add_load(&e, PF_R, TEST_TEXT_ADDR + 0x1000, 0x1000, 0x1000);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_reject(&e, "overlap");

    /* The same two segments listed the other way round. */
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R, TEST_TEXT_ADDR + 0x1000, 0x1000, 0x1000);
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0x3000, 0x3000);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_reject(&e, "overlap");

    /* Identical addresses. */
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0x100, 0x100);
    test_elf_add_load(&e, PF_R | PF_W, TEST_TEXT_ADDR, 0x100, 0x100);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_reject(&e, "overlap");
}

static void test_segments_sharing_a_page(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0x800, 0x800);
    test_elf_add_load(&e, PF_R | PF_W, TEST_TEXT_ADDR + 0xc00, 0x100, 0x100);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_reject(&e, "share a page");

    /* The first one's bss reaches into the page the second starts in. */
    test_elf_init(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR;
    test_elf_add_load(&e, PF_R | PF_X, TEST_TEXT_ADDR, 0x800, 0x800);
    test_elf_add_load(&e, PF_R | PF_W, TEST_TEXT_ADDR + 0x1000, 0x10, 0x1010);
    test_elf_add_load(&e, PF_R, TEST_TEXT_ADDR + 0x2f00, 0x10, 0x10);
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION);
    expect_reject(&e, "share a page");
}

static void test_writable_and_executable(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_TEXT].p_flags = PF_R | PF_W | PF_X;
    expect_reject(&e, "W^X");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_flags = PF_W | PF_X;
    expect_reject(&e, "writable and executable");
}

static void test_filesz_exceeds_memsz(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_memsz = TEST_DATA_FILESZ - 1;
    expect_reject(&e, "file size exceeds memory size");
}

/* Regression: a short non-ELF file is reported as a truncated ELF, not as "not an ELF". */
static void test_short_non_elf(void **state)
{
    (void)state;
    int rc;
    const char script[] = "#!/bin/sh\necho hi\n";
    struct elf_image image;
    char err[256] = "";
    rc = elf_image_parse((const uint8_t *)script, sizeof(script) - 1, &image, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_contains(err, "not an ELF");
}

/* Regression: a PT_LOAD with memsz 0 is skipped before its filesz is checked. */
static void test_filesz_exceeds_zero_memsz(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_memsz = 0;
    expect_reject(&e, "file size exceeds memory size");
}

static void test_vaddr_memsz_overflow(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_vaddr = UINT64_MAX - 0xfef;
    e.phdrs[TEST_PHDR_DATA].p_memsz = 0x2000;
    e.phdrs[TEST_PHDR_DATA].p_offset |= 0x10;
    expect_reject(&e, "overflow");

    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_memsz = 1ull << 63;
    expect_reject(&e, "outside the image area");
}

/*
 * Regression: with memsz within a page of 2^64 the overflow check itself wraps, the end wraps below
 * the image limit, and the segment is accepted.
 */
static void test_memsz_near_2_64_overflow(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_memsz = UINT64_MAX;
    expect_reject(&e, "overflow");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_memsz = UINT64_MAX - 0x800;
    expect_reject(&e, "overflow");
}

static void test_offset_filesz_overflow(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    Elf64_Phdr *data = &e.phdrs[TEST_PHDR_DATA];
    data->p_offset = (UINT64_MAX & ~(PAGE - 1)) | (data->p_vaddr & (PAGE - 1));
    expect_reject(&e, "outside the file");

    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_TEXT].p_filesz = UINT64_MAX;
    e.phdrs[TEST_PHDR_TEXT].p_memsz = UINT64_MAX;
    expect_reject(&e, "outside the file");
}

static void test_not_page_congruent(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_RODATA].p_offset += 8;
    expect_reject(&e, "page-congruent");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_DATA].p_vaddr += 0x100;
    expect_reject(&e, "page-congruent");
}

static void test_segment_below_image_base(void **state)
{
    (void)state;
    struct test_elf e;
    minimal(&e);
    test_elf_add_load(&e, PF_R | PF_W, DENALI_IMAGE_BASE - PAGE, 0x10, 0x10);
    expect_reject(&e, "outside the image area");

    /* On top of page 0 and the virtual registers. */
    minimal(&e);
    test_elf_add_load(&e, PF_R, 0, 0x10, 0x10);
    expect_reject(&e, "outside the image area");
    minimal(&e);
    test_elf_add_load(&e, PF_R, DENALI_VREGS_ADDR, 0x10, 0x10);
    expect_reject(&e, "outside the image area");
    /* Over the stack, just below the base. */
    minimal(&e);
    test_elf_add_load(&e, PF_R | PF_W, DENALI_IMAGE_BASE - 0x10, 0x10, 0x10);
    expect_reject(&e, "outside the image area");
}

static void test_segment_above_image_limit(void **state)
{
    (void)state;
    struct test_elf e;
    minimal(&e);
    test_elf_add_load(&e, PF_R | PF_W, DENALI_IMAGE_LIMIT, 0x10, 0x10);
    expect_reject(&e, "outside the image area");
    /* Starts below the limit, ends above it. */
    minimal(&e);
    test_elf_add_load(&e, PF_R | PF_W, DENALI_IMAGE_LIMIT - PAGE, 0x10, PAGE + 1);
    expect_reject(&e, "outside the image area");
    minimal(&e);
    test_elf_add_load(&e, PF_R, 0x40000000, 0x10, 0x10);
    expect_reject(&e, "outside the image area");
}

static void test_read_only_segment_with_bss(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_RODATA].p_memsz += 0x10;
    expect_reject(&e, "zero-fill");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_TEXT].p_filesz -= 0x10;
    expect_reject(&e, "zero-fill");
}

static void test_entry_outside_executable_segment(void **state)
{
    (void)state;
    struct test_elf e;
    /* In the data segment. */
    test_elf_standard(&e);
    e.ehdr.e_entry = TEST_DATA_ADDR + 0x10;
    expect_reject(&e, "entry point");
    /* In rodata. */
    test_elf_standard(&e);
    e.ehdr.e_entry = TEST_RODATA_ADDR;
    expect_reject(&e, "entry point");
    /* In the gap after text, and just past its last byte. */
    test_elf_standard(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR + TEST_TEXT_SIZE;
    expect_reject(&e, "entry point");
    test_elf_standard(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR - 1;
    expect_reject(&e, "entry point");
    /* Beyond every segment, and the null entry. */
    test_elf_standard(&e);
    e.ehdr.e_entry = TEST_IMAGE_END + 0x1000;
    expect_reject(&e, "entry point");
    test_elf_standard(&e);
    e.ehdr.e_entry = 0;
    expect_reject(&e, "entry point");
}

static void test_entry_at_last_text_byte(void **state)
{
    (void)state;
    struct test_elf e;
    struct elf_image image;
    test_elf_standard(&e);
    e.ehdr.e_entry = TEST_TEXT_ADDR + TEST_TEXT_SIZE - 1;
    expect_accept(&e, &image);
    assert_int_equal(image.entry, TEST_TEXT_ADDR + TEST_TEXT_SIZE - 1);
}

/* elf_image_check_fits. */

static void test_image_larger_than_memory(void **state)
{
    (void)state;
    int rc;
    struct test_elf e;
    struct elf_image image;
    minimal(&e);
    test_elf_add_load(&e, PF_R | PF_W, 0x3ff000, 0x10, 0x1000);
    expect_accept(&e, &image);
    assert_int_equal(image.image_end, 0x400000);
    char err[256] = "";
    rc = elf_image_check_fits(&image, 0x200000, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_contains(err, "guest memory");
    assert_null(strchr(err, '\n'));
    /* Exactly fitting is fine. */
    rc = elf_image_check_fits(&image, 0x400000, err, sizeof(err));
    assert_int_equal(rc, 0);
    rc = elf_image_check_fits(&image, 0x600000, err, sizeof(err));
    assert_int_equal(rc, 0);
}

/* The ABI note. */

static void test_missing_abi_note(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    expect_reject(&e, "no Denali ABI note");

    /* Other notes only. */
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    uint8_t id[8] = {0};
    test_elf_add_note(&e, "GNU", 4, NT_GNU_BUILD_ID, id, sizeof(id));
    expect_reject(&e, "no Denali ABI note");
}

static void test_abi_note_wrong_name_or_type(void **state)
{
    (void)state;
    struct test_elf e;
    struct denali_abi_note note = {.abi_version = DENALI_ABI_VERSION};
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    test_elf_add_note(&e, "Denalx", 7, DENALI_NOTE_ABI, &note, sizeof(note));
    expect_reject(&e, "no Denali ABI note");
    /* The name without its NUL. */
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    test_elf_add_note(&e, "Denali", 6, DENALI_NOTE_ABI, &note, sizeof(note));
    expect_reject(&e, "no Denali ABI note");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    test_elf_add_note(&e, DENALI_NOTE_NAME, sizeof(DENALI_NOTE_NAME), DENALI_NOTE_ABI + 1, &note,
                      sizeof(note));
    expect_reject(&e, "no Denali ABI note");
}

static void test_wrong_abi_version(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    test_elf_add_denali_note(&e, DENALI_ABI_VERSION + 1);
    char newer[32];
    snprintf(newer, sizeof(newer), "ABI %u", DENALI_ABI_VERSION + 1);
    expect_reject(&e, newer);
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    test_elf_add_denali_note(&e, 0);
    expect_reject(&e, "ABI 0");
}

/* Patches the standard image's Denali note header (at the start of its PT_NOTE). */
static void patch_note(struct test_elf *e, uint32_t namesz, uint32_t descsz)
{
    Elf64_Nhdr nhdr;
    uint8_t *at = e->bytes + e->phdrs[TEST_PHDR_NOTE].p_offset;
    memcpy(&nhdr, at, sizeof(nhdr));
    nhdr.n_namesz = namesz;
    nhdr.n_descsz = descsz;
    memcpy(at, &nhdr, sizeof(nhdr));
}

static void test_malformed_note_sizes(void **state)
{
    (void)state;
    struct test_elf e;
    uint32_t v = DENALI_ABI_VERSION;
    /* Descriptor too big or too small for the version. */
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    uint32_t two[2] = {v, v};
    test_elf_add_note(&e, DENALI_NOTE_NAME, sizeof(DENALI_NOTE_NAME), DENALI_NOTE_ABI, two, 8);
    expect_reject(&e, "no Denali ABI note");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_type = PT_NULL;
    test_elf_add_note(&e, DENALI_NOTE_NAME, sizeof(DENALI_NOTE_NAME), DENALI_NOTE_ABI, &v, 2);
    expect_reject(&e, "no Denali ABI note");
    /* Sizes that run past the segment, including ones that overflow when rounded up. */
    test_elf_standard(&e);
    patch_note(&e, UINT32_MAX, sizeof(v));
    expect_reject(&e, "no Denali ABI note");
    test_elf_standard(&e);
    patch_note(&e, sizeof(DENALI_NOTE_NAME), UINT32_MAX);
    expect_reject(&e, "no Denali ABI note");
    test_elf_standard(&e);
    patch_note(&e, sizeof(DENALI_NOTE_NAME), 0x100);
    expect_reject(&e, "no Denali ABI note");
    /* A PT_NOTE shorter than a note header, and one cut inside the descriptor. */
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_filesz = sizeof(Elf64_Nhdr) - 1;
    expect_reject(&e, "no Denali ABI note");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_filesz -= 1;
    expect_reject(&e, "no Denali ABI note");
}

static void test_note_segment_outside_file(void **state)
{
    (void)state;
    struct test_elf e;
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_offset = UINT64_MAX - 4;
    expect_reject(&e, "note");
    test_elf_standard(&e);
    e.phdrs[TEST_PHDR_NOTE].p_filesz = e.size;
    expect_reject(&e, "note");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_image),
        cmocka_unit_test(test_segments_sorted_by_address),
        cmocka_unit_test(test_other_program_headers_ignored),
        cmocka_unit_test(test_note_after_other_notes),
        cmocka_unit_test(test_segment_ending_at_image_limit),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_truncated_program_headers),
        cmocka_unit_test(test_program_headers_beyond_file),
        cmocka_unit_test(test_truncated_segment_data),
        cmocka_unit_test(test_truncated_note),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_class),
        cmocka_unit_test(test_bad_endianness),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_bad_machine),
        cmocka_unit_test(test_bad_type),
        cmocka_unit_test(test_bad_program_header_size),
        cmocka_unit_test(test_bad_program_header_count),
        cmocka_unit_test(test_dynamic),
        cmocka_unit_test(test_no_load_segments),
        cmocka_unit_test(test_too_many_segments),
        cmocka_unit_test(test_overlapping_segments),
        cmocka_unit_test(test_segments_sharing_a_page),
        cmocka_unit_test(test_writable_and_executable),
        cmocka_unit_test(test_filesz_exceeds_memsz),
        cmocka_unit_test(test_vaddr_memsz_overflow),
        cmocka_unit_test(test_offset_filesz_overflow),
        cmocka_unit_test(test_not_page_congruent),
        cmocka_unit_test(test_segment_below_image_base),
        cmocka_unit_test(test_segment_above_image_limit),
        cmocka_unit_test(test_read_only_segment_with_bss),
        cmocka_unit_test(test_entry_outside_executable_segment),
        cmocka_unit_test(test_entry_at_last_text_byte),
        cmocka_unit_test(test_image_larger_than_memory),
        cmocka_unit_test(test_missing_abi_note),
        cmocka_unit_test(test_abi_note_wrong_name_or_type),
        cmocka_unit_test(test_wrong_abi_version),
        cmocka_unit_test(test_malformed_note_sizes),
        cmocka_unit_test(test_note_segment_outside_file),
        cmocka_unit_test(test_short_non_elf),
        cmocka_unit_test(test_filesz_exceeds_zero_memsz),
        cmocka_unit_test(test_memsz_near_2_64_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
