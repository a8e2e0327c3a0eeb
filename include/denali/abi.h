/* The Denali virtual architecture: the one contract shared by the monitor and every guest. */
#ifndef DENALI_ABI_H
#define DENALI_ABI_H

#include <stdint.h>

/*
 * Bumped on any incompatible change. Guests carry it in an ELF note
 * (name DENALI_NOTE_NAME, type DENALI_NOTE_ABI, a 4-byte version) and the
 * monitor refuses an image whose version differs.
 */
#define DENALI_ABI_VERSION 4u
#define DENALI_NOTE_NAME   "Denali"
#define DENALI_NOTE_ABI    1u

/*
 * Guest memory map. Guest-virtual equals guest-physical. Nothing the guest
 * sees lies below 0x10000, so the process platform can map it where the
 * host's vm.mmap_min_addr is 65536.
 *
 *   0x000000  never mapped to the guest (null dereferences fault); the
 *             platform keeps its own pages here, invisible to the guest:
 *   0x001000    (process platform) the VM process's control page; (kvm)
 *               the exception handlers, supervisor-only and read-only
 *   0x002000    (kvm) page tables; (process) the VM process's launch block
 *   0x00f000    (kvm) system tables (GDT, IDT, TSS and its I/O bitmap) and
 *               the exception handlers' stack, mapped supervisor-only
 *   0x010000  virtual registers (struct denali_vregs): read-only to the guest
 *   0x011000  hypercall gate: read-only and executable, filled by the platform
 *   0x012000  stack guard page: never mapped (stack overflow faults)
 *   0x013000  stack, growing down from DENALI_STACK_TOP
 *   0x100000  image: the ELF's PT_LOAD segments live at or above this
 *   ...       heap: from the page after the image's end up to mem_size
 */
#define DENALI_PAGE_SIZE       0x1000u
#define DENALI_LOW_LIMIT       0x10000u
#define DENALI_PAGETABLE_ADDR  0x2000u
#define DENALI_PAGETABLE_PAGES 13u
#define DENALI_SYSTEM_ADDR     0xf000u
#define DENALI_VREGS_ADDR      0x10000u
#define DENALI_GATE_ADDR       0x11000u
#define DENALI_STACK_GUARD     0x12000u
#define DENALI_STACK_BOTTOM    0x13000u
#define DENALI_STACK_TOP       0x100000u
#define DENALI_IMAGE_BASE      0x100000u
/* Image segments must end below this: the low region is mapped with 4 KiB pages. */
#define DENALI_IMAGE_LIMIT 0xe00000u
/* Guest memory size: a multiple of 2 MiB between these bounds. */
#define DENALI_MEM_ALIGN 0x200000ull
#define DENALI_MEM_MIN   0x200000ull
#define DENALI_MEM_MAX   0x100000000ull

/*
 * Virtual instructions (hypercalls). A guest issues one by calling the
 * hypercall gate, `call DENALI_GATE_ADDR`, with %dx = DENALI_PORT_BASE + the
 * hypercall number (Xen's hypercall page: the platform fills the gate, so
 * one image runs on every platform). Under kvm the gate is
 * `outb %al, %dx; ret`; under the process platform it hands the call to
 * the monitor. Arguments travel in %rdi, %rsi and %r10; the result comes
 * back in %rax. %rax's value on entry and the flags are not preserved;
 * every other register, and all SSE and x87 state, is. The gate uses up
 * to DENALI_GATE_STACK bytes of the caller's stack below %rsp. A guest may
 * also execute the `outb` itself (slower on the process platform, where it
 * traps). Any other port stops the VM.
 * Results below zero are negated DENALI_E* codes: a hypercall reports a
 * request it cannot serve (e.g. an over-long console write: -DENALI_EINVAL),
 * but stops the VM for a memory-safety violation (a buffer the guest could
 * not itself access, or one that wraps around the address space).
 */
#define DENALI_PORT_BASE  0x500u
#define DENALI_GATE_STACK 384u

enum denali_hypercall {
    DENALI_HC_NOP = 0,           /* () -> 0; a null round trip for benchmarks */
    DENALI_HC_EXIT = 1,          /* (status) -> does not return: terminate this VM */
    DENALI_HC_CONSOLE_WRITE = 2, /* (addr, len) -> len; len <= DENALI_CONSOLE_MAX */
    DENALI_HC_IDLE = 3,          /* (deadline_ns, flags) -> events delivered (and cleared) */
    DENALI_HC_NET_ATTACH = 4,    /* (area_addr, area_size) -> 0: see "Virtual NIC" below */
    DENALI_HC_NET_KICK = 5,      /* () -> 0: an exit whose only work is to transmit the tx ring */
    /*
     * (base) -> 1 when the platform has made base the guest's FS base (its
     * thread pointer), 0 when the guest must set it itself with wrfsbase.
     * The process platform answers 1 without leaving the VM process: there
     * the host kernel owns FS and may reload it at any context switch.
     */
    DENALI_HC_SET_FS_BASE = 6,
    /*
     * () -> 0: the guest is ready to serve (ilwaco_ready). In a run with
     * --clone or --restore the monitor snapshots the VM here, and every
     * clone resumes from this call with the result 1, its own identity
     * (vm_id, mac, ipv4, entropy) already in the virtual registers: the
     * guest re-reads whatever it derived from them. Unlike the other calls
     * it is an ordinary SysV function call in a clone: the general
     * registers survive, SSE and x87 registers do not, and MXCSR and the
     * x87 control word are back to their defaults.
     */
    DENALI_HC_READY = 7,
    /*
     * (addr, len) -> 0: ballooning. The pages [addr, addr + len), page-aligned
     * and in the guest's own writable RAM, are free: the host takes them
     * back, and they read as zero when next touched (in a clone, as the
     * snapshot it was cloned from held them: zero where its template never
     * wrote, the template's bytes where it did). A guest calls it when
     * DENALI_EVENT_BALLOON asks (vregs.balloon_pages), or whenever it likes.
     * A range it could not write itself stops the VM, as for every buffer.
     */
    DENALI_HC_BALLOON = 8,
    DENALI_HC_BLK_ATTACH = 9, /* (area_addr, area_size) -> 0: see "Virtual disks" below */
    DENALI_HC_BLK_KICK = 10,  /* () -> 0: an exit whose only work is to serve the request ring */
    DENALI_HC_COUNT
};

#define DENALI_CONSOLE_MAX 4096u
/*
 * Idle flags (idle's second argument; other bits must be zero, else it
 * returns -DENALI_EINVAL at once). LAZY_ACKS: frames that are pure TCP
 * acknowledgements (IPv4, TCP, no payload, only the ACK flag) are still
 * queued in the rx ring but do not end this idle. A guest sets it when no
 * sender of its own waits for acknowledgements (nothing unsent, nobody
 * blocked on send space), so that the ACK for a response it already sent
 * does not cost a VM entry of its own.
 */
#define DENALI_IDLE_LAZY_ACKS 1u
#define DENALI_IDLE_FLAGS     DENALI_IDLE_LAZY_ACKS

/* An idle deadline that never expires: the VM sleeps until an event. */
#define DENALI_DEADLINE_NONE UINT64_MAX

#define DENALI_EIO    5
#define DENALI_EINVAL 22
#define DENALI_ENODEV 19
#define DENALI_EROFS  30
#define DENALI_ENOSYS 38

/* Batched virtual interrupts: bits of denali_vregs.events and of idle's result. */
#define DENALI_EVENT_TIMER  (1ull << 0) /* an idle deadline passed */
#define DENALI_EVENT_NET_RX (1ull << 1) /* frames were added to the rx ring */
/* The host is short of memory: give back free pages (DENALI_HC_BALLOON), vregs.balloon_pages. */
#define DENALI_EVENT_BALLOON (1ull << 2)
/* Asked to end (the daemon's stop, an OCI runtime's SIGTERM): ilwaco exits with 143 by default. */
#define DENALI_EVENT_SHUTDOWN (1ull << 3)
/* The monitor posted responses to the block request ring. */
#define DENALI_EVENT_BLK (1ull << 4)

/*
 * Virtual NIC: two single-producer rings of fixed-size slots in one area of
 * guest memory, Xen-style, so that one exit moves many frames.
 *
 * The guest allocates a zeroed, page-aligned area of DENALI_NET_AREA_SIZE
 * bytes in its own writable memory and registers it once with
 * DENALI_HC_NET_ATTACH(addr, DENALI_NET_AREA_SIZE). It returns
 * -DENALI_ENODEV when the VM has no network (--net none, ipv4 == 0) and
 * -DENALI_EINVAL when already attached or the area is misaligned or the
 * wrong size; an area the guest cannot write stops the VM.
 *
 * Counters are free-running uint32_t: a ring holds produced - consumed
 * frames. Frame number c is in the slot named by the ring's slot table at
 * c % slots (rx_slot or tx_slot, written by that ring's producer), not in
 * slot c % slots: each producer takes the lowest-numbered free slot, so a
 * lightly used ring keeps reusing its first few pages and a VM's rings cost
 * the host only as many pages as it has frames in flight, rather than all
 * of the area. Each side writes only its own counters, after the slot
 * contents and the slot table (release); the other side reads them with
 * acquire. A slot is free again once the consumer has passed its frame,
 * and its contents are then no longer the guest's: while a VM is
 * hibernated the monitor gives back the pages of slots that hold no frame
 * in flight, and they read as zeros when it wakes.
 *
 * rx (monitor -> guest): the monitor fills slots and advances rx_produced at
 * any time, even while the VM runs, and raises DENALI_EVENT_NET_RX. When the
 * ring is full the frame is dropped and counted. The guest consumes and
 * advances rx_consumed.
 *
 * Frame sizes differ by direction. A VM receives frames of at most
 * DENALI_NET_FRAME_MAX bytes (the classic 1,500-byte MTU) but may send
 * frames of up to DENALI_NET_TX_FRAME_MAX (a 4,000-byte MTU): the uplinks
 * take them, so a server answers the host with fewer, larger segments. A
 * guest's TCP must therefore advertise an MSS of at most
 * DENALI_NET_RX_MSS, which also keeps the frames one VM sends another
 * within the receiver's slots. A frame too long for its receiver's rx
 * slots is dropped and counted (drop_oversize).
 *
 * tx (guest -> monitor): the guest fills slots and advances tx_produced. At
 * EVERY exit of the VM (any hypercall, idle included, and preemption) the
 * monitor transmits all pending frames and advances tx_consumed, so a guest
 * that is about to idle needs no extra exit; DENALI_HC_NET_KICK is for a
 * guest that wants its frames out now. A guest must not write a slot between
 * tx_consumed and tx_produced. A tx_produced more than DENALI_NET_TX_SLOTS
 * ahead stops the VM; a frame whose tx_slot entry is not a slot number
 * (>= DENALI_NET_TX_SLOTS), whose len is outside
 * [DENALI_NET_FRAME_MIN, DENALI_NET_TX_FRAME_MAX] or whose source MAC is not
 * the VM's own is dropped and counted.
 *
 * Frames are Ethernet II without FCS: destination MAC, source MAC,
 * ethertype, payload.
 */
#define DENALI_NET_FRAME_MIN    14u
#define DENALI_NET_FRAME_MAX    1514u /* received frames: a 1,500-byte MTU */
#define DENALI_NET_TX_FRAME_MAX 4014u /* sent frames: a 4,000-byte MTU */
#define DENALI_NET_RX_MSS       (DENALI_NET_FRAME_MAX - 14u - 40u) /* TCP over IPv4, no options */
#define DENALI_NET_TX_MSS       (DENALI_NET_TX_FRAME_MAX - 14u - 40u)
#define DENALI_NET_SLOT_SIZE    2048u
#define DENALI_NET_TX_SLOT_SIZE 4096u
#define DENALI_NET_RX_SLOTS     128u
#define DENALI_NET_TX_SLOTS     32u

struct denali_net_slot {
    uint16_t len; /* frame bytes in data */
    uint16_t pad[3];
    uint8_t data[DENALI_NET_SLOT_SIZE - 8];
};

struct denali_net_tx_slot {
    uint16_t len; /* frame bytes in data */
    uint16_t pad[3];
    uint8_t data[DENALI_NET_TX_SLOT_SIZE - 8];
};

struct denali_net_area {
    /* Each counter in its own cache line: the two sides write different ones. */
    uint32_t rx_produced; /* written by the monitor */
    uint8_t pad0[60];
    uint32_t rx_consumed; /* written by the guest */
    uint8_t pad1[60];
    uint32_t tx_produced; /* written by the guest */
    uint8_t pad2[60];
    uint32_t tx_consumed; /* written by the monitor */
    uint8_t pad3[60];
    uint8_t rx_slot[DENALI_NET_RX_SLOTS]; /* written by the monitor: frame c is in rx[rx_slot[c %
                                             128]] */
    uint8_t
        tx_slot[DENALI_NET_TX_SLOTS]; /* written by the guest: frame c is in tx[tx_slot[c % 32]] */
    uint8_t pad4[4096 - 256 - DENALI_NET_RX_SLOTS - DENALI_NET_TX_SLOTS];
    struct denali_net_slot rx[DENALI_NET_RX_SLOTS];
    struct denali_net_tx_slot tx[DENALI_NET_TX_SLOTS];
};

#define DENALI_NET_AREA_SIZE sizeof(struct denali_net_area)
_Static_assert(sizeof(struct denali_net_slot) == DENALI_NET_SLOT_SIZE, "net slot");
_Static_assert(__builtin_offsetof(struct denali_net_area, rx) == 4096, "net area header page");
_Static_assert(sizeof(struct denali_net_area) % 4096 == 0, "net area whole pages");
_Static_assert(sizeof(struct denali_net_tx_slot) == DENALI_NET_TX_SLOT_SIZE, "net tx slot");
_Static_assert(DENALI_NET_RX_SLOTS <= 256 && DENALI_NET_TX_SLOTS <= 256, "a slot number is a byte");
_Static_assert(DENALI_NET_FRAME_MAX <= DENALI_NET_SLOT_SIZE - 8, "frame fits a slot");
_Static_assert(DENALI_NET_TX_FRAME_MAX <= DENALI_NET_TX_SLOT_SIZE - 8, "tx frame fits a tx slot");

/*
 * Virtual disks: up to DENALI_DISKS_MAX per VM (`--disk`), each an array of
 * DENALI_SECTOR_SIZE-byte sectors. vregs.disk_count says how many and
 * vregs.disks[i] their size in sectors and whether they are read-only
 * (DENALI_DISK_READ_ONLY); a guest of a monitor without disks reads 0.
 *
 * One area serves every disk of the VM, so that it costs one window in a
 * snapshot: a header page with the counters, a ring of DENALI_BLK_SLOTS
 * requests and one of as many responses, then DENALI_BLK_DATA_SIZE bytes
 * of data that requests point into. Data never travels through other guest
 * memory: the monitor reads and writes only this area, which a snapshot
 * shares between a clone and the monitor as it does the NIC's rings (so
 * no other buffer of a clone, private to it, need be reached). The guest
 * allocates a zeroed, page-aligned area of DENALI_BLK_AREA_SIZE bytes in
 * its own writable memory and registers it once with
 * DENALI_HC_BLK_ATTACH(addr, DENALI_BLK_AREA_SIZE): -DENALI_ENODEV when
 * the VM has no disk, -DENALI_EINVAL when already attached, misaligned or
 * the wrong size; an area the guest cannot write stops the VM. A guest
 * that calls ilwaco_ready with disks attaches before it, so that clones
 * resume with the area in their snapshot.
 *
 * Counters are free-running uint32_t, each written by one side only, after
 * the slots it covers (release), and read by the other with acquire, as
 * for the NIC. The guest writes requests at req_produced % DENALI_BLK_SLOTS
 * and advances req_produced; it must not have more than DENALI_BLK_SLOTS
 * requests whose responses it has not consumed. At EVERY exit of the VM
 * (any hypercall, idle included, and preemption) the monitor serves, in
 * order, every request between its req_consumed and req_produced for which
 * the response ring has room, writes one response each (the request's id
 * and a status: 0 or a negated DENALI_E* code), advances req_consumed and
 * rsp_produced, and raises DENALI_EVENT_BLK. So one exit serves a whole
 * batch: a guest queues its requests and idles, and the idle returns at
 * once with DENALI_EVENT_BLK and every response in place.
 * DENALI_HC_BLK_KICK is that exit for a guest that does not want to idle.
 * The guest consumes responses and advances rsp_consumed.
 *
 * A request names an op, a disk, count sectors from sector, and where its
 * data lies in the area's data (a byte offset, a multiple of the sector
 * size; data + count sectors within DENALI_BLK_DATA_SIZE). A read fills
 * that data, a write takes it; a flush (no sector, count or data) returns
 * once everything written to that disk before it is on the host's stable
 * storage. The monitor copies each request out of the ring once and checks
 * the copy: an unknown op, a disk the VM does not have, a count of 0, a
 * range past the disk's end (or overflowing), or data outside the area is
 * answered -DENALI_EINVAL; a write to a read-only disk -DENALI_EROFS; a
 * failure on the host -DENALI_EIO. A req_produced more than
 * DENALI_BLK_SLOTS ahead of req_consumed, or an rsp_consumed ahead of
 * rsp_produced, stops the VM.
 *
 * The data is the guest's from when it writes it for a request until its
 * next idle after it consumed that request's response. A VM hibernated
 * with every request served and every response consumed gets its data
 * pages back as zeros when it wakes: a hibernated VM does not keep up to
 * 128 KiB of data it has read in memory.
 */
#define DENALI_DISKS_MAX      8u
#define DENALI_SECTOR_SIZE    512u
#define DENALI_DISK_READ_ONLY 1u
#define DENALI_BLK_SLOTS      64u
#define DENALI_BLK_DATA_SIZE  (128u * 1024u)

enum denali_blk_op { DENALI_BLK_READ = 1, DENALI_BLK_WRITE = 2, DENALI_BLK_FLUSH = 3 };

struct denali_blk_request {
    uint8_t op;   /* enum denali_blk_op */
    uint8_t disk; /* index below vregs.disk_count */
    uint16_t pad;
    uint32_t count;  /* sectors */
    uint64_t sector; /* the first */
    uint32_t data;   /* byte offset into the area's data */
    uint32_t pad2;
    uint64_t id; /* the guest's own, echoed in the response */
};

struct denali_blk_response {
    uint64_t id;
    int32_t status; /* 0, or a negated DENALI_E* code */
    uint32_t pad;
};

struct denali_blk_area {
    /* Each counter in its own cache line: the two sides write different ones. */
    uint32_t req_produced; /* written by the guest */
    uint8_t pad0[60];
    uint32_t req_consumed; /* written by the monitor */
    uint8_t pad1[60];
    uint32_t rsp_produced; /* written by the monitor */
    uint8_t pad2[60];
    uint32_t rsp_consumed; /* written by the guest */
    uint8_t pad3[60];
    struct denali_blk_request requests[DENALI_BLK_SLOTS];
    struct denali_blk_response responses[DENALI_BLK_SLOTS];
    uint8_t pad4[4096 - 256 - DENALI_BLK_SLOTS * 48];
    uint8_t data[DENALI_BLK_DATA_SIZE];
};

#define DENALI_BLK_AREA_SIZE sizeof(struct denali_blk_area)
_Static_assert(sizeof(struct denali_blk_request) == 32, "blk request");
_Static_assert(sizeof(struct denali_blk_response) == 16, "blk response");
_Static_assert(__builtin_offsetof(struct denali_blk_area, requests) == 256, "blk requests");
_Static_assert(__builtin_offsetof(struct denali_blk_area, data) == 4096, "blk header page");
_Static_assert(sizeof(struct denali_blk_area) % 4096 == 0, "blk area whole pages");
/* A snapshot tells the NIC's window from the disks' by their sizes. */
_Static_assert(sizeof(struct denali_blk_area) != sizeof(struct denali_net_area), "blk area size");

/* One disk as the virtual registers describe it. */
struct denali_disk_info {
    uint64_t sectors;
    uint32_t flags; /* DENALI_DISK_READ_ONLY */
    uint32_t pad;
};

#define DENALI_ARGS_MAX 2048u

/*
 * The virtual registers page. The monitor refreshes time_ns and events
 * before every entry into the VM, so the guest reads them without an exit.
 */
struct denali_vregs {
    uint32_t abi_version;
    uint32_t vm_id;
    uint32_t vm_count;
    uint32_t argc;
    uint64_t mem_size;
    uint64_t time_ns;   /* virtual time: nanoseconds on the monitor's clock */
    uint64_t events;    /* pending event bits, not yet delivered by idle */
    uint64_t image_end; /* first byte above the image: the heap may start here */
    uint8_t mac[6];
    uint8_t pad0[2];
    uint32_t ipv4;       /* network byte order; 0 when the VM has no network */
    uint32_t netmask;    /* network byte order */
    uint32_t gateway;    /* network byte order */
    uint32_t args_len;   /* bytes used in args */
    uint32_t entropy[2]; /* fresh random bits from the host at each boot and each clone */
    /* argc NUL-terminated strings packed back to back: argv[0] is the image name */
    char args[DENALI_ARGS_MAX];
    /* With DENALI_EVENT_BALLOON: free pages the monitor asks for back (UINT64_MAX: all). */
    uint64_t balloon_pages;
    /* Virtual disks (`--disk`), in the order given; see "Virtual disks" above. */
    uint32_t disk_count;
    uint32_t pad1;
    struct denali_disk_info disks[DENALI_DISKS_MAX];
};

_Static_assert(sizeof(struct denali_vregs) == 96 + DENALI_ARGS_MAX + 16 * DENALI_DISKS_MAX,
               "vregs layout");
_Static_assert(sizeof(struct denali_vregs) <= DENALI_PAGE_SIZE, "vregs fit one page");
_Static_assert(__builtin_offsetof(struct denali_vregs, time_ns) == 24, "vregs time_ns");
_Static_assert(__builtin_offsetof(struct denali_vregs, events) == 32, "vregs events");
_Static_assert(__builtin_offsetof(struct denali_vregs, mac) == 48, "vregs mac");
_Static_assert(__builtin_offsetof(struct denali_vregs, args) == 80, "vregs args");
_Static_assert(__builtin_offsetof(struct denali_vregs, balloon_pages) == 80 + DENALI_ARGS_MAX,
               "vregs balloon_pages: disks were added after it, so older guests still read it");
_Static_assert(DENALI_PAGETABLE_ADDR + DENALI_PAGETABLE_PAGES * DENALI_PAGE_SIZE <=
                   DENALI_SYSTEM_ADDR,
               "page tables below the system tables");
_Static_assert(DENALI_SYSTEM_ADDR + DENALI_PAGE_SIZE <= DENALI_LOW_LIMIT,
               "system tables below what the guest sees");
_Static_assert(DENALI_VREGS_ADDR >= DENALI_LOW_LIMIT, "vregs above vm.mmap_min_addr");
_Static_assert(DENALI_GATE_ADDR + DENALI_PAGE_SIZE <= DENALI_STACK_GUARD, "gate below the guard");

/* The ELF note body a guest carries (after the standard note header and name). */
struct denali_abi_note {
    uint32_t abi_version;
};
_Static_assert(sizeof(struct denali_abi_note) == 4, "abi note");

#endif
