/* Unit tests for the guest/monitor contract in include/denali/abi.h: layouts, memory map, ports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "denali/abi.h"

#define PAGE ((uint64_t)DENALI_PAGE_SIZE)

static void test_vregs_size(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct denali_vregs), 96 + DENALI_ARGS_MAX + 16 * DENALI_DISKS_MAX);
    assert_true(sizeof(struct denali_vregs) <= DENALI_PAGE_SIZE);
    assert_int_equal(_Alignof(struct denali_vregs), 8);
}

static void test_vregs_offsets(void **state)
{
    (void)state;
    assert_int_equal(offsetof(struct denali_vregs, abi_version), 0);
    assert_int_equal(offsetof(struct denali_vregs, vm_id), 4);
    assert_int_equal(offsetof(struct denali_vregs, vm_count), 8);
    assert_int_equal(offsetof(struct denali_vregs, argc), 12);
    assert_int_equal(offsetof(struct denali_vregs, mem_size), 16);
    assert_int_equal(offsetof(struct denali_vregs, time_ns), 24);
    assert_int_equal(offsetof(struct denali_vregs, events), 32);
    assert_int_equal(offsetof(struct denali_vregs, image_end), 40);
    assert_int_equal(offsetof(struct denali_vregs, mac), 48);
    assert_int_equal(offsetof(struct denali_vregs, pad0), 54);
    assert_int_equal(offsetof(struct denali_vregs, ipv4), 56);
    assert_int_equal(offsetof(struct denali_vregs, netmask), 60);
    assert_int_equal(offsetof(struct denali_vregs, gateway), 64);
    assert_int_equal(offsetof(struct denali_vregs, args_len), 68);
    assert_int_equal(offsetof(struct denali_vregs, entropy), 72);
    assert_int_equal(offsetof(struct denali_vregs, args), 80);
    assert_int_equal(offsetof(struct denali_vregs, balloon_pages), 80 + DENALI_ARGS_MAX);
    /* The disks came after balloon_pages, so every older field stayed where it was. */
    assert_int_equal(offsetof(struct denali_vregs, disk_count), 88 + DENALI_ARGS_MAX);
    assert_int_equal(offsetof(struct denali_vregs, disks), 96 + DENALI_ARGS_MAX);
}

static void test_blk_area_layout(void **state)
{
    (void)state;
    assert_int_equal(offsetof(struct denali_blk_area, req_produced), 0);
    assert_int_equal(offsetof(struct denali_blk_area, req_consumed), 64);
    assert_int_equal(offsetof(struct denali_blk_area, rsp_produced), 128);
    assert_int_equal(offsetof(struct denali_blk_area, rsp_consumed), 192);
    assert_int_equal(offsetof(struct denali_blk_area, requests), 256);
    assert_int_equal(offsetof(struct denali_blk_area, responses), 256 + 32 * DENALI_BLK_SLOTS);
    assert_int_equal(offsetof(struct denali_blk_area, data), PAGE);
    assert_int_equal(DENALI_BLK_AREA_SIZE, PAGE + DENALI_BLK_DATA_SIZE);
    assert_int_equal(offsetof(struct denali_blk_request, count), 4);
    assert_int_equal(offsetof(struct denali_blk_request, sector), 8);
    assert_int_equal(offsetof(struct denali_blk_request, data), 16);
    assert_int_equal(offsetof(struct denali_blk_request, id), 24);
    assert_int_equal(offsetof(struct denali_blk_response, status), 8);
    /* A request's data fits the area whatever it asks for: a whole data area is 256 sectors. */
    assert_int_equal(DENALI_BLK_DATA_SIZE % DENALI_SECTOR_SIZE, 0);
    assert_true(DENALI_BLK_DATA_SIZE / DENALI_SECTOR_SIZE <= UINT32_MAX);
    assert_true(DENALI_DISKS_MAX <= UINT8_MAX);
}

static void test_vregs_field_sizes(void **state)
{
    (void)state;
    struct denali_vregs v;
    assert_int_equal(sizeof(v.abi_version), 4);
    assert_int_equal(sizeof(v.vm_id), 4);
    assert_int_equal(sizeof(v.vm_count), 4);
    assert_int_equal(sizeof(v.argc), 4);
    assert_int_equal(sizeof(v.mem_size), 8);
    assert_int_equal(sizeof(v.time_ns), 8);
    assert_int_equal(sizeof(v.events), 8);
    assert_int_equal(sizeof(v.image_end), 8);
    assert_int_equal(sizeof(v.mac), 6);
    assert_int_equal(sizeof(v.pad0), 2);
    assert_int_equal(sizeof(v.ipv4), 4);
    assert_int_equal(sizeof(v.netmask), 4);
    assert_int_equal(sizeof(v.gateway), 4);
    assert_int_equal(sizeof(v.args_len), 4);
    assert_int_equal(sizeof(v.entropy), 8);
    assert_int_equal(sizeof(v.args), DENALI_ARGS_MAX);
}

static void test_abi_note_layout(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct denali_abi_note), 4);
    assert_int_equal(offsetof(struct denali_abi_note, abi_version), 0);
    /* The note name as the ELF note carries it, NUL included. */
    assert_int_equal(sizeof(DENALI_NOTE_NAME), 7);
    assert_string_equal(DENALI_NOTE_NAME, "Denali");
    assert_true(DENALI_ABI_VERSION >= 1);
}

static void test_memory_map_order(void **state)
{
    (void)state;
    /* The platform's private pages (tables) lie below what the guest sees, past page 0. */
    assert_true(DENALI_PAGETABLE_ADDR >= PAGE);
    assert_true(DENALI_PAGETABLE_ADDR + DENALI_PAGETABLE_PAGES * PAGE <= DENALI_SYSTEM_ADDR);
    assert_true(DENALI_SYSTEM_ADDR + PAGE <= DENALI_LOW_LIMIT);
    /* Nothing the guest sees below 0x10000, the usual vm.mmap_min_addr. */
    assert_int_equal(DENALI_LOW_LIMIT, 0x10000);
    assert_true(DENALI_VREGS_ADDR >= DENALI_LOW_LIMIT);
    assert_true(DENALI_VREGS_ADDR + PAGE <= DENALI_GATE_ADDR);
    assert_true(DENALI_GATE_ADDR + PAGE <= DENALI_STACK_GUARD);
    /* The guard page sits directly below the stack. */
    assert_int_equal(DENALI_STACK_GUARD + PAGE, DENALI_STACK_BOTTOM);
    assert_true(DENALI_STACK_BOTTOM < DENALI_STACK_TOP);
    assert_true(DENALI_STACK_TOP <= DENALI_IMAGE_BASE);
    assert_true(DENALI_IMAGE_BASE < DENALI_IMAGE_LIMIT);
    assert_true(DENALI_IMAGE_LIMIT <= DENALI_MEM_MAX);
    assert_true(DENALI_MEM_MIN <= DENALI_MEM_MAX);
    /* The smallest guest still holds everything below the image plus a page of it. */
    assert_true(DENALI_IMAGE_BASE + PAGE <= DENALI_MEM_MIN);
}

static void test_memory_map_alignment(void **state)
{
    (void)state;
    assert_int_equal(DENALI_PAGE_SIZE, 4096);
    assert_int_equal(DENALI_VREGS_ADDR % PAGE, 0);
    assert_int_equal(DENALI_GATE_ADDR % PAGE, 0);
    assert_int_equal(DENALI_PAGETABLE_ADDR % PAGE, 0);
    assert_int_equal(DENALI_SYSTEM_ADDR % PAGE, 0);
    assert_int_equal(DENALI_STACK_GUARD % PAGE, 0);
    assert_int_equal(DENALI_STACK_BOTTOM % PAGE, 0);
    assert_int_equal(DENALI_STACK_TOP % PAGE, 0);
    assert_int_equal(DENALI_IMAGE_BASE % PAGE, 0);
    /* The 4 KiB-page region ends on a 2 MiB boundary; memory sizes are whole 2 MiB pages. */
    assert_int_equal(DENALI_IMAGE_LIMIT % DENALI_MEM_ALIGN, 0);
    assert_int_equal(DENALI_MEM_ALIGN, 2u << 20);
    assert_int_equal(DENALI_MEM_MIN % DENALI_MEM_ALIGN, 0);
    assert_int_equal(DENALI_MEM_MAX % DENALI_MEM_ALIGN, 0);
}

static void test_stack_top_aligned(void **state)
{
    (void)state;
    assert_int_equal(DENALI_STACK_TOP % 16, 0);
    assert_true(DENALI_STACK_TOP - DENALI_STACK_BOTTOM >= 16 * PAGE);
}

static void test_hypercall_numbers(void **state)
{
    (void)state;
    const unsigned numbers[] = {
        DENALI_HC_NOP,        DENALI_HC_EXIT,       DENALI_HC_CONSOLE_WRITE, DENALI_HC_IDLE,
        DENALI_HC_NET_ATTACH, DENALI_HC_NET_KICK,   DENALI_HC_SET_FS_BASE,   DENALI_HC_READY,
        DENALI_HC_BALLOON,    DENALI_HC_BLK_ATTACH, DENALI_HC_BLK_KICK};
    const size_t n = sizeof(numbers) / sizeof(numbers[0]);
    assert_int_equal(n, DENALI_HC_COUNT);
    for (size_t i = 0; i < n; i++) {
        assert_true(numbers[i] < 256);
        assert_true(numbers[i] < DENALI_HC_COUNT);
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(numbers[i], numbers[j]);
    }
    /* Every hypercall's port fits in 16 bits. */
    assert_true(DENALI_PORT_BASE + 255u <= UINT16_MAX);
    assert_int_equal(DENALI_PORT_BASE % 256, 0);
}

static void test_constants(void **state)
{
    (void)state;
    assert_int_equal(DENALI_DEADLINE_NONE, UINT64_MAX);
    assert_true(DENALI_CONSOLE_MAX > 0);
    assert_true(DENALI_EINVAL > 0);
    assert_true(DENALI_ENOSYS > 0);
    assert_int_not_equal(DENALI_EINVAL, DENALI_ENOSYS);
    assert_int_not_equal(DENALI_EVENT_TIMER, 0);
    assert_int_equal(DENALI_EVENT_TIMER & (DENALI_EVENT_TIMER - 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vregs_size),        cmocka_unit_test(test_vregs_offsets),
        cmocka_unit_test(test_vregs_field_sizes), cmocka_unit_test(test_abi_note_layout),
        cmocka_unit_test(test_memory_map_order),  cmocka_unit_test(test_memory_map_alignment),
        cmocka_unit_test(test_stack_top_aligned), cmocka_unit_test(test_hypercall_numbers),
        cmocka_unit_test(test_constants),         cmocka_unit_test(test_blk_area_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
