/* The devices every VM has (the virtual NIC, the disks), seen by the scheduler only through hooks.
 */
#ifndef DENALI_VM_DEVICE_H
#define DENALI_VM_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_exit;
struct vm_decision;
struct platform_snapshot;

/*
 * The scheduler calls these at its own moments, so it never reaches up into
 * the network or the disks: they register them (net/network.c,
 * disk/disk_device.c) and wake VMs through workers_deliver_events. Every
 * hook is optional.
 */
/* A VM's traffic through its devices, for the daemon's stats; each device fills its own. */
struct vm_device_counters {
    uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes;
    uint64_t disk_requests, disk_read_bytes, disk_written_bytes;
};

/* Gives [gpa, gpa + len) of a VM's memory back to the host. 0, or -1. */
typedef int (*vm_release_fn)(void *ctx, uint64_t gpa, uint64_t len);

struct vm_device {
    void *ctx;
    /* A VM was created, before its first entry (e.g. its addresses into the vregs). */
    void (*attach)(void *ctx, struct vm *vm);
    /* Before every entry, once the events it will see were taken. */
    void (*before_entry)(void *ctx, struct vm *vm);
    /* After every exit. -1: the VM broke the device's rules, *reason says how; it is stopped. */
    int (*after_exit)(void *ctx, struct vm *vm, const char **reason);
    /* The VM idles with these flags: the events of input that already waits (0: it may sleep). */
    uint64_t (*going_idle)(void *ctx, struct vm *vm, uint32_t idle_flags);
    /* A hypercall the device serves; true when it decided. */
    bool (*hypercall)(void *ctx, struct vm *vm, uint32_t nr, const struct vm_exit *exit,
                      struct vm_decision *decision);
    /* A snapshot of the VM is taken: adds the guest RAM the device reads and writes itself. */
    void (*add_windows)(void *ctx, struct vm *vm, struct platform_snapshot *snap);
    /*
     * The VM was snapshotted for clones (after add_windows): what the device
     * keeps outside guest memory for it must now be what every clone starts
     * from. -1 with a reason in err: no snapshot.
     */
    int (*snapshot_taken)(void *ctx, struct vm *vm, char *err, size_t errlen);
    /* A clone was made from snap: takes up its windows as the snapshotted VM had them. */
    void (*resume_clone)(void *ctx, struct vm *vm, const struct platform_snapshot *snap);
    /*
     * The VM was hibernated. Its windows stay in memory (the device writes
     * them at any time), but the pages of them that hold nothing the guest
     * still needs may go back to the host: release punches them (they read
     * as zeros afterwards). 0, or -1 from release.
     */
    int (*hibernated)(void *ctx, struct vm *vm, vm_release_fn release, void *release_ctx);
    /* Its traffic so far, into its own fields (under the scheduler's lock: must not block). */
    void (*counters)(void *ctx, const struct vm *vm, struct vm_device_counters *out);
    /* The VM ended: nothing may write its memory from now on. */
    void (*detach)(void *ctx, struct vm *vm);
};

/* A run's devices, in the order their hooks are called (the NIC first). */
#define VM_DEVICES_MAX 2u
struct vm_devices {
    unsigned count;
    const struct vm_device *list[VM_DEVICES_MAX];
};

/* Each hook of every device in turn; a NULL set has none. */
static inline void vm_devices_attach(const struct vm_devices *ds, struct vm *vm)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->attach)
            ds->list[i]->attach(ds->list[i]->ctx, vm);
}

static inline void vm_devices_before_entry(const struct vm_devices *ds, struct vm *vm)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->before_entry)
            ds->list[i]->before_entry(ds->list[i]->ctx, vm);
}

/* -1 at the first device whose rules the VM broke (*reason says how); later ones are skipped. */
static inline int vm_devices_after_exit(const struct vm_devices *ds, struct vm *vm,
                                        const char **reason)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->after_exit && ds->list[i]->after_exit(ds->list[i]->ctx, vm, reason) < 0)
            return -1;
    return 0;
}

static inline uint64_t vm_devices_going_idle(const struct vm_devices *ds, struct vm *vm,
                                             uint32_t idle_flags)
{
    uint64_t events = 0;
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->going_idle)
            events |= ds->list[i]->going_idle(ds->list[i]->ctx, vm, idle_flags);
    return events;
}

/* True when one of the devices decided the hypercall. */
static inline bool vm_devices_hypercall(const struct vm_devices *ds, struct vm *vm, uint32_t nr,
                                        const struct vm_exit *exit, struct vm_decision *decision)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->hypercall &&
            ds->list[i]->hypercall(ds->list[i]->ctx, vm, nr, exit, decision))
            return true;
    return false;
}

static inline void vm_devices_add_windows(const struct vm_devices *ds, struct vm *vm,
                                          struct platform_snapshot *snap)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->add_windows)
            ds->list[i]->add_windows(ds->list[i]->ctx, vm, snap);
}

static inline int vm_devices_snapshot_taken(const struct vm_devices *ds, struct vm *vm, char *err,
                                            size_t errlen)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->snapshot_taken &&
            ds->list[i]->snapshot_taken(ds->list[i]->ctx, vm, err, errlen) < 0)
            return -1;
    return 0;
}

static inline void vm_devices_resume_clone(const struct vm_devices *ds, struct vm *vm,
                                           const struct platform_snapshot *snap)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->resume_clone)
            ds->list[i]->resume_clone(ds->list[i]->ctx, vm, snap);
}

static inline void vm_devices_hibernated(const struct vm_devices *ds, struct vm *vm,
                                         vm_release_fn release, void *release_ctx)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->hibernated)
            (void)ds->list[i]->hibernated(ds->list[i]->ctx, vm, release, release_ctx);
}

static inline void vm_devices_counters(const struct vm_devices *ds, const struct vm *vm,
                                       struct vm_device_counters *out)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->counters)
            ds->list[i]->counters(ds->list[i]->ctx, vm, out);
}

static inline void vm_devices_detach(const struct vm_devices *ds, struct vm *vm)
{
    for (unsigned i = 0; ds && i < ds->count; i++)
        if (ds->list[i]->detach)
            ds->list[i]->detach(ds->list[i]->ctx, vm);
}

/* Adds d to the run's devices (false when full); taken off again with vm_devices_remove. */
static inline bool vm_devices_add(struct vm_devices *ds, const struct vm_device *d)
{
    if (ds->count == VM_DEVICES_MAX)
        return false;
    ds->list[ds->count++] = d;
    return true;
}

static inline void vm_devices_remove(struct vm_devices *ds, const struct vm_device *d)
{
    for (unsigned i = 0; i < ds->count; i++) {
        if (ds->list[i] != d)
            continue;
        for (unsigned j = i + 1; j < ds->count; j++)
            ds->list[j - 1] = ds->list[j];
        ds->count--;
        return;
    }
}

#endif
