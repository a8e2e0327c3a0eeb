/* ilwaco: the Denali guest library OS's public interface for guest programs. */
#ifndef ILWACO_H
#define ILWACO_H

#include <stddef.h>
#include <stdint.h>

#include <denali/abi.h>

/*
 * Issues virtual instruction nr (enum denali_hypercall) with up to three
 * arguments and returns the monitor's result (negative DENALI_E* on error).
 * Each call is one exit to the monitor: batch work rather than call often.
 */
long ilwaco_hypercall(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2);

/* The virtual registers page; the monitor refreshes it before every entry. */
const volatile struct denali_vregs *ilwaco_vregs(void);

/*
 * Virtual time in nanoseconds. It only moves when the monitor re-enters the
 * VM (after a hypercall or a preemption), so a busy loop sees it in steps.
 */
uint64_t ilwaco_time_ns(void);

/*
 * Gives up the vCPU until virtual time reaches deadline_ns
 * (DENALI_DEADLINE_NONE: until an event) or an event arrives, and returns
 * the DENALI_EVENT_* bits delivered. It may return early with no bits set.
 */
uint64_t ilwaco_idle(uint64_t deadline_ns);

/* Terminates this VM with status; never returns. */
_Noreturn void ilwaco_exit(int status);

/*
 * Writes len bytes to the VM's console, DENALI_CONSOLE_MAX per hypercall.
 * Returns the bytes written, or a negative DENALI_E* code if none were.
 */
long ilwaco_console_write(const void *buf, size_t len);

#endif
