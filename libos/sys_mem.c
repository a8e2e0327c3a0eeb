/* ilwaco's memory calls: anonymous mappings are pages from the heap allocator, always read-write.
 */
#include <errno.h>
#include <sys/mman.h>

#include "internal.h"

#define PAGE ((uintptr_t)DENALI_PAGE_SIZE)

/* Rounds len up to whole pages; 0 when len is 0 or too big to round. */
static size_t page_len(size_t len)
{
    if (len == 0 || len > SIZE_MAX - (PAGE - 1))
        return 0;
    return (len + PAGE - 1) & ~(PAGE - 1);
}

long ilwaco_sys_mmap(uintptr_t addr, size_t len, long prot, long flags, long fd)
{
    (void)fd;
    len = page_len(len);
    if (len == 0)
        return -EINVAL;
    if (!(flags & MAP_ANONYMOUS))
        return -ENODEV; /* no files to map */
    /* The monitor's page tables are fixed: heap pages are never executable. */
    if (prot & PROT_EXEC)
        return -EACCES;

    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        if (addr & (PAGE - 1))
            return -EINVAL;
        if (ilwaco_pages_claim(addr, len) < 0)
            return -ENOMEM;
        return (long)addr;
    }
    /* Address hints are ignored: first fit keeps the heap compact. */
    uintptr_t p = ilwaco_pages_alloc(len);
    return p ? (long)p : -ENOMEM;
}

long ilwaco_sys_munmap(uintptr_t addr, size_t len)
{
    len = page_len(len);
    if (len == 0 || (addr & (PAGE - 1)))
        return -EINVAL;
    /* Only heap pages were ever mapped; the image and the stack cannot be unmapped. */
    if (ilwaco_pages_free(addr, len) < 0)
        return -EINVAL;
    return 0;
}

long ilwaco_sys_mprotect(uintptr_t addr, size_t len, long prot)
{
    (void)len;
    if (addr & (PAGE - 1))
        return -EINVAL;
    /*
     * Protection is the monitor's business: heap pages stay read-write
     * whatever is asked (so PROT_NONE guard pages are not enforced), and
     * nothing can be made executable.
     */
    return (prot & PROT_EXEC) ? -EACCES : 0;
}

long ilwaco_sys_madvise(uintptr_t addr, size_t len, long advice)
{
    if (addr & (PAGE - 1))
        return -EINVAL;
    /* Linux promises zeroes after DONTNEED on private anonymous memory; callers rely on it. */
    if (advice == MADV_DONTNEED)
        ilwaco_pages_discard(addr, page_len(len));
    return 0;
}
