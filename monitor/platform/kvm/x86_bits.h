/* Architectural x86-64 control-register and EFER bits, shared by the monitor and the bare-KVM
 * floors. */
#ifndef DENALI_X86_BITS_H
#define DENALI_X86_BITS_H

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)

#define CR4_PAE        (1ull << 5)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_FSGSBASE   (1ull << 16)

#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

#endif
