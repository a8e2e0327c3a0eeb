/* The guest memory map of one image: accessible regions, KVM memslots and the page tables. */
#ifndef DENALI_GUEST_LAYOUT_H
#define DENALI_GUEST_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "denali/abi.h"
#include "image/elf_image.h"

#define GUEST_LAYOUT_MAX_REGIONS (ELF_IMAGE_MAX_SEGMENTS + 4)
#define GUEST_LAYOUT_MAX_SLOTS   (2 * ELF_IMAGE_MAX_SEGMENTS + 1)

/* Page-table entry bits the layout uses (also read by tests). */
#define PTE_PRESENT   (1ull << 0)
#define PTE_WRITE     (1ull << 1)
#define PTE_USER      (1ull << 2)
#define PTE_ACCESSED  (1ull << 5)
#define PTE_DIRTY     (1ull << 6)
#define PTE_HUGE      (1ull << 7)
#define PTE_NX        (1ull << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* A guest-physical range the guest may touch, and where its bytes live on the host. */
struct guest_region {
    uint64_t start;
    uint64_t end;
    bool writable;
    bool executable;
    bool from_file;       /* backed by the shared read-only image mapping, not per-VM RAM */
    bool gate;            /* the hypercall gate, whose code each platform supplies */
    uint64_t file_offset; /* for from_file: image-file offset of start */
};

/* One KVM memory slot. */
struct guest_slot {
    uint64_t gpa;
    uint64_t size;
    bool from_file;
    uint64_t file_offset;
};

struct guest_layout {
    uint64_t mem_size;
    uint64_t low_end; /* [0, low_end) is mapped with 4 KiB pages, the rest with 2 MiB pages */
    unsigned region_count;
    struct guest_region regions[GUEST_LAYOUT_MAX_REGIONS]; /* sorted by start */
    unsigned slot_count;
    struct guest_slot slots[GUEST_LAYOUT_MAX_SLOTS];
};

int guest_layout_plan(const struct elf_image *image, uint64_t mem_size, struct guest_layout *layout,
                      char *err, size_t errlen);

/*
 * Writes the page tables into a VM's RAM (host view of guest-physical 0),
 * which must be zero: untouched table pages then cost no host memory.
 */
void guest_layout_write_page_tables(const struct guest_layout *layout, uint8_t *ram);

/*
 * The system tables page (kvm): a GDT, a 64-bit TSS whose I/O bitmap opens
 * the ports below GUEST_IO_PORT_LIMIT (KVM here honours the bitmap rather
 * than RFLAGS.IOPL for a CPL-3 `out`, so the bitmap is what lets hypercalls
 * exit), an IDT for the 32 exceptions, and at its top the stack their
 * handlers run on. The handlers (GUEST_HANDLER_ADDR, supervisor-only code)
 * report an exception with one `out` to GUEST_FAULT_PORT, so that the
 * monitor learns where it happened even where the CPU loses its state at a
 * triple fault (AMD's SVM resets it).
 */
#define GUEST_SEL_KERNEL_CODE  0x08
#define GUEST_SEL_USER_DATA    0x2b
#define GUEST_SEL_USER_CODE    0x33
#define GUEST_SEL_TSS          0x40
#define GUEST_GDT_ADDR         DENALI_SYSTEM_ADDR
#define GUEST_GDT_LIMIT        (10 * 8 - 1)
#define GUEST_TSS_ADDR         (DENALI_SYSTEM_ADDR + 0x100)
#define GUEST_TSS_IOMAP_OFFSET 0x68
#define GUEST_IO_PORT_LIMIT    0x600
#define GUEST_TSS_LIMIT        (GUEST_TSS_IOMAP_OFFSET + GUEST_IO_PORT_LIMIT / 8)
#define GUEST_IDT_ADDR         (DENALI_SYSTEM_ADDR + 0x400)
#define GUEST_IDT_VECTORS      32u
#define GUEST_IDT_LIMIT        (GUEST_IDT_VECTORS * 16 - 1)
#define GUEST_HANDLER_STACK    (DENALI_SYSTEM_ADDR + DENALI_PAGE_SIZE)
#define GUEST_HANDLER_ADDR     0x1000u
#define GUEST_HANDLER_STRIDE   16u
#define GUEST_FAULT_PORT       0x7f0u
/*
 * At an `out` to GUEST_FAULT_PORT from the handlers' page, the exception's
 * vector is in %rdi, its error code (0 where it has none) in %r10, the
 * faulting %rip in %rsi and %cr2 in %rbx.
 */
_Static_assert(GUEST_FAULT_PORT >= GUEST_IO_PORT_LIMIT, "the guest cannot forge a fault report");
_Static_assert(GUEST_TSS_ADDR + GUEST_TSS_LIMIT < GUEST_IDT_ADDR, "the TSS ends below the IDT");
void guest_layout_write_system_tables(uint8_t *ram);

/* Host memory behind a VM's guest-physical space. */
struct guest_memory {
    const struct guest_layout *layout;
    uint8_t *ram;
    const uint8_t *file;
    /*
     * Paging: brings [gpa, gpa + len) of ram back from the swap file before
     * the monitor reads or writes it (NULL: it is all in memory). -1: it
     * could not, and the copy fails.
     */
    int (*make_resident)(void *ctx, uint64_t gpa, uint64_t len);
    void *resident_ctx;
};

/* Makes [gpa, gpa + len) resident where paging is on; 0 or -1. */
static inline int guest_make_resident(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
    return mem->make_resident ? mem->make_resident(mem->resident_ctx, gpa, len) : 0;
}

/*
 * Copies len bytes the guest may read from guest address gpa. Fails (-1)
 * if any byte is outside what the guest itself can read, or the range wraps.
 */
int guest_copy_in(const struct guest_memory *mem, void *dst, uint64_t gpa, uint64_t len);
/* True when the guest itself may read (or write) every byte of [gpa, gpa + len), no wrap. */
bool guest_range_ok(const struct guest_memory *mem, uint64_t gpa, uint64_t len, bool write);
/* Copies into guest memory the guest may write; fails like guest_copy_in. */
int guest_copy_out(const struct guest_memory *mem, uint64_t gpa, const void *src, uint64_t len);

#endif
