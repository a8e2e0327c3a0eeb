/* Command-line parsing for `denali run`: pure, so every error case is unit-testable. */
#ifndef DENALI_OPTIONS_H
#define DENALI_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"
#include "net/publish.h"

enum console_mode { CONSOLE_STDOUT, CONSOLE_NULL, CONSOLE_DIR };
enum net_mode { NET_USER, NET_TAP, NET_NONE };

#define OPTIONS_MAX_PUBLISH 16u
#define OPTIONS_MAX_DISKS   8u /* DENALI_DISKS_MAX */

/* One `--disk PATH[,ro]`. */
struct disk_option {
    char *path; /* owned: PATH without its flags */
    bool read_only;
};

struct run_options {
    const char *image_path;
    int guest_argc; /* arguments after IMAGE */
    char **guest_argv;
    unsigned count;
    uint64_t mem_size;
    unsigned workers;      /* 0: one per online CPU */
    unsigned max_resident; /* --max-resident: VMs in memory at once (0: what the host allows) */
    enum console_mode console;
    const char *console_dir;
    unsigned quantum_ms;
    double time_limit_s; /* 0: none */
    bool stats;
    bool clone;               /* --clone: every VM a clone of VM 0 at its ready call */
    const char *restore_path; /* --restore FILE: every VM a clone of that snapshot */
    const char *snapshot_out; /* `denali snapshot -o FILE`: where VM 0's snapshot goes */
    bool mem_set;             /* -m was given */
    uint64_t mem_limit;       /* --mem-limit: bytes all guest RAM may hold (0: no limit) */
    double hibernate_after_s; /* --hibernate-after: idle this long, a VM goes to swap (0: never) */
    const char *swap_path;    /* --swap FILE */
    bool progress;            /* forced on or off; default: when stderr is a terminal */
    bool progress_set;
    enum net_mode net;
    const char *tap_name;        /* NULL: the default name */
    bool net_immediate;          /* deliver network events at once instead of batched */
    enum platform_kind platform; /* PLATFORM_AUTO unless --platform gave one */
    bool platform_set;
    int control_fd; /* --control-fd: the daemon's channel (0: none) */
    unsigned publish_count;
    struct publish_rule publish[OPTIONS_MAX_PUBLISH];
    unsigned disk_count;
    struct disk_option disks[OPTIONS_MAX_DISKS];
    const char
        *overlay_dir;   /* --overlay-dir: where writable disks' overlays go (NULL: a temp dir) */
    bool keep_overlays; /* --keep-overlays: left behind when VMs and the run end */
    bool ksm;           /* --ksm: the VMs' memory may be merged by the kernel's KSM */
};

#define OPTIONS_DEFAULT_MEM        (4ull << 20)
#define OPTIONS_DEFAULT_QUANTUM_MS 10u
#define OPTIONS_MAX_COUNT          1000000u
#define OPTIONS_MAX_WORKERS        256u

enum options_result { OPTIONS_OK, OPTIONS_HELP, OPTIONS_ERROR };

/* getopt codes of `denali run`'s long options that have no short form. */
enum options_run_code {
    OPT_CONSOLE = 256,
    OPT_STATS,
    OPT_CLONE,
    OPT_RESTORE,
    OPT_MEM_LIMIT,
    OPT_HIBERNATE_AFTER,
    OPT_SWAP,
    OPT_MAX_RESIDENT,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_NET,
    OPT_NET_EVENTS,
    OPT_PLATFORM,
    OPT_CONTROL_FD,
    OPT_DISK,
    OPT_OVERLAY_DIR,
    OPT_KEEP_OVERLAYS,
    OPT_KSM,
    OPT_RUN_CODES_END /* codes from here on are free for callers that add options */
};

/*
 * `denali run`'s options for getopt_long, ending with an all-zero entry: one table for
 * options_parse_run and for `denali run -d` (cli/create_body.c), which passes them on.
 */
extern const struct option options_run_long_options[];
/* '+' stops at IMAGE, so guest arguments that look like options reach the guest. */
#define OPTIONS_RUN_SHORT "+:n:m:j:q:t:p:o:h"

/* Parses the arguments after `run` or `snapshot`; argv[0] is "run" or "snapshot". */
enum options_result options_parse_run(int argc, char **argv, struct run_options *out, char *err,
                                      size_t errlen);
/* Parses sizes such as 4096, 64K, 2M, 1G; returns -1 on garbage or overflow. */
int options_parse_size(const char *text, uint64_t *out);

extern const char options_run_usage[];

#endif
