/* Guest memory for the kvm platform's clones and paging, all in the monitor's own address space. */
#ifndef DENALI_KVM_MEMORY_H
#define DENALI_KVM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

struct platform_snapshot;
struct ram_pool;

/*
 * Makes the slot at ram, from pool, a clone's: [DENALI_LOW_LIMIT, mem_size)
 * becomes a copy-on-write (MAP_PRIVATE) view of snap->memfd, but for the
 * pages the monitor has already written for this VM (the virtual registers
 * and the snapshot's windows). In a shared pool those stay the slot's own
 * memfd pages, mapped shared, so that the monitor's writes into them land
 * where hibernation finds them and no view must be copied under a device's
 * feet; the slot's other pages are released. In a private pool their
 * contents are carried over into the view. The pool must map the slot back
 * (ram_pool_remap) before it serves another VM. 0, or -1 with a reason
 * (the slot is then unchanged, or mapped back).
 */
int kvm_memory_map_clone(uint8_t *ram, uint64_t mem_size, const struct platform_snapshot *snap,
                         struct ram_pool *pool, char *err, size_t errlen);

/*
 * Writes the pages of [gpa, gpa + len) that a clone's view at ram holds as
 * its own (those written since it was cloned, which are the monitor's
 * anonymous memory) into memfd at slot_offset + gpa, where the slot's
 * shared pages are. pagemap_fd: /proc/self/pagemap. 0, or -1 with a reason.
 */
int kvm_memory_copy_private(int pagemap_fd, const uint8_t *ram, uint64_t gpa, uint64_t len,
                            int memfd, uint64_t slot_offset, char *err, size_t errlen);

/*
 * A userfaultfd whose missing-page faults cover [DENALI_LOW_LIMIT, mem_size)
 * of the slot at ram: the guest's own (KVM reaches them from the kernel)
 * and the monitor's. -1 with a reason.
 */
int kvm_memory_userfault(uint8_t *ram, uint64_t mem_size, char *err, size_t errlen);

/*
 * bits[i] = 1 when page gpa / 4 KiB + i of the slot is mapped in the
 * monitor's page tables (pagemap_fd: /proc/self/pagemap). 0, or -1.
 */
int kvm_memory_referenced(int pagemap_fd, const uint8_t *ram, uint64_t gpa, uint64_t pages,
                          uint8_t *bits);

/*
 * Drops the monitor's page-table entries for [DENALI_LOW_LIMIT, mem_size)
 * of a slot in a shared pool (the pages stay in its memfd; KVM's own
 * mappings follow): what the guest touches next shows up as referenced.
 */
void kvm_memory_forget_references(uint8_t *ram, uint64_t mem_size);

#endif
