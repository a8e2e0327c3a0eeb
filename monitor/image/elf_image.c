/* Parsing and validating a guest ELF image before any VM starts: pure, no KVM, no I/O. */
#include "image/elf_image.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "denali/abi.h"
#include "util/error_text.h"

#define PAGE_MASK           ((uint64_t)DENALI_PAGE_SIZE - 1)
#define MAX_PROGRAM_HEADERS 64

/* True when [offset, offset + len) lies within size bytes, without overflow. */
static bool within(uint64_t offset, uint64_t len, uint64_t size)
{
    return offset <= size && len <= size - offset;
}

static uint64_t page_down(uint64_t x)
{
    return x & ~PAGE_MASK;
}

static uint64_t page_up(uint64_t x)
{
    return (x + PAGE_MASK) & ~PAGE_MASK;
}

static uint64_t align4(uint64_t x)
{
    return (x + 3) & ~(uint64_t)3;
}

/* Looks for the Denali ABI note in one PT_NOTE segment; returns 1 if found. */
static int find_abi_note(const uint8_t *data, uint64_t offset, uint64_t len, uint32_t *version)
{
    const uint64_t name_len = sizeof(DENALI_NOTE_NAME);
    uint64_t pos = 0;
    while (len - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nhdr;
        memcpy(&nhdr, data + offset + pos, sizeof(nhdr));
        pos += sizeof(nhdr);
        uint64_t name_size = align4(nhdr.n_namesz);
        uint64_t desc_size = align4(nhdr.n_descsz);
        if (name_size > len - pos || desc_size > len - pos - name_size)
            return 0;
        const uint8_t *name = data + offset + pos;
        const uint8_t *desc = name + name_size;
        if (nhdr.n_type == DENALI_NOTE_ABI && nhdr.n_namesz == name_len &&
            memcmp(name, DENALI_NOTE_NAME, name_len) == 0 &&
            nhdr.n_descsz == sizeof(struct denali_abi_note)) {
            struct denali_abi_note note;
            memcpy(&note, desc, sizeof(note));
            *version = note.abi_version;
            return 1;
        }
        pos += name_size + desc_size;
    }
    return 0;
}

static int check_header(const Elf64_Ehdr *eh, size_t size, char *err, size_t errlen)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return fail(err, errlen, "not an ELF file");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return fail(err, errlen, "not a little-endian 64-bit ELF");
    if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
        return fail(err, errlen, "unknown ELF version");
    if (eh->e_machine != EM_X86_64)
        return fail(err, errlen, "not an x86-64 ELF (machine %u)", eh->e_machine);
    if (eh->e_type != ET_EXEC)
        return fail(err, errlen, "not a static executable (ELF type %u)", eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return fail(err, errlen, "bad program header size %u", eh->e_phentsize);
    if (eh->e_phnum == 0 || eh->e_phnum > MAX_PROGRAM_HEADERS)
        return fail(err, errlen, "bad program header count %u", eh->e_phnum);
    if (!within(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size))
        return fail(err, errlen, "program headers lie outside the file (truncated?)");
    return 0;
}

static int add_segment(struct elf_image *image, const Elf64_Phdr *ph, size_t size, char *err,
                       size_t errlen)
{
    bool writable = ph->p_flags & PF_W;
    bool executable = ph->p_flags & PF_X;
    if (ph->p_filesz > ph->p_memsz)
        return fail(err, errlen, "segment at 0x%lx: file size exceeds memory size",
                    (unsigned long)ph->p_vaddr);
    if (ph->p_memsz == 0)
        return 0;
    if (image->segment_count == ELF_IMAGE_MAX_SEGMENTS)
        return fail(err, errlen, "more than %d loadable segments", ELF_IMAGE_MAX_SEGMENTS);
    if (!within(ph->p_offset, ph->p_filesz, size))
        return fail(err, errlen, "segment at 0x%lx lies outside the file (truncated?)",
                    (unsigned long)ph->p_vaddr);
    /* Both halves matter: the second subtraction is safe only once the first holds. */
    if (ph->p_memsz > UINT64_MAX - PAGE_MASK || ph->p_vaddr > UINT64_MAX - PAGE_MASK - ph->p_memsz)
        return fail(err, errlen, "segment at 0x%lx: size overflows", (unsigned long)ph->p_vaddr);
    if (ph->p_vaddr < DENALI_IMAGE_BASE || ph->p_vaddr + ph->p_memsz > DENALI_IMAGE_LIMIT)
        return fail(err, errlen, "segment 0x%lx-0x%lx outside the image area 0x%x-0x%x",
                    (unsigned long)ph->p_vaddr, (unsigned long)(ph->p_vaddr + ph->p_memsz),
                    DENALI_IMAGE_BASE, DENALI_IMAGE_LIMIT);
    if ((ph->p_vaddr & PAGE_MASK) != (ph->p_offset & PAGE_MASK))
        return fail(err, errlen, "segment at 0x%lx: file offset and address not page-congruent",
                    (unsigned long)ph->p_vaddr);
    if (writable && executable)
        return fail(err, errlen, "segment at 0x%lx is both writable and executable (W^X)",
                    (unsigned long)ph->p_vaddr);
    /* Read-only segments are mapped straight from the file, so they cannot carry bss. */
    if (!writable && ph->p_memsz != ph->p_filesz)
        return fail(err, errlen, "read-only segment at 0x%lx has zero-fill",
                    (unsigned long)ph->p_vaddr);
    /* Keep the array sorted by address. */
    unsigned i = image->segment_count++;
    while (i > 0 && image->segments[i - 1].vaddr > ph->p_vaddr) {
        image->segments[i] = image->segments[i - 1];
        i--;
    }
    image->segments[i] = (struct elf_segment){
        .vaddr = ph->p_vaddr,
        .memsz = ph->p_memsz,
        .filesz = ph->p_filesz,
        .offset = ph->p_offset,
        .writable = writable,
        .executable = executable,
    };
    return 0;
}

int elf_image_parse(const uint8_t *data, size_t size, struct elf_image *image, char *err,
                    size_t errlen)
{
    memset(image, 0, sizeof(*image));
    size_t magic_bytes = size < SELFMAG ? size : SELFMAG;
    if (memcmp(data, ELFMAG, magic_bytes) != 0)
        return fail(err, errlen, "not an ELF file");
    if (size < sizeof(Elf64_Ehdr))
        return fail(err, errlen, "file too short for an ELF header (truncated?)");
    Elf64_Ehdr eh;
    memcpy(&eh, data, sizeof(eh));
    if (check_header(&eh, size, err, errlen) < 0)
        return -1;

    bool have_note = false;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, data + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_LOAD) {
            if (add_segment(image, &ph, size, err, errlen) < 0)
                return -1;
        } else if (ph.p_type == PT_NOTE && !have_note) {
            if (!within(ph.p_offset, ph.p_filesz, size))
                return fail(err, errlen, "note segment lies outside the file (truncated?)");
            have_note = find_abi_note(data, ph.p_offset, ph.p_filesz, &image->abi_version);
        } else if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) {
            return fail(err, errlen, "dynamically linked: Denali guests must be static");
        }
    }
    if (image->segment_count == 0)
        return fail(err, errlen, "no loadable segments");
    if (!have_note)
        return fail(err, errlen, "no Denali ABI note: not built for Denali (link with ilwaco)");
    if (image->abi_version != DENALI_ABI_VERSION)
        return fail(err, errlen, "image speaks Denali ABI %u, this monitor speaks %u",
                    image->abi_version, DENALI_ABI_VERSION);

    for (unsigned i = 1; i < image->segment_count; i++) {
        const struct elf_segment *prev = &image->segments[i - 1];
        const struct elf_segment *next = &image->segments[i];
        /* Page permissions are per page, so segments may not share one. */
        if (page_up(prev->vaddr + prev->memsz) > page_down(next->vaddr))
            return fail(err, errlen, "segments at 0x%lx and 0x%lx overlap or share a page",
                        (unsigned long)prev->vaddr, (unsigned long)next->vaddr);
    }
    const struct elf_segment *last = &image->segments[image->segment_count - 1];
    image->image_end = page_up(last->vaddr + last->memsz);

    bool entry_ok = false;
    for (unsigned i = 0; i < image->segment_count; i++) {
        const struct elf_segment *s = &image->segments[i];
        if (s->executable && eh.e_entry >= s->vaddr && eh.e_entry - s->vaddr < s->memsz)
            entry_ok = true;
    }
    if (!entry_ok)
        return fail(err, errlen, "entry point 0x%lx is not in an executable segment",
                    (unsigned long)eh.e_entry);
    image->entry = eh.e_entry;
    return 0;
}

int elf_image_check_fits(const struct elf_image *image, uint64_t mem_size, char *err, size_t errlen)
{
    if (image->image_end > mem_size)
        return fail(err, errlen, "image needs %lu KiB of guest memory, only %lu KiB given",
                    (unsigned long)(image->image_end >> 10), (unsigned long)(mem_size >> 10));
    return 0;
}
