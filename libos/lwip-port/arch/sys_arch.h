/* lwIP's system layer for ilwaco: NO_SYS, so nothing beyond sys_now (net_stack.c). */
#ifndef ILWACO_LWIP_ARCH_SYS_ARCH_H
#define ILWACO_LWIP_ARCH_SYS_ARCH_H
#endif
