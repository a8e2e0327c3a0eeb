/* ilwaco's entry point: turns the Denali boot state into the Linux-style start musl expects. */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/*
 * The Denali ABI note. The monitor refuses an image without it; it is here,
 * in the object every guest links, so no guest can lack it. The asm sits in
 * a function only so its operands can carry the header's constants.
 */
__attribute__((used)) static void abi_note(void)
{
    __asm__(".pushsection .note.denali, \"a\", @note\n"
            ".balign 4\n"
            ".long %c0\n" /* namesz */
            ".long %c1\n" /* descsz */
            ".long %c2\n" /* type */
            ".asciz \"" DENALI_NOTE_NAME "\"\n"
            ".balign 4\n"
            ".long %c3\n" /* struct denali_abi_note */
            ".balign 4\n"
            ".popsection\n"
            :
            : "i"(sizeof(DENALI_NOTE_NAME)), "i"(sizeof(struct denali_abi_note)),
              "i"(DENALI_NOTE_ABI), "i"(DENALI_ABI_VERSION));
}

_Static_assert(sizeof(struct denali_abi_note) == 4, "the note body is one .long");

/*
 * The monitor enters here with rsp = DENALI_STACK_TOP and every other
 * register zero. fninit and ldmxcsr give the x87 and SSE units the state a
 * Linux process starts with, whatever reset state the vCPU came up in.
 */
__asm__(".text\n"
        ".global _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    fninit\n"
        "    movl $0x1f80, -4(%rsp)\n"
        "    ldmxcsr -4(%rsp)\n"
        "    call ilwaco__start_c\n"
        "    ud2\n"
        ".size _start, . - _start\n");

/*
 * One console hypercall carries DENALI_CONSOLE_MAX bytes, four times musl's
 * default stdout buffer. When the buffer cannot take the next piece, musl
 * writes buffer and piece together, so the buffer leaves room for a piece:
 * then a flush is usually one exit, not two. Priority 101 runs this before
 * any constructor of the guest's.
 */
#define STDOUT_PIECE_ROOM 512
static char stdout_buffer[DENALI_CONSOLE_MAX - STDOUT_PIECE_ROOM];

__attribute__((constructor(101))) static void console_buffering(void)
{
    setvbuf(stdout, stdout_buffer, _IOFBF, sizeof(stdout_buffer));
}

int main(int argc, char **argv, char **envp);
int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*ldso)(void));

/* Defined by the linker when the ELF headers are loaded, as libos/guest.ld arranges. */
extern const Elf64_Ehdr __ehdr_start __attribute__((weak));

_Noreturn void ilwaco__start_c(void);

/* argc, argv[] and NULL, envp's NULL, then up to this many auxv pairs. */
#define AUX_PAIRS  8
#define VECTOR_LEN (1 + DENALI_ARGS_MAX + 1 + 1 + 2 * AUX_PAIRS)

_Noreturn void ilwaco__start_c(void)
{
    const volatile struct denali_vregs *v = ilwaco__vregs();

    if (v->abi_version != DENALI_ABI_VERSION) {
        static const char msg[] = "ilwaco: monitor speaks another Denali ABI version\n";
        ilwaco_console_write(msg, sizeof(msg) - 1);
        ilwaco_exit(127);
    }

    ilwaco_pages_init();
    ilwaco_random_init();

    /*
     * This frame never returns, so the strings and the vector below live for
     * the whole run, as they would on a Linux process's initial stack; the
     * strings are copied because programs may write to argv and vregs is
     * read-only.
     */
    char strings[DENALI_ARGS_MAX + 1];
    size_t vec[VECTOR_LEN];
    unsigned char random_bytes[16];

    size_t len = v->args_len < DENALI_ARGS_MAX ? v->args_len : DENALI_ARGS_MAX;
    for (size_t i = 0; i < len; i++)
        strings[i] = v->args[i];
    strings[len] = '\0';

    /* Trust argc only as far as the strings really go. */
    size_t argc = 0, off = 0;
    char **argv = (char **)&vec[1];
    while (argc < v->argc && argc < DENALI_ARGS_MAX && off < len) {
        argv[argc++] = &strings[off];
        off += strlen(&strings[off]) + 1;
    }
    vec[0] = argc;
    argv[argc] = 0;

    size_t *envp = &vec[1 + argc + 1];
    envp[0] = 0;
    size_t *aux = &envp[1];
    size_t n = 0;
    aux[n++] = AT_PAGESZ;
    aux[n++] = DENALI_PAGE_SIZE;
    ilwaco_random_fill(random_bytes, sizeof(random_bytes));
    aux[n++] = AT_RANDOM;
    aux[n++] = (size_t)random_bytes;
    /* musl finds the PT_TLS template for __thread variables through these. */
    if (&__ehdr_start) {
        aux[n++] = AT_PHDR;
        aux[n++] = (size_t)&__ehdr_start + __ehdr_start.e_phoff;
        aux[n++] = AT_PHNUM;
        aux[n++] = __ehdr_start.e_phnum;
        aux[n++] = AT_PHENT;
        aux[n++] = __ehdr_start.e_phentsize;
    }
    aux[n++] = AT_NULL;
    aux[n++] = 0;

    __libc_start_main(main, (int)argc, argv, 0, 0, 0);
    /* __libc_start_main calls exit; returning here would be a libc bug. */
    ilwaco_exit(127);
}
