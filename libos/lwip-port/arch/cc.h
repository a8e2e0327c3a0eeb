/* lwIP's compiler and platform definitions for ilwaco guests (x86-64, musl, no OS). */
#ifndef ILWACO_LWIP_ARCH_CC_H
#define ILWACO_LWIP_ARCH_CC_H

#include <stdint.h>

/* lwIP's own checks end the VM with a message instead of printing through stdio. */
_Noreturn void ilwaco_lwip_assert(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_ASSERT(x) ilwaco_lwip_assert((x), __FILE__, __LINE__)
#define LWIP_PLATFORM_DIAG(x)                                                                      \
    do {                                                                                           \
    } while (0)

/* Random initial ports: the VM's generator is seeded per VM. */
uint32_t ilwaco_lwip_rand(void);
#define LWIP_RAND() ilwaco_lwip_rand()

#define lwip_htons(x) __builtin_bswap16(x)
#define lwip_htonl(x) __builtin_bswap32(x)

#endif
