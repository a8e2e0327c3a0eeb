/* Unit tests for exit_handler_decide: synthetic VM exits against a hand-built VM, no KVM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/audit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "denali/abi.h"
#include "sched/exit_handler.h"
#include "image/guest_layout.h"
#include "test_elf.h"
#include "test_util.h"

#define MEM_SIZE  (2ull << 20)
#define VM_ID     7u
#define RIP       0x100123ull
#define HEAP_ADDR 0x150000ull

struct ctx {
    struct test_elf elf;
    struct elf_image image;
    struct guest_layout layout;
    uint8_t *ram;
    struct console console;
    char dir[64];
    char log[128];
    struct vm vm;
};

static int setup_with(void **state, enum console_mode mode)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    char err[256];
    test_elf_standard(&c->elf);
    test_elf_finish(&c->elf);
    c->ram = calloc(1, MEM_SIZE);
    snprintf(c->dir, sizeof(c->dir), "/tmp/denali-exit-test-XXXXXX");
    if (!c->ram || !mkdtemp(c->dir) ||
        elf_image_parse(c->elf.bytes, c->elf.size, &c->image, err, sizeof(err)) != 0 ||
        guest_layout_plan(&c->image, MEM_SIZE, &c->layout, err, sizeof(err)) != 0 ||
        console_init(&c->console, mode, c->dir, err, sizeof(err)) != 0)
        return -1;
    snprintf(c->log, sizeof(c->log), "%s/vm-%u.log", c->dir, VM_ID);
    guest_layout_write_page_tables(&c->layout, c->ram);
    c->vm.id = VM_ID;
    c->vm.mem = (struct guest_memory){.layout = &c->layout, .ram = c->ram, .file = c->elf.bytes};
    c->vm.vregs = (struct denali_vregs *)(c->ram + DENALI_VREGS_ADDR);
    c->vm.console = &c->console;
    c->vm.console_line = NULL;
    *state = c;
    return 0;
}

static int setup_dir(void **state)
{
    return setup_with(state, CONSOLE_DIR);
}

static int setup_null(void **state)
{
    return setup_with(state, CONSOLE_NULL);
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    console_flush(&c->console, VM_ID, &c->vm.console_line);
    console_destroy(&c->console);
    test_remove_dir(c->dir);
    test_elf_free(&c->elf);
    free(c->ram);
    free(c);
    return 0;
}

/* A well-formed hypercall exit: one single-byte out to the hypercall's port. */
static struct vm_exit hypercall(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    return (struct vm_exit){
        .kind = VM_EXIT_IO,
        .port = (uint16_t)(DENALI_PORT_BASE + nr),
        .io_out = 1,
        .io_size = 1,
        .io_count = 1,
        .args = {a0, a1, a2},
        .rip = RIP,
    };
}

static struct vm_decision decide(struct ctx *c, struct vm_exit e)
{
    struct vm_decision d;
    /* Garbage in, so a field the handler forgets to set shows up. */
    memset(&d, 0xa5, sizeof(d));
    exit_handler_decide(&c->vm, &e, &d);
    return d;
}

/* Expects a stop whose one-line reason contains needle. */
static void expect_stop(struct ctx *c, struct vm_exit e, const char *needle)
{
    struct vm_decision d = decide(c, e);
    assert_int_equal(d.action, ACTION_STOP);
    assert_non_null(memchr(d.reason, '\0', sizeof(d.reason)));
    assert_true(strlen(d.reason) > 0);
    assert_null(strchr(d.reason, '\n'));
    assert_contains(d.reason, needle);
}

static void expect_no_console_output(struct ctx *c)
{
    int rc;
    struct stat st;
    rc = stat(c->log, &st);
    assert_int_equal(rc, -1);
}

static void test_nop(void **state)
{
    struct ctx *c = *state;
    struct vm_decision d = decide(c, hypercall(DENALI_HC_NOP, 1, 2, 3));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, 0);
}

static void test_exit_status(void **state)
{
    struct ctx *c = *state;
    struct vm_decision d = decide(c, hypercall(DENALI_HC_EXIT, 0, 0, 0));
    assert_int_equal(d.action, ACTION_EXIT);
    assert_int_equal(d.status, 0);
    d = decide(c, hypercall(DENALI_HC_EXIT, 3, 0, 0));
    assert_int_equal(d.action, ACTION_EXIT);
    assert_int_equal(d.status, 3);
    d = decide(c, hypercall(DENALI_HC_EXIT, (uint64_t)-1, 0, 0));
    assert_int_equal(d.action, ACTION_EXIT);
    assert_int_equal(d.status, -1);
    d = decide(c, hypercall(DENALI_HC_EXIT, (uint64_t)(int64_t)INT32_MIN, 0, 0));
    assert_int_equal(d.action, ACTION_EXIT);
    assert_int_equal(d.status, INT32_MIN);
}

static void test_console_write(void **state)
{
    struct ctx *c = *state;
    const char msg[] = "hello, console\n";
    const size_t len = sizeof(msg) - 1;
    memcpy(c->ram + HEAP_ADDR, msg, len);
    struct vm_decision d = decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, len, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, len);
    /* A second write appends. */
    memcpy(c->ram + DENALI_STACK_TOP - 4, "more", 4);
    d = decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, DENALI_STACK_TOP - 4, 4, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, 4);
    size_t size = 0;
    char *text = test_read_file(c->log, &size);
    assert_non_null(text);
    assert_int_equal(size, len + 4);
    assert_string_equal(text, "hello, console\nmore");
    free(text);
}

/* A buffer the platform staged is what is written, not guest memory (a clone's is not the
 * monitor's). */
static void test_console_write_staged(void **state)
{
    struct ctx *c = *state;
    memcpy(c->ram + HEAP_ADDR, "wrong", 5);
    struct vm_exit e = hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, 5, 0);
    e.staged = (const uint8_t *)"right";
    struct vm_decision d = decide(c, e);
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, 5);
    size_t size = 0;
    char *text = test_read_file(c->log, &size);
    assert_non_null(text);
    assert_string_equal(text, "right");
    free(text);
    /* Staged or not, a bad range still stops the VM. */
    e = hypercall(DENALI_HC_CONSOLE_WRITE, MEM_SIZE, 4, 0);
    e.staged = (const uint8_t *)"nope";
    expect_stop(c, e, "buffer");
}

/* Ballooning: whole pages of the guest's own writable memory, or the VM stops. */
static void test_balloon(void **state)
{
    struct ctx *c = *state;
    struct vm_decision d = decide(c, hypercall(DENALI_HC_BALLOON, HEAP_ADDR, 0x2000, 0));
    assert_int_equal(d.action, ACTION_RELEASE);
    assert_int_equal(d.release_gpa, HEAP_ADDR);
    assert_int_equal(d.release_len, 0x2000);
    expect_stop(c, hypercall(DENALI_HC_BALLOON, HEAP_ADDR + 1, 0x1000, 0), "balloon: bad range");
    expect_stop(c, hypercall(DENALI_HC_BALLOON, HEAP_ADDR, 0x1001, 0), "balloon: bad range");
    expect_stop(c, hypercall(DENALI_HC_BALLOON, HEAP_ADDR, 0, 0), "balloon: bad range");
    expect_stop(c, hypercall(DENALI_HC_BALLOON, MEM_SIZE, 0x1000, 0), "balloon: bad range");
    expect_stop(c, hypercall(DENALI_HC_BALLOON, MEM_SIZE - 0x1000, 0x2000, 0),
                "balloon: bad range");
    expect_stop(c, hypercall(DENALI_HC_BALLOON, DENALI_VREGS_ADDR, 0x1000, 0),
                "balloon: bad range");
    expect_stop(c, hypercall(DENALI_HC_BALLOON, 0, 0x1000, 0), "balloon: bad range");
    expect_stop(c, hypercall(DENALI_HC_BALLOON, UINT64_MAX - 0xfff, 0x2000, 0),
                "balloon: bad range");
}

/* The ready call is the scheduler's to act on (snapshot or not). */
static void test_ready(void **state)
{
    struct ctx *c = *state;
    struct vm_decision d = decide(c, hypercall(DENALI_HC_READY, 0, 0, 0));
    assert_int_equal(d.action, ACTION_READY);
}

static void test_console_write_from_file_backed_text(void **state)
{
    struct ctx *c = *state;
    /* A buffer that starts on the stack and ends in text, whose bytes come from the file. */
    memcpy(c->ram + DENALI_STACK_TOP - 3, "abc", 3);
    struct vm_decision d =
        decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, DENALI_STACK_TOP - 3, 3 + 16, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, 19);
    size_t size = 0;
    char *text = test_read_file(c->log, &size);
    assert_non_null(text);
    assert_int_equal(size, 19);
    assert_memory_equal(text, "abc", 3);
    assert_memory_equal(text + 3, c->elf.bytes + c->elf.phdrs[TEST_PHDR_TEXT].p_offset, 16);
    free(text);
}

static void test_console_write_limits(void **state)
{
    struct ctx *c = *state;
    /* Exactly the maximum is fine. */
    memset(c->ram + HEAP_ADDR, 'x', DENALI_CONSOLE_MAX);
    struct vm_decision d =
        decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, DENALI_CONSOLE_MAX, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, DENALI_CONSOLE_MAX);
    /* A zero-length write writes nothing and returns 0. */
    d = decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, 0, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, 0);
    size_t size = 0;
    char *text = test_read_file(c->log, &size);
    assert_non_null(text);
    assert_int_equal(size, DENALI_CONSOLE_MAX);
    free(text);
}

static void test_console_write_too_long(void **state)
{
    struct ctx *c = *state;
    struct vm_decision d =
        decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, DENALI_CONSOLE_MAX + 1, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, (uint64_t)-DENALI_EINVAL);
    /* The whole heap is readable, so only the length is wrong. */
    d = decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, TEST_IMAGE_END, MEM_SIZE - TEST_IMAGE_END, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, (uint64_t)-DENALI_EINVAL);
    expect_no_console_output(c);
}

static void test_console_write_bad_buffer_and_length(void **state)
{
    struct ctx *c = *state;
    /* A bad buffer stops the VM whatever its length. */
    expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, UINT64_MAX, 0), "buffer");
    expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, 0, DENALI_CONSOLE_MAX + 1, 0), "buffer");
    expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, MEM_SIZE, 0), "buffer");
    expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, UINT64_MAX - 0x10, 0x100000, 0), "buffer");
    expect_no_console_output(c);
}

static void test_console_write_bad_buffer(void **state)
{
    struct ctx *c = *state;
    const struct {
        uint64_t addr, len;
    } bad[] = {
        {MEM_SIZE, 4},                  /* beyond guest memory */
        {MEM_SIZE - 2, 4},              /* straddling its end */
        {0x123456789000ull, 4},         /* far beyond */
        {UINT64_MAX - 1, 4},            /* wraps around 2^64 */
        {0, 4},                         /* page 0 */
        {8, 1},                         /* page 0 */
        {DENALI_PAGETABLE_ADDR, 8},     /* the page tables */
        {DENALI_SYSTEM_ADDR + 0x10, 8}, /* the GDT */
        {DENALI_STACK_GUARD, 8},        /* the stack guard */
        {0x102000, 8},                  /* the gap after text */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, bad[i].addr, bad[i].len, 0), "buffer");
    expect_no_console_output(c);
    /* The reason names the address and where the guest was. */
    expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, 0x2000, 8, 0), "0x2000");
    expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, 0x2000, 8, 0), "0x100123");
}

static void test_idle(void **state)
{
    struct ctx *c = *state;
    const uint64_t deadlines[] = {0, 12345, 1000000000ull, DENALI_DEADLINE_NONE};
    for (size_t i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++) {
        struct vm_decision d = decide(c, hypercall(DENALI_HC_IDLE, deadlines[i], 0, 0));
        assert_int_equal(d.action, ACTION_IDLE);
        assert_int_equal(d.deadline, deadlines[i]);
    }
}

static void test_idle_flags(void **state)
{
    struct ctx *c = *state;
    struct vm_decision d = decide(c, hypercall(DENALI_HC_IDLE, 99, DENALI_IDLE_LAZY_ACKS, 0));
    assert_int_equal(d.action, ACTION_IDLE);
    assert_int_equal(d.idle_flags, DENALI_IDLE_LAZY_ACKS);
    d = decide(c, hypercall(DENALI_HC_IDLE, 99, 0, 0));
    assert_int_equal(d.idle_flags, 0);
    /* Unknown flags are refused, without idling. */
    d = decide(c, hypercall(DENALI_HC_IDLE, 99, 2, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal((int64_t)d.result, -DENALI_EINVAL);
}

static void test_unknown_port(void **state)
{
    struct ctx *c = *state;
    const uint16_t ports[] = {0x80, 0x3f8, 0, DENALI_PORT_BASE - 1, DENALI_PORT_BASE + 256, 0xffff};
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        struct vm_exit e = hypercall(0, 0, 0, 0);
        e.port = ports[i];
        expect_stop(c, e, "unknown port");
        /* Reads too. */
        e.io_out = 0;
        expect_stop(c, e, "unknown port");
    }
    struct vm_exit e = hypercall(0, 0, 0, 0);
    e.port = 0x80;
    expect_stop(c, e, "0x80");
}

static void test_unknown_hypercall(void **state)
{
    struct ctx *c = *state;
    expect_stop(c, hypercall(DENALI_HC_COUNT, 0, 0, 0), "unknown hypercall");
    expect_stop(c, hypercall(0x80, 0, 0, 0), "unknown hypercall");
    expect_stop(c, hypercall(0xff, 0, 0, 0), "unknown hypercall");
}

static void test_malformed_io(void **state)
{
    struct ctx *c = *state;
    struct vm_exit in = hypercall(DENALI_HC_NOP, 0, 0, 0);
    in.io_out = 0;
    expect_stop(c, in, "malformed");
    struct vm_exit word = hypercall(DENALI_HC_NOP, 0, 0, 0);
    word.io_size = 2;
    expect_stop(c, word, "malformed");
    struct vm_exit dword = hypercall(DENALI_HC_EXIT, 0, 0, 0);
    dword.io_size = 4;
    expect_stop(c, dword, "malformed");
    struct vm_exit rep = hypercall(DENALI_HC_NOP, 0, 0, 0);
    rep.io_count = 2;
    expect_stop(c, rep, "malformed");
    struct vm_exit all = hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, 1, 0);
    all.io_out = 0;
    all.io_size = 2;
    all.io_count = 2;
    expect_stop(c, all, "malformed");
    expect_no_console_output(c);
}

static void test_shutdown(void **state)
{
    struct ctx *c = *state;
    struct vm_exit e = {.kind = VM_EXIT_SHUTDOWN, .rip = 0x100abc, .cr2 = 0xdead000};
    expect_stop(c, e, "rip 0x100abc");
    expect_stop(c, e, "cr2 0xdead000");
}

/* kvm's handler in the VM reported an exception: named, where, and about what. */
static void test_exception(void **state)
{
    struct ctx *c = *state;
    struct vm_exit e = {.kind = VM_EXIT_EXCEPTION, .vector = 14, .rip = 0x100abc, .cr2 = 0x6000};
    expect_stop(c, e, "CPU exception (page fault, #PF) at rip 0x100abc, cr2 0x6000");
    e.vector = 6;
    expect_stop(c, e, "(invalid opcode, #UD)");
    e.vector = 9; /* reserved: no name, still a reason */
    expect_stop(c, e, "CPU exception (vector 9)");
    e.vector = 0xffffffffu;
    expect_stop(c, e, "(vector 4294967295)");
    expect_no_console_output(c);
}

static void test_mmio_read_only(void **state)
{
    struct ctx *c = *state;
    const uint64_t addrs[] = {TEST_TEXT_ADDR, TEST_ENTRY, TEST_TEXT_ADDR + TEST_TEXT_SIZE - 1,
                              TEST_RODATA_ADDR, TEST_RODATA_ADDR + 0xfff};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        struct vm_exit e = {.kind = VM_EXIT_MMIO, .mmio_write = true, .mmio_addr = addrs[i]};
        expect_stop(c, e, "read-only");
    }
    struct vm_exit e = {.kind = VM_EXIT_MMIO, .mmio_write = true, .mmio_addr = TEST_RODATA_ADDR};
    expect_stop(c, e, "0x103000");
}

static void test_mmio_unbacked(void **state)
{
    struct ctx *c = *state;
    const uint64_t addrs[] = {MEM_SIZE, 0x80000000ull, 0xfee00000ull, UINT64_MAX};
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        struct vm_exit e = {.kind = VM_EXIT_MMIO, .mmio_write = i % 2, .mmio_addr = addrs[i]};
        expect_stop(c, e, "unbacked");
    }
    struct vm_exit e = {.kind = VM_EXIT_MMIO, .mmio_addr = 0xfee00000ull};
    expect_stop(c, e, "0xfee00000");
    /* Just outside the read-only slots is not read-only memory. */
    e.mmio_addr = TEST_TEXT_ADDR - 1;
    expect_stop(c, e, "unbacked");
}

static void test_interrupted_yields(void **state)
{
    struct ctx *c = *state;
    struct vm_exit e = {.kind = VM_EXIT_INTERRUPTED, .rip = RIP};
    struct vm_decision d = decide(c, e);
    assert_int_equal(d.action, ACTION_YIELD);
}

static void test_other_exits_stop(void **state)
{
    struct ctx *c = *state;
    struct vm_exit halt = {.kind = VM_EXIT_HALT, .rip = RIP};
    expect_stop(c, halt, "halt");
    expect_stop(c, halt, "0x100123");
    struct vm_exit failed = {.kind = VM_EXIT_FAILED, .reason = 22};
    expect_stop(c, failed, "22");
    struct vm_exit unexpected = {.kind = VM_EXIT_UNEXPECTED, .reason = 17, .rip = RIP};
    expect_stop(c, unexpected, "unexpected");
    expect_stop(c, unexpected, "17");
    /* A kind the handler has never heard of fails closed. */
    struct vm_exit unknown = {.kind = (enum vm_exit_kind)99, .rip = RIP};
    expect_stop(c, unknown, "unexpected");
}

static void test_null_console_discards(void **state)
{
    struct ctx *c = *state;
    memcpy(c->ram + HEAP_ADDR, "dropped\n", 8);
    struct vm_decision d = decide(c, hypercall(DENALI_HC_CONSOLE_WRITE, HEAP_ADDR, 8, 0));
    assert_int_equal(d.action, ACTION_RESUME);
    assert_int_equal(d.result, 8);
    expect_no_console_output(c);
    assert_null(c->vm.console_line);
    /* A bad buffer still stops the VM. */
    expect_stop(c, hypercall(DENALI_HC_CONSOLE_WRITE, 0, 8, 0), "buffer");
}

/* Expects a stop whose reason is exactly text. */
static void expect_reason(struct ctx *c, struct vm_exit e, const char *text)
{
    struct vm_decision d = decide(c, e);
    assert_int_equal(d.action, ACTION_STOP);
    assert_non_null(memchr(d.reason, '\0', sizeof(d.reason)));
    assert_string_equal(d.reason, text);
}

static struct vm_exit fault(int signo, int si_code, uint64_t cr2)
{
    return (struct vm_exit){
        .kind = VM_EXIT_FAULT, .signo = signo, .si_code = si_code, .rip = RIP, .cr2 = cr2};
}

static struct vm_exit forbidden_call(uint32_t arch, uint32_t nr)
{
    struct vm_exit e = fault(SIGSYS, 1 /* SYS_SECCOMP */, 0);
    e.syscall_arch = arch;
    e.syscall_nr = (int32_t)nr;
    return e;
}

static void test_fault_cpu_exceptions(void **state)
{
    struct ctx *c = *state;
    expect_reason(c, fault(SIGSEGV, SEGV_MAPERR, 0xdead000),
                  "CPU exception (page fault, SIGSEGV) at rip 0x100123, cr2 0xdead000");
    /* A write to text is a page fault too, one on a present page. */
    expect_reason(c, fault(SIGSEGV, SEGV_ACCERR, TEST_TEXT_ADDR),
                  "CPU exception (page fault, SIGSEGV) at rip 0x100123, cr2 0x100000");
    /* The kernel says SI_KERNEL for a #GP, such as a non-canonical address or a privileged insn. */
    expect_reason(c, fault(SIGSEGV, SI_KERNEL, 0),
                  "CPU exception (general protection, SIGSEGV) at rip 0x100123, cr2 0x0");
    expect_reason(c, fault(SIGFPE, FPE_INTDIV, 0x100123),
                  "CPU exception (divide error, SIGFPE) at rip 0x100123, cr2 0x100123");
    expect_reason(c, fault(SIGILL, ILL_ILLOPN, 0x100123),
                  "CPU exception (invalid opcode, SIGILL) at rip 0x100123, cr2 0x100123");
    expect_reason(c, fault(SIGBUS, BUS_ADRERR, 0x7fff0000ull),
                  "CPU exception (bus error, SIGBUS) at rip 0x100123, cr2 0x7fff0000");
    expect_reason(c, fault(SIGTRAP, SI_KERNEL, 0),
                  "CPU exception (breakpoint, SIGTRAP) at rip 0x100123, cr2 0x0");
    /* Any other signal still stops the VM, and says which. */
    expect_reason(c, fault(SIGABRT, SI_TKILL, 0), "stopped by signal 6 at rip 0x100123");
    expect_reason(c, fault(0, 0, 0), "stopped by signal 0 at rip 0x100123");
}

/* Every name the handler knows must be the call the kernel numbers that way. */
static void test_fault_named_system_calls(void **state)
{
    struct ctx *c = *state;
    const struct {
        int nr;
        const char *name;
    } calls[] = {
        {SYS_read, "read"},
        {SYS_write, "write"},
        {SYS_open, "open"},
        {SYS_close, "close"},
        {SYS_mmap, "mmap"},
        {SYS_mprotect, "mprotect"},
        {SYS_munmap, "munmap"},
        {SYS_brk, "brk"},
        {SYS_rt_sigaction, "rt_sigaction"},
        {SYS_rt_sigprocmask, "rt_sigprocmask"},
        {SYS_rt_sigreturn, "rt_sigreturn"},
        {SYS_getpid, "getpid"},
        {SYS_socket, "socket"},
        {SYS_connect, "connect"},
        {SYS_clone, "clone"},
        {SYS_fork, "fork"},
        {SYS_vfork, "vfork"},
        {SYS_execve, "execve"},
        {SYS_exit, "exit"},
        {SYS_wait4, "wait4"},
        {SYS_kill, "kill"},
        {SYS_ptrace, "ptrace"},
        {SYS_getppid, "getppid"},
        {SYS_prctl, "prctl"},
        {SYS_arch_prctl, "arch_prctl"},
        {SYS_tkill, "tkill"},
        {SYS_futex, "futex"},
        {SYS_exit_group, "exit_group"},
        {SYS_tgkill, "tgkill"},
        {SYS_openat, "openat"},
        {SYS_seccomp, "seccomp"},
        {SYS_execveat, "execveat"},
        {SYS_io_uring_setup, "io_uring_setup"},
        {SYS_clone3, "clone3"},
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        char want[96];
        snprintf(want, sizeof(want), "system call %d (%s) at rip 0x100123", calls[i].nr,
                 calls[i].name);
        expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, (uint32_t)calls[i].nr), want);
    }
    expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, 2), "system call 2 (open) at rip 0x100123");
}

static void test_fault_other_system_calls(void **state)
{
    struct ctx *c = *state;
    /* Numbers with no name: inside the table, just past it, and far beyond. */
    expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, 333), "system call 333 at rip 0x100123");
    expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, 4), "system call 4 at rip 0x100123");
    expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, 436), "system call 436 at rip 0x100123");
    expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, 100000),
                  "system call 100000 at rip 0x100123");
    /* The i386 entry numbers calls its own way: 20 is getpid there, not a name to borrow. */
    expect_reason(c, forbidden_call(AUDIT_ARCH_I386, 20), "i386 system call 20 at rip 0x100123");
    expect_reason(c, forbidden_call(AUDIT_ARCH_I386, 2), "i386 system call 2 at rip 0x100123");
    expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, 0x40000027),
                  "x32 system call 0x40000027 at rip 0x100123");
    expect_reason(c, forbidden_call(AUDIT_ARCH_X86_64, 0x40000000 | SYS_futex),
                  "x32 system call 0x400000ca at rip 0x100123");
    expect_reason(c, forbidden_call(AUDIT_ARCH_AARCH64, 5),
                  "system call 5 of architecture 0xc00000b7 at rip 0x100123");
    expect_reason(c, forbidden_call(0, 2), "system call 2 of architecture 0x0 at rip 0x100123");
}

static void test_failed_with_detail(void **state)
{
    struct ctx *c = *state;
    struct vm_exit e = {.kind = VM_EXIT_FAILED, .reason = 22};
    snprintf(e.detail, sizeof(e.detail), "VM process exited with status 3");
    expect_reason(c, e, "VM process exited with status 3");
    /* A detail that fills its field with no terminator is cut at the field, not read past it. */
    memset(e.detail, 'q', sizeof(e.detail));
    struct vm_decision d = decide(c, e);
    assert_int_equal(d.action, ACTION_STOP);
    assert_int_equal(strnlen(d.reason, sizeof(d.reason)), sizeof(e.detail));
    assert_int_equal(strspn(d.reason, "q"), sizeof(e.detail));
}

/* Where a hypercall from the gate is reported: at the caller, from the return address. */
#define CALLER     0x104567ull
#define STACK_SLOT (DENALI_STACK_TOP - 64)

static struct vm_exit from_gate(struct ctx *c, unsigned nr, uint64_t rip, uint64_t rsp)
{
    const uint64_t ret = CALLER;
    memcpy(c->ram + STACK_SLOT, &ret, sizeof(ret));
    struct vm_exit e = hypercall(nr, 0, 0, 0);
    e.rip = rip;
    e.rsp = rsp;
    return e;
}

static void test_gate_caller_rip(void **state)
{
    struct ctx *c = *state;
    expect_reason(c, from_gate(c, 200, DENALI_GATE_ADDR, STACK_SLOT),
                  "unknown hypercall 200 at rip 0x104567");
    /* Anywhere in the gate's page. */
    expect_reason(c, from_gate(c, 200, DENALI_GATE_ADDR + 0x17, STACK_SLOT),
                  "unknown hypercall 200 at rip 0x104567");
    expect_reason(c, from_gate(c, 200, DENALI_GATE_ADDR + DENALI_PAGE_SIZE - 1, STACK_SLOT),
                  "unknown hypercall 200 at rip 0x104567");
    /* Other exits through the gate are reported at the caller too. */
    struct vm_exit e = from_gate(c, 0, DENALI_GATE_ADDR, STACK_SLOT);
    e.port = 0x80;
    expect_reason(c, e, "write of unknown port 0x80 at rip 0x104567");
    e = from_gate(c, DENALI_HC_NOP, DENALI_GATE_ADDR, STACK_SLOT);
    e.io_size = 2;
    expect_stop(c, e, "at rip 0x104567");
    e = from_gate(c, DENALI_HC_CONSOLE_WRITE, DENALI_GATE_ADDR, STACK_SLOT);
    e.args[0] = 0;
    e.args[1] = 8;
    expect_stop(c, e, "buffer");
    expect_stop(c, e, "at rip 0x104567");
}

static void test_gate_caller_rip_fallbacks(void **state)
{
    struct ctx *c = *state;
    /* Outside the gate the stack is not consulted. */
    expect_reason(c, from_gate(c, 200, DENALI_GATE_ADDR + DENALI_PAGE_SIZE, STACK_SLOT),
                  "unknown hypercall 200 at rip 0x12000");
    expect_reason(c, from_gate(c, 200, DENALI_GATE_ADDR - 1, STACK_SLOT),
                  "unknown hypercall 200 at rip 0x10fff");
    expect_reason(c, from_gate(c, 200, RIP, STACK_SLOT), "unknown hypercall 200 at rip 0x100123");
    /* A stack pointer the guest could not read from gives the gate's own address. */
    const uint64_t bad_rsp[] = {
        MEM_SIZE,                /* beyond guest memory */
        MEM_SIZE - 4,            /* straddling its end */
        0x123456789000ull,       /* far beyond */
        UINT64_MAX - 3,          /* wrapping */
        0,                       /* page 0 */
        DENALI_PAGETABLE_ADDR,   /* the page tables */
        DENALI_STACK_GUARD + 8,  /* the guard page */
        DENALI_STACK_BOTTOM - 4, /* straddling the guard and the stack */
    };
    for (size_t i = 0; i < sizeof(bad_rsp) / sizeof(bad_rsp[0]); i++)
        expect_reason(c, from_gate(c, 200, DENALI_GATE_ADDR, bad_rsp[i]),
                      "unknown hypercall 200 at rip 0x11000");
}

#define TEST_DIR(f)  cmocka_unit_test_setup_teardown(f, setup_dir, teardown)
#define TEST_NULL(f) cmocka_unit_test_setup_teardown(f, setup_null, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST_DIR(test_nop),
        TEST_DIR(test_exit_status),
        TEST_DIR(test_console_write),
        TEST_DIR(test_console_write_staged),
        TEST_DIR(test_ready),
        TEST_DIR(test_balloon),
        TEST_DIR(test_console_write_from_file_backed_text),
        TEST_DIR(test_console_write_limits),
        TEST_DIR(test_console_write_too_long),
        TEST_DIR(test_console_write_bad_buffer),
        TEST_DIR(test_console_write_bad_buffer_and_length),
        TEST_DIR(test_idle),
        TEST_DIR(test_idle_flags),
        TEST_DIR(test_unknown_port),
        TEST_DIR(test_unknown_hypercall),
        TEST_DIR(test_malformed_io),
        TEST_DIR(test_shutdown),
        TEST_DIR(test_exception),
        TEST_DIR(test_mmio_read_only),
        TEST_DIR(test_mmio_unbacked),
        TEST_DIR(test_interrupted_yields),
        TEST_DIR(test_other_exits_stop),
        TEST_NULL(test_null_console_discards),
        TEST_DIR(test_fault_cpu_exceptions),
        TEST_DIR(test_fault_named_system_calls),
        TEST_DIR(test_fault_other_system_calls),
        TEST_DIR(test_failed_with_detail),
        TEST_DIR(test_gate_caller_rip),
        TEST_DIR(test_gate_caller_rip_fallbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
