/* ilwaco's ready call: where a clone resumes, and what it re-reads from its virtual registers. */
#include <ilwaco.h>

#include "internal.h"
#include "net.h"

int ilwaco_ready(void)
{
    long result;
    /* The area must be in the snapshot: a clone's own memory is out of the monitor's reach. */
    ilwaco_disk_before_ready();
    register uint64_t r10 __asm__("r10") = 0;
    /*
     * In a clone the general registers come back, but SSE and x87 state do
     * not (DENALI_HC_READY in abi.h): tell the compiler none survives.
     */
    __asm__ volatile("call *%[gate]"
                     : "=a"(result)
                     : [gate] "r"((uintptr_t)DENALI_GATE_ADDR),
                       "d"((uint16_t)(DENALI_PORT_BASE + DENALI_HC_READY)), "D"(0), "S"(0), "r"(r10)
                     : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
    if (result != 1)
        return 0;
    ilwaco_random_init();
    ilwaco_nic_reidentify();
    return 1;
}
