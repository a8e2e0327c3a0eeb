/* A device every VM has (the virtual NIC), seen by the scheduler only through these hooks. */
#ifndef DENALI_VM_DEVICE_H
#define DENALI_VM_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_exit;
struct vm_decision;

/*
 * The scheduler calls these at its own moments, so it never reaches up into
 * the network: the network registers them (net/network.c) and wakes VMs
 * through workers_deliver_events. Every hook is optional except where said.
 */
/* A VM's traffic through the device, for the daemon's stats. */
struct vm_device_counters {
    uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes;
};

struct vm_device {
    void *ctx;
    /* A VM was created, before its first entry (e.g. its addresses into the vregs). */
    void (*attach)(void *ctx, struct vm *vm);
    /* Before every entry, once the events it will see were taken. */
    void (*before_entry)(void *ctx, struct vm *vm);
    /* After every exit. -1: the VM broke the device's rules, *reason says how; it is stopped. */
    int (*after_exit)(void *ctx, struct vm *vm, const char **reason);
    /* The VM idles with these flags: true when input already waits, so it must not sleep. */
    bool (*going_idle)(void *ctx, struct vm *vm, uint32_t idle_flags);
    /* A hypercall the device serves; true when it decided. */
    bool (*hypercall)(void *ctx, struct vm *vm, uint32_t nr, const struct vm_exit *exit,
                      struct vm_decision *decision);
    /* A snapshot of the VM is taken: adds the guest RAM the device reads and writes itself. */
    void (*add_windows)(void *ctx, struct vm *vm, struct platform_snapshot *snap);
    /* A clone was made from snap: takes up its windows as the snapshotted VM had them. */
    void (*resume_clone)(void *ctx, struct vm *vm, const struct platform_snapshot *snap);
    /* Its traffic so far (called under the scheduler's lock: must not block). */
    void (*counters)(void *ctx, const struct vm *vm, struct vm_device_counters *out);
    /* The VM ended: nothing may write its memory from now on. */
    void (*detach)(void *ctx, struct vm *vm);
};

#endif
