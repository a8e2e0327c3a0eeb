/* Sets up a run's virtual disks (--disk) and plugs their block ring into the scheduler. */
#include "disk/disk_device.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/block_port.h"
#include "disk/disk_image.h"
#include "sched/exit_handler.h"
#include "sched/vm.h"

/* A VM's disks, from its BLK_ATTACH (or its clone's resume) until it ends. */
struct disk_vm {
    struct block_port port;
    struct disk_view views[DENALI_DISKS_MAX];
};

struct disks {
    struct vm_device device;
    struct monitor *m;
    unsigned count;
    struct disk_base bases[DENALI_DISKS_MAX];
    struct block_geometry geometry;
    char overlay_dir[4096];
    bool made_dir; /* a fresh directory of ours: removed at the end unless kept */
    bool keep;
    /* What the clones' template wrote before its snapshot, under every clone's overlay. */
    struct overlay templates[DENALI_DISKS_MAX];
    bool has_template[DENALI_DISKS_MAX];
    struct disk_vm **vms;            /* by VM id; NULL until it attaches */
    struct block_counters *counters; /* by VM id: read by the stats, even as a VM ends */
    _Atomic uint64_t overlays;       /* overlay files made */
    _Atomic uint64_t stopped;        /* VMs stopped for a broken ring */
};

static int view_read(void *ctx, unsigned disk, uint64_t offset, void *dst, size_t len)
{
    struct disk_vm *dv = ctx;
    return disk_view_read(&dv->views[disk], offset, dst, len);
}

static int view_write(void *ctx, unsigned disk, uint64_t offset, const void *src, size_t len)
{
    struct disk_vm *dv = ctx;
    return disk_view_write(&dv->views[disk], offset, src, len);
}

static int view_flush(void *ctx, unsigned disk)
{
    struct disk_vm *dv = ctx;
    return disk_view_flush(&dv->views[disk]);
}

/* The disks' sizes and flags go into the VM's virtual registers before it first runs. */
static void disk_attach(void *ctx, struct vm *vm)
{
    struct disks *d = ctx;
    vm->vregs->disk_count = d->count;
    for (unsigned i = 0; i < d->count; i++) {
        vm->vregs->disks[i].sectors = d->geometry.sectors[i];
        vm->vregs->disks[i].flags = d->geometry.read_only[i] ? DENALI_DISK_READ_ONLY : 0;
    }
}

/* The VM's state, made at its first attach: a VM that never uses its disks costs nothing. */
static struct disk_vm *vm_state(struct disks *d, const struct vm *vm)
{
    if (d->vms[vm->id])
        return d->vms[vm->id];
    struct disk_vm *dv = calloc(1, sizeof(*dv));
    if (!dv)
        return NULL;
    dv->port.counters = &d->counters[vm->id];
    for (unsigned i = 0; i < d->count; i++) {
        char *path = NULL;
        if (!d->bases[i].read_only &&
            asprintf(&path, "%s/vm-%u-disk-%u.overlay", d->overlay_dir, vm->id, i) < 0) {
            for (unsigned j = 0; j < i; j++)
                disk_view_close(&dv->views[j], false);
            free(dv);
            return NULL;
        }
        disk_view_init(&dv->views[i], &d->bases[i], path);
        if (d->has_template[i])
            dv->views[i].lower = &d->templates[i];
    }
    d->vms[vm->id] = dv;
    return dv;
}

/* At every exit the request ring is served: a batch costs the one exit the guest made anyway. */
static int disk_after_exit(void *ctx, struct vm *vm, const char **reason)
{
    struct disks *d = ctx;
    struct disk_vm *dv = d->vms[vm->id];
    if (!dv)
        return 0;
    uint64_t overlays_before = 0;
    for (unsigned i = 0; i < d->count; i++)
        overlays_before += dv->views[i].has_overlay;
    struct block_backend backend = {
        .read = view_read, .write = view_write, .flush = view_flush, .ctx = dv};
    int served = block_port_serve(&dv->port, &d->geometry, &backend, reason);
    if (served < 0) {
        atomic_fetch_add(&d->stopped, 1);
        return -1;
    }
    if (served > 0) {
        uint64_t overlays_after = 0;
        for (unsigned i = 0; i < d->count; i++)
            overlays_after += dv->views[i].has_overlay;
        atomic_fetch_add(&d->overlays, overlays_after - overlays_before);
        /* Its own worker, between two entries: the next one delivers it (an idle returns at once).
         */
        atomic_fetch_or(&vm->pending_events, DENALI_EVENT_BLK);
    }
    return 0;
}

static bool disk_hypercall(void *ctx, struct vm *vm, uint32_t nr, const struct vm_exit *e,
                           struct vm_decision *dec)
{
    struct disks *d = ctx;
    if (nr == DENALI_HC_BLK_KICK) {
        /* The ring is served at every exit; this one only has to happen. */
        exit_decision_resume(dec, 0);
        return true;
    }
    if (nr != DENALI_HC_BLK_ATTACH)
        return false;
    struct disk_vm *dv = vm_state(d, vm);
    if (!dv) {
        exit_decision_stop(dec, "blk attach: out of memory for the VM's disks");
        return true;
    }
    switch (block_port_attach(&dv->port, &vm->mem, e->args[0], e->args[1])) {
    case BLOCK_ATTACH_OK:
        exit_decision_resume(dec, 0);
        break;
    case BLOCK_ATTACH_EINVAL:
        exit_decision_resume(dec, (uint64_t)-DENALI_EINVAL);
        break;
    case BLOCK_ATTACH_FAULT:
        exit_decision_stop(dec, "blk attach: bad area 0x%lx+%lu at rip 0x%lx",
                           (unsigned long)e->args[0], (unsigned long)e->args[1],
                           (unsigned long)e->rip);
        break;
    }
    return true;
}

static uint64_t area_window_size(void)
{
    return (DENALI_BLK_AREA_SIZE + DENALI_PAGE_SIZE - 1) & ~(uint64_t)(DENALI_PAGE_SIZE - 1);
}

/*
 * The block area is a window: the monitor reads and writes it itself, as
 * the NIC's rings, so a clone's must be shared with it. A paged VM's data
 * pages need not stay in memory, though: the ring pages them back in
 * before each use (block_port.c), so only the header page, which the
 * monitor may touch at any exit, is kept from the pager. Without that, 8
 * VMs' areas alone could fill a --mem-limit of 1 MiB, and paging could make
 * no room at all.
 */
static void disk_add_windows(void *ctx, struct vm *vm, struct platform_snapshot *snap)
{
    struct disks *d = ctx;
    struct disk_vm *dv = d->vms[vm->id];
    if (!dv || !dv->port.area || snap->window_count >= PLATFORM_WINDOWS_MAX)
        return;
    uint64_t start = (uint64_t)((uint8_t *)dv->port.area - vm->mem.ram);
    snap->windows[snap->window_count].start = start;
    snap->windows[snap->window_count].end =
        start + (vm->pager ? DENALI_PAGE_SIZE : area_window_size());
    snap->window_count++;
}

/*
 * --clone: the template's overlays freeze into the layer every clone's
 * overlay lies over, so that each sees what it wrote before its ready call
 * and none sees what another writes after. The template goes on as a
 * clone, over the same layer.
 */
static int disk_snapshot_taken(void *ctx, struct vm *vm, char *err, size_t errlen)
{
    struct disks *d = ctx;
    struct disk_vm *dv = d->vms[vm->id];
    for (unsigned i = 0; dv && i < d->count; i++) {
        if (d->bases[i].read_only || d->has_template[i])
            continue;
        char path[sizeof(d->overlay_dir) + 48];
        snprintf(path, sizeof(path), "%s/template-disk-%u.overlay", d->overlay_dir, i);
        int rc = disk_view_freeze(&dv->views[i], &d->templates[i], path);
        if (rc < 0) {
            snprintf(err, errlen, "snapshot: cannot keep disk %u's overlay as %s: %s", i, path,
                     strerror(errno));
            return -1;
        }
        d->has_template[i] = rc > 0;
    }
    return 0;
}

/*
 * A hibernated VM's block area is touched again only at its own exits, once
 * it is back: with nothing in flight its data pages go back to the host.
 */
static int disk_hibernated(void *ctx, struct vm *vm, vm_release_fn release, void *release_ctx)
{
    struct disks *d = ctx;
    struct disk_vm *dv = d->vms[vm->id];
    if (!dv)
        return 0;
    return block_port_trim(&dv->port, vm->mem.ram, release, release_ctx) < 0 ? -1 : 0;
}

/* A clone's disks are attached where its template's were: the window of the block area's size. */
static void disk_resume_clone(void *ctx, struct vm *vm, const struct platform_snapshot *snap)
{
    struct disks *d = ctx;
    for (unsigned w = 0; w < snap->window_count && w < PLATFORM_WINDOWS_MAX; w++) {
        if (snap->windows[w].end - snap->windows[w].start != area_window_size())
            continue;
        struct disk_vm *dv = vm_state(d, vm);
        if (dv)
            (void)block_port_attach(&dv->port, &vm->mem, snap->windows[w].start,
                                    DENALI_BLK_AREA_SIZE);
        return;
    }
}

static void disk_counters(void *ctx, const struct vm *vm, struct vm_device_counters *out)
{
    struct disks *d = ctx;
    const struct block_counters *c = &d->counters[vm->id];
    out->disk_requests = atomic_load(&c->requests);
    out->disk_read_bytes = atomic_load(&c->read_bytes);
    out->disk_written_bytes = atomic_load(&c->written_bytes);
}

/* The VM ended: its ring is forgotten and its overlays closed (removed unless kept). */
static void disk_detach(void *ctx, struct vm *vm)
{
    struct disks *d = ctx;
    struct disk_vm *dv = d->vms[vm->id];
    if (!dv)
        return;
    d->vms[vm->id] = NULL;
    block_port_detach(&dv->port);
    for (unsigned i = 0; i < d->count; i++)
        disk_view_close(&dv->views[i], d->keep);
    free(dv);
}

/* --overlay-dir DIR (made if missing), else a fresh directory under $TMPDIR or /var/tmp. */
static int make_overlay_dir(struct disks *d, const struct run_options *o, char *err, size_t errlen)
{
    if (o->overlay_dir) {
        snprintf(d->overlay_dir, sizeof(d->overlay_dir), "%s", o->overlay_dir);
        if (mkdir(d->overlay_dir, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "--overlay-dir %s: %s", o->overlay_dir, strerror(errno));
            return -1;
        }
        struct stat st;
        if (stat(d->overlay_dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
            access(d->overlay_dir, W_OK | X_OK) < 0) {
            snprintf(err, errlen, "--overlay-dir %s: not a directory this user can write",
                     o->overlay_dir);
            return -1;
        }
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(d->overlay_dir, sizeof(d->overlay_dir), "%s/denali-overlays-XXXXXX",
             tmp && *tmp ? tmp : "/var/tmp");
    if (!mkdtemp(d->overlay_dir)) {
        snprintf(err, errlen, "cannot make a directory for the disks' overlays (%s): %s",
                 d->overlay_dir, strerror(errno));
        return -1;
    }
    d->made_dir = true;
    return 0;
}

struct disks *disks_start(struct monitor *m, char *err, size_t errlen)
{
    err[0] = '\0';
    const struct run_options *o = m->options;
    if (o->disk_count == 0)
        return NULL;
    struct disks *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "no memory for the disks");
        return NULL;
    }
    d->m = m;
    d->keep = o->keep_overlays;
    d->vms = calloc(o->count, sizeof(*d->vms));
    d->counters = calloc(o->count, sizeof(*d->counters));
    if (!d->vms || !d->counters) {
        snprintf(err, errlen, "no memory for the disks of %u VMs", o->count);
        goto fail;
    }
    bool writable = false;
    for (unsigned i = 0; i < o->disk_count; i++) {
        if (disk_base_open(&d->bases[i], o->disks[i].path, o->disks[i].read_only, err, errlen) < 0)
            goto fail;
        d->count = i + 1;
        d->geometry.sectors[i] = d->bases[i].bytes / DENALI_SECTOR_SIZE;
        d->geometry.read_only[i] = o->disks[i].read_only;
        writable |= !o->disks[i].read_only;
    }
    d->geometry.count = d->count;
    if (writable && make_overlay_dir(d, o, err, errlen) < 0)
        goto fail;
    d->device = (struct vm_device){.ctx = d,
                                   .attach = disk_attach,
                                   .after_exit = disk_after_exit,
                                   .hypercall = disk_hypercall,
                                   .add_windows = disk_add_windows,
                                   .snapshot_taken = disk_snapshot_taken,
                                   .resume_clone = disk_resume_clone,
                                   .hibernated = disk_hibernated,
                                   .counters = disk_counters,
                                   .detach = disk_detach};
    if (!vm_devices_add(&m->devices, &d->device)) {
        snprintf(err, errlen, "too many devices for the disks");
        goto fail;
    }
    return d;
fail:
    if (d->made_dir)
        rmdir(d->overlay_dir);
    for (unsigned i = 0; i < d->count; i++)
        disk_base_close(&d->bases[i]);
    free(d->vms);
    free(d->counters);
    free(d);
    return NULL;
}

void disks_stop(struct disks *d)
{
    if (!d)
        return;
    const struct run_options *o = d->m->options;
    vm_devices_remove(&d->m->devices, &d->device);
    uint64_t requests = 0, read = 0, written = 0, errors = 0;
    for (unsigned i = 0; i < o->count; i++) {
        requests += atomic_load(&d->counters[i].requests);
        read += atomic_load(&d->counters[i].read_bytes);
        written += atomic_load(&d->counters[i].written_bytes);
        errors += atomic_load(&d->counters[i].errors);
    }
    if (o->stats)
        fprintf(stderr,
                "denali-disk: disks=%u requests=%lu read_bytes=%lu written_bytes=%lu "
                "errors=%lu overlays=%lu ring_stops=%lu\n",
                d->count, (unsigned long)requests, (unsigned long)read, (unsigned long)written,
                (unsigned long)errors, (unsigned long)atomic_load(&d->overlays),
                (unsigned long)atomic_load(&d->stopped));
    for (unsigned i = 0; i < d->count; i++) {
        if (d->has_template[i]) {
            overlay_close(&d->templates[i], d->keep);
            if (!d->keep) {
                char path[sizeof(d->overlay_dir) + 48];
                snprintf(path, sizeof(path), "%s/template-disk-%u.overlay", d->overlay_dir, i);
                unlink(path);
            }
        }
        disk_base_close(&d->bases[i]);
    }
    if (d->made_dir) {
        if (d->keep)
            fprintf(stderr, "denali: overlays kept in %s\n", d->overlay_dir);
        else
            rmdir(d->overlay_dir);
    }
    free(d->vms);
    free(d->counters);
    free(d);
}
