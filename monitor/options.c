/* Command-line parsing for `denali run`: pure, so every error case is unit-testable. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "denali/abi.h"
#include "platform/platform.h"

const char options_run_usage[] =
    "usage: denali run [OPTIONS] IMAGE [GUEST-ARGS...]\n"
    "       denali run [OPTIONS] --restore FILE\n"
    "       denali snapshot -o FILE [OPTIONS] IMAGE [GUEST-ARGS...]\n"
    "Boots IMAGE (a static ELF linked with ilwaco) and runs it until every VM has ended.\n"
    "`denali snapshot` boots one VM of IMAGE to its ready call (ilwaco_ready), writes it\n"
    "to FILE (-o, --output) and ends it; `--restore FILE` starts VMs from such a file.\n"
    "\n"
    "  -n, --count N          run N instances, each its own VM with id 0..N-1 (default 1)\n"
    "  -m, --mem SIZE         guest memory per VM, K/M/G suffixes, a multiple of 2M\n"
    "                         from 2M to 4G (default 4M)\n"
    "  -j, --workers K        worker threads running the VMs (default: online CPUs);\n"
    "                         at most K VMs run at once, on either platform\n"
    "      --platform P       where VMs run: kvm (a KVM VM each; needs /dev/kvm),\n"
    "                         process (a seccomp-locked host process each; needs no\n"
    "                         root and no /dev/kvm), or auto (default: kvm when\n"
    "                         /dev/kvm can be opened and used, else process); the\n"
    "                         environment variable DENALI_PLATFORM sets the default\n"
    "      --console MODE     guest console: stdout (lines prefixed [vm N]), null, or\n"
    "                         dir:PATH (one file PATH/vm-N.log per VM) (default stdout)\n"
    "  -q, --quantum MS       time slice before a busy VM is preempted (default 10)\n"
    "  -t, --time-limit SECS  stop VMs still running after SECS seconds\n"
    "      --stats            print a machine-readable denali-stats line at the end\n"
    "      --clone            boot VM 0 to its ready call (ilwaco_ready), snapshot it, and start\n"
    "                         every VM as a copy-on-write clone of that snapshot\n"
    "      --mem-limit SIZE   host memory all guest RAM together may hold: above it the\n"
    "                         monitor asks every VM for its free pages back (ballooning)\n"
    "      --hibernate-after SECS  a VM idle this long goes whole to the swap file (its\n"
    "                         process released) and comes back on its next event\n"
    "      --swap FILE        where hibernated VMs' memory goes (created, private); with\n"
    "                         --mem-limit, the coldest pages of the least recently run VMs\n"
    "                         go there too (paging), and come back when touched; a page\n"
    "                         that would pass the limit waits until paging makes room\n"
    "      --ksm              let the kernel merge identical pages of the VMs (KSM; needs\n"
    "                         /sys/kernel/mm/ksm/run = 1 and Linux 6.4). Off by default:\n"
    "                         a guest can time its writes to learn what other VMs hold\n"
    "      --max-resident N   at most N VMs in memory at once (a hibernated VM is not);\n"
    "                         more wait to be created until others hibernate or end\n"
    "                         (default: as many as the host's pids allow, leaving an\n"
    "                         eighth of kernel.pid_max to everything else)\n"
    "      --restore FILE     start every VM as a clone of the snapshot FILE (written by\n"
    "                         `denali snapshot`); the image and its arguments come from it\n"
    "      --progress, --no-progress\n"
    "                         show boot progress (default: when stderr is a terminal)\n"
    "      --net MODE         the LAN's way to the host: user (libslirp, the default),\n"
    "                         tap[:NAME] (a host TAP device, default name denali0, with\n"
    "                         the gateway address; needs root), or none (no NIC at all)\n"
    "  -p, --publish HOSTPORT[-HOSTPORT_END]:GUESTPORT\n"
    "                         with --net user: forward 127.0.0.1:HOSTPORT to GUESTPORT\n"
    "                         of VM 0; a range maps consecutive host ports to VMs 0, 1,\n"
    "                         2, ... (repeatable, up to 16 times)\n"
    "      --net-events MODE  batch (default): a VM takes all frames queued for it when\n"
    "                         it next runs; immediate: each frame wakes its receiver at\n"
    "                         once, preempting the sender (for comparison)\n"
    "\n"
    "The LAN is 10.77.0.0/16: the gateway is 10.77.0.1, VM i is 10.77.0.16 + i\n"
    "counting on into the third octet and beyond, with MAC 02:de:00 followed by i in\n"
    "24 bits; past 65,519 VMs the subnet widens (10.76.0.0/14, then /11), the\n"
    "addresses stay.\n"
    "      --disk PATH[,ro]   give every VM the disk image PATH (repeatable, up to 8;\n"
    "                         the guest sees them in this order): with ,ro all VMs read\n"
    "                         the one file; without, each VM writes its own copy-on-write\n"
    "                         overlay and the file itself is never written\n"
    "      --overlay-dir DIR  where the overlays go (default: a new directory under\n"
    "                         $TMPDIR or /var/tmp); each is removed when its VM ends\n"
    "      --keep-overlays    keep them (docs/DISK_FORMAT.md says how to read one)\n"
    "      --control-fd FD    the daemon's control channel (docs/API.md): per-VM stop,\n"
    "                         kill, pause, resume and stats in, per-VM events out\n"
    "  -h, --help             show this help\n"
    "\n"
    "Signals: SIGINT or SIGTERM stops every VM; SIGUSR2 asks every VM for its free memory\n"
    "back (ballooning), once.\n"
    "\n"
    "Exit status: 0 if every VM exited 0, 1 if any VM exited non-zero or was stopped,\n"
    "2 for bad usage or an image that cannot run.\n";

static enum options_result fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return OPTIONS_ERROR;
}

int options_parse_size(const char *text, uint64_t *out)
{
    /* strtoull would skip blanks and accept a sign; a size is digits and a suffix only. */
    if (!text || !isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        return -1;
    }
    /* Accept 2M, 2MB and 2MiB alike; nothing else may follow the suffix. */
    const char *rest = *end ? end + 1 : end;
    if (*rest && strcmp(rest, "B") != 0 && strcmp(rest, "iB") != 0)
        return -1;
    if (shift && value > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)value << shift;
    return 0;
}

static int parse_unsigned(const char *text, unsigned min, unsigned max, unsigned *out)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    *out = (unsigned)value;
    return 0;
}

const struct option options_run_long_options[] = {
    {"count", required_argument, NULL, 'n'},
    {"mem", required_argument, NULL, 'm'},
    {"workers", required_argument, NULL, 'j'},
    {"console", required_argument, NULL, OPT_CONSOLE},
    {"quantum", required_argument, NULL, 'q'},
    {"time-limit", required_argument, NULL, 't'},
    {"stats", no_argument, NULL, OPT_STATS},
    {"clone", no_argument, NULL, OPT_CLONE},
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"mem-limit", required_argument, NULL, OPT_MEM_LIMIT},
    {"hibernate-after", required_argument, NULL, OPT_HIBERNATE_AFTER},
    {"swap", required_argument, NULL, OPT_SWAP},
    {"max-resident", required_argument, NULL, OPT_MAX_RESIDENT},
    {"output", required_argument, NULL, 'o'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"net", required_argument, NULL, OPT_NET},
    {"publish", required_argument, NULL, 'p'},
    {"net-events", required_argument, NULL, OPT_NET_EVENTS},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"control-fd", required_argument, NULL, OPT_CONTROL_FD},
    {"disk", required_argument, NULL, OPT_DISK},
    {"overlay-dir", required_argument, NULL, OPT_OVERLAY_DIR},
    {"keep-overlays", no_argument, NULL, OPT_KEEP_OVERLAYS},
    {"ksm", no_argument, NULL, OPT_KSM},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static enum options_result parse_console(const char *text, struct run_options *out, char *err,
                                         size_t errlen)
{
    if (strcmp(text, "stdout") == 0) {
        out->console = CONSOLE_STDOUT;
    } else if (strcmp(text, "null") == 0) {
        out->console = CONSOLE_NULL;
    } else if (strncmp(text, "dir:", 4) == 0 && text[4]) {
        out->console = CONSOLE_DIR;
        out->console_dir = text + 4;
    } else {
        return fail(err, errlen, "--console: expected stdout, null or dir:PATH, got '%s'", text);
    }
    return OPTIONS_OK;
}

static enum options_result parse_net(const char *text, struct run_options *out, char *err,
                                     size_t errlen)
{
    out->tap_name = NULL;
    if (strcmp(text, "user") == 0) {
        out->net = NET_USER;
    } else if (strcmp(text, "none") == 0) {
        out->net = NET_NONE;
    } else if (strcmp(text, "tap") == 0) {
        out->net = NET_TAP;
    } else if (strncmp(text, "tap:", 4) == 0) {
        /* IFNAMSIZ is 16 with the NUL. */
        size_t len = strlen(text + 4);
        if (len == 0 || len > 15 || strpbrk(text + 4, "/: \t"))
            return fail(err, errlen,
                        "--net tap:NAME: '%s' is not a valid interface name (1-15 "
                        "characters, no '/', ':' or spaces)",
                        text + 4);
        out->net = NET_TAP;
        out->tap_name = text + 4;
    } else {
        return fail(err, errlen, "--net: expected user, tap, tap:NAME or none, got '%s'", text);
    }
    return OPTIONS_OK;
}

/* PATH or PATH,ro (PATH,rw says the default): a comma's last part must be a flag. */
static enum options_result parse_disk(const char *text, struct run_options *out, char *err,
                                      size_t errlen)
{
    if (out->disk_count == OPTIONS_MAX_DISKS)
        return fail(err, errlen, "--disk: at most %u disks", OPTIONS_MAX_DISKS);
    size_t len = strlen(text);
    bool read_only = false;
    const char *comma = strrchr(text, ',');
    if (comma) {
        if (strcmp(comma + 1, "ro") == 0)
            read_only = true;
        else if (strcmp(comma + 1, "rw") != 0)
            return fail(err, errlen, "--disk: unknown flag '%s' in '%s' (expected PATH or PATH,ro)",
                        comma + 1, text);
        len = (size_t)(comma - text);
    }
    if (len == 0)
        return fail(err, errlen, "--disk: no PATH in '%s' (expected PATH or PATH,ro)", text);
    char *path = strndup(text, len);
    if (!path)
        return fail(err, errlen, "--disk: out of memory");
    out->disks[out->disk_count++] = (struct disk_option){.path = path, .read_only = read_only};
    return OPTIONS_OK;
}

/*
 * A writable disk's clones lie over what their template wrote before its
 * snapshot; a snapshot file does not carry that, so a restore could not.
 */
static enum options_result check_disks(const struct run_options *out, bool snapshot, char *err,
                                       size_t errlen)
{
    for (unsigned i = 0; i < out->disk_count; i++) {
        if (!out->disks[i].read_only && (out->restore_path || snapshot))
            return fail(err, errlen,
                        "--disk %s: a writable disk cannot be used with --restore or `denali "
                        "snapshot` (the file would not hold what VM 0 wrote); add ,ro",
                        out->disks[i].path);
    }
    return OPTIONS_OK;
}

static enum options_result check_net(const struct run_options *out, char *err, size_t errlen)
{
    if (out->publish_count && out->net != NET_USER)
        return fail(err, errlen,
                    "--publish needs --net user (with tap, VMs are reachable by "
                    "their own addresses)");
    if (publish_check(out->publish, out->publish_count, out->count, err, errlen) < 0)
        return OPTIONS_ERROR;
    return OPTIONS_OK;
}

enum options_result options_parse_run(int argc, char **argv, struct run_options *out, char *err,
                                      size_t errlen)
{
    *out = (struct run_options){
        .count = 1,
        .mem_size = OPTIONS_DEFAULT_MEM,
        .console = CONSOLE_STDOUT,
        .quantum_ms = OPTIONS_DEFAULT_QUANTUM_MS,
    };
    /* getopt keeps global state; resetting it lets the parser run more than once (tests). */
    optind = 0;
    opterr = 0;
    int c;
    /* '+' stops at IMAGE so guest arguments that look like options reach the guest. */
    while ((c = getopt_long(argc, argv, OPTIONS_RUN_SHORT, options_run_long_options, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_unsigned(optarg, 1, OPTIONS_MAX_COUNT, &out->count) < 0)
                return fail(err, errlen, "--count: expected a number from 1 to %u, got '%s'",
                            OPTIONS_MAX_COUNT, optarg);
            break;
        case 'm':
            if (options_parse_size(optarg, &out->mem_size) < 0)
                return fail(err, errlen, "--mem: cannot parse size '%s' (try 2M, 64M, 1G)", optarg);
            if (out->mem_size < DENALI_MEM_MIN || out->mem_size > DENALI_MEM_MAX ||
                out->mem_size % DENALI_MEM_ALIGN)
                return fail(err, errlen, "--mem: '%s' is not a multiple of 2M from 2M to 4G",
                            optarg);
            out->mem_set = true;
            break;
        case 'j':
            if (parse_unsigned(optarg, 1, OPTIONS_MAX_WORKERS, &out->workers) < 0)
                return fail(err, errlen, "--workers: expected a number from 1 to %u, got '%s'",
                            OPTIONS_MAX_WORKERS, optarg);
            break;
        case 'q':
            if (parse_unsigned(optarg, 1, 10000, &out->quantum_ms) < 0)
                return fail(err, errlen,
                            "--quantum: expected milliseconds from 1 to 10000, got '%s'", optarg);
            break;
        case 't': {
            char *end;
            errno = 0;
            double secs = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(secs) || secs <= 0 || secs > 1e6)
                return fail(err, errlen, "--time-limit: expected seconds > 0, got '%s'", optarg);
            out->time_limit_s = secs;
            break;
        }
        case OPT_CONSOLE:
            if (parse_console(optarg, out, err, errlen) != OPTIONS_OK)
                return OPTIONS_ERROR;
            break;
        case OPT_STATS:
            out->stats = true;
            break;
        case OPT_CLONE:
            out->clone = true;
            break;
        case OPT_RESTORE:
            out->restore_path = optarg;
            break;
        case OPT_HIBERNATE_AFTER: {
            char *end;
            errno = 0;
            double secs = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(secs) || secs < 0.01 || secs > 1e6)
                return fail(err, errlen, "--hibernate-after: expected seconds >= 0.01, got '%s'",
                            optarg);
            out->hibernate_after_s = secs;
            break;
        }
        case OPT_SWAP:
            out->swap_path = optarg;
            break;
        case OPT_MAX_RESIDENT:
            if (parse_unsigned(optarg, 1, OPTIONS_MAX_COUNT, &out->max_resident) < 0)
                return fail(err, errlen, "--max-resident: expected a number from 1 to %u, got '%s'",
                            OPTIONS_MAX_COUNT, optarg);
            break;
        case OPT_MEM_LIMIT:
            if (options_parse_size(optarg, &out->mem_limit) < 0 || out->mem_limit < (1u << 20))
                return fail(err, errlen, "--mem-limit: expected a size of at least 1M, got '%s'",
                            optarg);
            break;
        case 'o':
            out->snapshot_out = optarg;
            break;
        case OPT_CONTROL_FD: {
            unsigned fd;
            if (parse_unsigned(optarg, 3, 65535, &fd) < 0)
                return fail(err, errlen,
                            "--control-fd: expected a descriptor from 3 to 65535, "
                            "got '%s'",
                            optarg);
            out->control_fd = (int)fd;
            break;
        }
        case OPT_PROGRESS:
        case OPT_NO_PROGRESS:
            out->progress = c == OPT_PROGRESS;
            out->progress_set = true;
            break;
        case OPT_NET:
            if (parse_net(optarg, out, err, errlen) != OPTIONS_OK)
                return OPTIONS_ERROR;
            break;
        case 'p':
            if (out->publish_count == OPTIONS_MAX_PUBLISH)
                return fail(err, errlen, "--publish: at most %u rules", OPTIONS_MAX_PUBLISH);
            if (publish_parse(optarg, &out->publish[out->publish_count], err, errlen) < 0)
                return OPTIONS_ERROR;
            out->publish_count++;
            break;
        case OPT_NET_EVENTS:
            if (strcmp(optarg, "batch") == 0)
                out->net_immediate = false;
            else if (strcmp(optarg, "immediate") == 0)
                out->net_immediate = true;
            else
                return fail(err, errlen, "--net-events: expected batch or immediate, got '%s'",
                            optarg);
            break;
        case OPT_DISK:
            if (parse_disk(optarg, out, err, errlen) != OPTIONS_OK)
                return OPTIONS_ERROR;
            break;
        case OPT_OVERLAY_DIR:
            if (!optarg[0])
                return fail(err, errlen, "--overlay-dir: expected a directory, got ''");
            out->overlay_dir = optarg;
            break;
        case OPT_KEEP_OVERLAYS:
            out->keep_overlays = true;
            break;
        case OPT_KSM:
            out->ksm = true;
            break;
        case OPT_PLATFORM:
            if (platform_parse(optarg, &out->platform) < 0)
                return fail(err, errlen, "--platform: expected kvm, process or auto, got '%s'",
                            optarg);
            out->platform_set = true;
            break;
        case 'h':
            return OPTIONS_HELP;
        case ':':
            return fail(err, errlen, "option '%s' needs a value", argv[optind - 1]);
        default:
            return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (check_net(out, err, errlen) != OPTIONS_OK)
        return OPTIONS_ERROR;
    bool snapshot = strcmp(argv[0], "snapshot") == 0;
    if (check_disks(out, snapshot, err, errlen) != OPTIONS_OK)
        return OPTIONS_ERROR;
    if (snapshot) {
        if (!out->snapshot_out)
            return fail(err, errlen, "snapshot: -o FILE is required (where to write it)");
        if (out->count != 1 || out->clone || out->restore_path)
            return fail(err, errlen,
                        "snapshot: one VM is snapshotted; no -n, --clone or --restore");
    } else if (out->snapshot_out) {
        return fail(err, errlen, "-o/--output is for `denali snapshot`");
    }
    if (out->hibernate_after_s > 0 && !out->swap_path)
        return fail(err, errlen, "--hibernate-after needs --swap FILE (where memory goes)");
    if (out->restore_path) {
        if (out->clone)
            return fail(err, errlen, "--restore and --clone: a restore already starts clones");
        if (optind < argc)
            return fail(err, errlen,
                        "--restore: the image and its arguments come from the snapshot, got '%s'",
                        argv[optind]);
        out->guest_argc = 0;
        out->guest_argv = argv + argc;
        return OPTIONS_OK;
    }
    if (optind >= argc)
        return fail(err, errlen, "no IMAGE given");
    out->image_path = argv[optind];
    out->guest_argc = argc - optind - 1;
    out->guest_argv = argv + optind + 1;
    return OPTIONS_OK;
}
