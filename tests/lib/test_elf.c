/* An in-memory ELF64 image builder for unit tests: header, program headers, segments and notes. */
#include "test_elf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "denali/abi.h"

#define PAGE ((uint64_t)DENALI_PAGE_SIZE)

static void reserve(struct test_elf *e, size_t size)
{
    size_t need = (size + PAGE - 1) & ~(size_t)(PAGE - 1);
    if (need <= e->capacity)
        return;
    uint8_t *bytes = realloc(e->bytes, need);
    if (!bytes) {
        fprintf(stderr, "test_elf: out of memory\n");
        abort();
    }
    memset(bytes + e->capacity, 0, need - e->capacity);
    e->bytes = bytes;
    e->capacity = need;
}

void test_elf_init(struct test_elf *e)
{
    memset(e, 0, sizeof(*e));
    memcpy(e->ehdr.e_ident, ELFMAG, SELFMAG);
    e->ehdr.e_ident[EI_CLASS] = ELFCLASS64;
    e->ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
    e->ehdr.e_ident[EI_VERSION] = EV_CURRENT;
    e->ehdr.e_ident[EI_OSABI] = ELFOSABI_SYSV;
    e->ehdr.e_type = ET_EXEC;
    e->ehdr.e_machine = EM_X86_64;
    e->ehdr.e_version = EV_CURRENT;
    e->ehdr.e_phoff = sizeof(Elf64_Ehdr);
    e->ehdr.e_ehsize = sizeof(Elf64_Ehdr);
    e->ehdr.e_phentsize = sizeof(Elf64_Phdr);
    e->ehdr.e_shentsize = sizeof(Elf64_Shdr);
    reserve(e, TEST_ELF_HEADER_BYTES);
    e->size = TEST_ELF_HEADER_BYTES;
}

void test_elf_free(struct test_elf *e)
{
    free(e->bytes);
    e->bytes = NULL;
    e->size = e->capacity = 0;
}

uint8_t test_elf_pattern(uint64_t offset)
{
    return (uint8_t)(offset * 131 + (offset >> 8) * 7 + 1);
}

unsigned test_elf_add_phdr(struct test_elf *e, const Elf64_Phdr *ph)
{
    unsigned index = e->ehdr.e_phnum;
    if (index >= TEST_ELF_MAX_PHDRS) {
        fprintf(stderr, "test_elf: too many program headers\n");
        abort();
    }
    e->phdrs[index] = *ph;
    e->ehdr.e_phnum++;
    return index;
}

unsigned test_elf_add_load(struct test_elf *e, uint32_t flags, uint64_t vaddr, uint64_t filesz,
                           uint64_t memsz)
{
    uint64_t offset = (e->size & ~(PAGE - 1)) | (vaddr & (PAGE - 1));
    if (offset < e->size)
        offset += PAGE;
    reserve(e, offset + filesz);
    for (uint64_t i = 0; i < filesz; i++)
        e->bytes[offset + i] = test_elf_pattern(offset + i);
    e->size = offset + filesz;
    Elf64_Phdr ph = {
        .p_type = PT_LOAD,
        .p_flags = flags,
        .p_offset = offset,
        .p_vaddr = vaddr,
        .p_paddr = vaddr,
        .p_filesz = filesz,
        .p_memsz = memsz,
        .p_align = PAGE,
    };
    return test_elf_add_phdr(e, &ph);
}

uint64_t test_elf_append(struct test_elf *e, const void *data, size_t len)
{
    uint64_t offset = (e->size + 3) & ~(uint64_t)3;
    reserve(e, offset + len);
    memcpy(e->bytes + offset, data, len);
    e->size = offset + len;
    return offset;
}

unsigned test_elf_add_note(struct test_elf *e, const char *name, uint32_t namesz, uint32_t type,
                           const void *desc, uint32_t descsz)
{
    Elf64_Nhdr nhdr = {.n_namesz = namesz, .n_descsz = descsz, .n_type = type};
    uint32_t name_room = (namesz + 3) & ~3u;
    uint32_t desc_room = (descsz + 3) & ~3u;
    size_t len = sizeof(nhdr) + name_room + desc_room;
    uint8_t *note = calloc(1, len);
    if (!note)
        abort();
    memcpy(note, &nhdr, sizeof(nhdr));
    memcpy(note + sizeof(nhdr), name, namesz);
    memcpy(note + sizeof(nhdr) + name_room, desc, descsz);
    uint64_t offset = test_elf_append(e, note, len);
    free(note);
    Elf64_Phdr ph = {
        .p_type = PT_NOTE,
        .p_flags = PF_R,
        .p_offset = offset,
        .p_filesz = len,
        .p_memsz = len,
        .p_align = 4,
    };
    return test_elf_add_phdr(e, &ph);
}

unsigned test_elf_add_denali_note(struct test_elf *e, uint32_t version)
{
    struct denali_abi_note note = {.abi_version = version};
    return test_elf_add_note(e, DENALI_NOTE_NAME, sizeof(DENALI_NOTE_NAME), DENALI_NOTE_ABI, &note,
                             sizeof(note));
}

const uint8_t *test_elf_finish(struct test_elf *e)
{
    memcpy(e->bytes, &e->ehdr, sizeof(e->ehdr));
    memcpy(e->bytes + sizeof(e->ehdr), e->phdrs, sizeof(e->phdrs));
    return e->bytes;
}

void test_elf_standard(struct test_elf *e)
{
    test_elf_init(e);
    e->ehdr.e_entry = TEST_ENTRY;
    test_elf_add_load(e, PF_R | PF_X, TEST_TEXT_ADDR, TEST_TEXT_SIZE, TEST_TEXT_SIZE);
    test_elf_add_load(e, PF_R, TEST_RODATA_ADDR, TEST_RODATA_SIZE, TEST_RODATA_SIZE);
    test_elf_add_load(e, PF_R | PF_W, TEST_DATA_ADDR, TEST_DATA_FILESZ, TEST_DATA_MEMSZ);
    test_elf_add_denali_note(e, DENALI_ABI_VERSION);
}
