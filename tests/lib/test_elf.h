/* An in-memory ELF64 image builder for unit tests: header, program headers, segments and notes. */
#ifndef DENALI_TEST_ELF_H
#define DENALI_TEST_ELF_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

/* The first file page holds the ELF header and room for this many program headers. */
#define TEST_ELF_HEADER_BYTES 0x1000u
#define TEST_ELF_MAX_PHDRS    ((TEST_ELF_HEADER_BYTES - sizeof(Elf64_Ehdr)) / sizeof(Elf64_Phdr))

/*
 * The header and program headers stay editable structs until test_elf_finish
 * writes them into bytes, so a test can break any field first.
 */
struct test_elf {
    Elf64_Ehdr ehdr;
    Elf64_Phdr phdrs[TEST_ELF_MAX_PHDRS];
    uint8_t *bytes;  /* the file; zero-filled and page-padded beyond size */
    size_t size;     /* the file's length */
    size_t capacity; /* allocated bytes, a multiple of the page size */
};

/* A valid x86-64 ET_EXEC header with no program headers and entry 0. */
void test_elf_init(struct test_elf *e);
void test_elf_free(struct test_elf *e);

/*
 * Appends a program header and returns its index. For PT_LOAD the segment's
 * filesz bytes are appended at the next file offset congruent to vaddr
 * modulo the page size, filled with test_elf_pattern.
 */
unsigned test_elf_add_load(struct test_elf *e, uint32_t flags, uint64_t vaddr, uint64_t filesz,
                           uint64_t memsz);
unsigned test_elf_add_phdr(struct test_elf *e, const Elf64_Phdr *ph);
/* Appends raw bytes (4-byte aligned) to the file and returns their offset. */
uint64_t test_elf_append(struct test_elf *e, const void *data, size_t len);
/* Appends one note (header, name, descriptor) as its own PT_NOTE; returns the header's index. */
unsigned test_elf_add_note(struct test_elf *e, const char *name, uint32_t namesz, uint32_t type,
                           const void *desc, uint32_t descsz);
/* The Denali ABI note carrying version. */
unsigned test_elf_add_denali_note(struct test_elf *e, uint32_t version);
/* Writes the header and program headers into bytes and returns bytes. */
const uint8_t *test_elf_finish(struct test_elf *e);

/* The byte a loaded segment holds at a given file offset. */
uint8_t test_elf_pattern(uint64_t offset);

/*
 * The standard good image: text R+X, a gap page, rodata R, a gap page, then
 * data R+W whose bss runs to TEST_IMAGE_END, plus the Denali ABI note.
 */
#define TEST_TEXT_ADDR   0x100000ull
#define TEST_TEXT_SIZE   0x1800ull
#define TEST_ENTRY       (TEST_TEXT_ADDR + 0x40)
#define TEST_RODATA_ADDR 0x103000ull
#define TEST_RODATA_SIZE 0x800ull
#define TEST_DATA_ADDR   0x105010ull
#define TEST_DATA_FILESZ 0x400ull
#define TEST_DATA_MEMSZ  0x2ff0ull
#define TEST_IMAGE_END   0x108000ull
#define TEST_PHDR_TEXT   0u
#define TEST_PHDR_RODATA 1u
#define TEST_PHDR_DATA   2u
#define TEST_PHDR_NOTE   3u
void test_elf_standard(struct test_elf *e);

#endif
