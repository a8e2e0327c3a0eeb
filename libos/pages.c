/* ilwaco's page allocator: first-fit over the heap pages between the image's end and mem_size. */
#include <string.h>

#include "internal.h"

/* Provided by libos/guest.ld: the first byte after the image's bss. */
extern char _end[];

#define PAGE ((uintptr_t)DENALI_PAGE_SIZE)

/*
 * The free set is a sorted array of disjoint, non-touching extents. Its
 * bookkeeping lives in bss rather than in the free pages themselves so that
 * freed memory is never touched (the host allocates guest memory lazily)
 * and so that freeing a range twice is harmless.
 */
#define MAX_EXTENTS 1024

struct extent {
    uintptr_t start;
    uintptr_t end;
};

static struct extent extents[MAX_EXTENTS];
static unsigned extent_count;
static uintptr_t heap_start, heap_end;
/* Pages at or above this were never handed out, so they still hold zeroes. */
static uintptr_t fresh;

static uintptr_t page_up(uintptr_t x)
{
    return (x + PAGE - 1) & ~(PAGE - 1);
}

void ilwaco_pages_init(void)
{
    const volatile struct denali_vregs *v = ilwaco__vregs();
    uintptr_t start = (uintptr_t)_end;
    if (v->image_end > start)
        start = (uintptr_t)v->image_end;
    heap_start = page_up(start);
    heap_end = (uintptr_t)v->mem_size & ~(PAGE - 1);
    fresh = heap_start;
    extent_count = 0;
    if (heap_end > heap_start) {
        extents[0] = (struct extent){heap_start, heap_end};
        extent_count = 1;
    }
}

int ilwaco_pages_in_heap(uintptr_t addr, size_t len)
{
    return addr >= heap_start && addr <= heap_end && len <= heap_end - addr;
}

/* Zeroes what of [start, end) was handed out before, and marks the rest as used from now on. */
static void make_zero(uintptr_t start, uintptr_t end)
{
    if (start < fresh)
        memset((void *)start, 0, (end < fresh ? end : fresh) - start);
    if (end > fresh)
        fresh = end;
}

static void remove_extents(unsigned at, unsigned count)
{
    memmove(&extents[at], &extents[at + count], (extent_count - at - count) * sizeof(extents[0]));
    extent_count -= count;
}

uintptr_t ilwaco_pages_alloc(size_t len)
{
    for (unsigned i = 0; i < extent_count; i++) {
        struct extent *e = &extents[i];
        if (e->end - e->start < len)
            continue;
        uintptr_t start = e->start;
        e->start += len;
        if (e->start == e->end)
            remove_extents(i, 1);
        make_zero(start, start + len);
        return start;
    }
    return 0;
}

int ilwaco_pages_claim(uintptr_t addr, size_t len)
{
    if (!ilwaco_pages_in_heap(addr, len))
        return -1;
    uintptr_t end = addr + len;
    unsigned i = 0;
    while (i < extent_count && extents[i].end <= addr)
        i++;
    /* Claiming from the middle of one extent splits it and needs a free slot. */
    if (i < extent_count && extents[i].start < addr && extents[i].end > end) {
        if (extent_count == MAX_EXTENTS)
            return -1;
        memmove(&extents[i + 1], &extents[i], (extent_count - i) * sizeof(extents[0]));
        extent_count++;
        extents[i].end = addr;
        extents[i + 1].start = end;
    } else {
        if (i < extent_count && extents[i].start < addr) {
            extents[i].end = addr;
            i++;
        }
        unsigned first = i;
        while (i < extent_count && extents[i].end <= end)
            i++;
        remove_extents(first, i - first);
        if (first < extent_count && extents[first].start < end)
            extents[first].start = end;
    }
    make_zero(addr, end);
    return 0;
}

int ilwaco_pages_free(uintptr_t addr, size_t len)
{
    if (!ilwaco_pages_in_heap(addr, len))
        return -1;
    if (len == 0)
        return 0;
    uintptr_t end = addr + len;
    /* [lo, hi) are the extents that overlap or touch [addr, end): they merge into one. */
    unsigned lo = 0;
    while (lo < extent_count && extents[lo].end < addr)
        lo++;
    unsigned hi = lo;
    while (hi < extent_count && extents[hi].start <= end)
        hi++;

    if (hi > lo) {
        if (extents[lo].start < addr)
            addr = extents[lo].start;
        if (extents[hi - 1].end > end)
            end = extents[hi - 1].end;
        extents[lo] = (struct extent){addr, end};
        remove_extents(lo + 1, hi - lo - 1);
        return 0;
    }

    if (extent_count == MAX_EXTENTS) {
        /*
         * Too fragmented to remember another hole: forget the smallest one
         * (it stays unusable) rather than fail a free that cannot fail.
         */
        unsigned smallest = 0;
        for (unsigned i = 1; i < extent_count; i++)
            if (extents[i].end - extents[i].start < extents[smallest].end - extents[smallest].start)
                smallest = i;
        if (extents[smallest].end - extents[smallest].start < len) {
            remove_extents(smallest, 1);
            if (smallest < lo)
                lo--;
        } else {
            return 0;
        }
    }
    memmove(&extents[lo + 1], &extents[lo], (extent_count - lo) * sizeof(extents[0]));
    extents[lo] = (struct extent){addr, end};
    extent_count++;
    return 0;
}

void ilwaco_pages_discard(uintptr_t addr, size_t len)
{
    if (!ilwaco_pages_in_heap(addr, len) || addr >= fresh)
        return;
    uintptr_t end = addr + len;
    memset((void *)addr, 0, (end < fresh ? end : fresh) - addr);
}

uint64_t ilwaco_pages_balloon(uint64_t want)
{
    /*
     * Only free pages below fresh were ever touched, so only they hold host
     * memory. They stay free here: the host hands zeroes back when one is
     * touched again, so giving a page twice is harmless and nothing must be
     * remembered about which were given.
     */
    uint64_t given = 0;
    for (unsigned i = 0; i < extent_count && given < want; i++) {
        uintptr_t start = extents[i].start, end = extents[i].end < fresh ? extents[i].end : fresh;
        if (end <= start)
            continue;
        uint64_t pages = (end - start) / PAGE;
        if (pages > want - given) {
            pages = want - given;
            end = start + pages * PAGE;
        }
        if (ilwaco__hc(DENALI_HC_BALLOON, start, end - start, 0) == 0)
            given += pages;
    }
    return given;
}
