#!/usr/bin/env bash
# Virtual disks: a host-written pattern read in the guest, writes only in each VM's own overlay, one read-only image shared by many VMs, a malformed ring stopped, a kill mid-write, and --disk's errors.
set -u
. "$(dirname "$0")/../lib/harness.sh"

DISK_RW="$TEST_GUESTS/disk_rw.elf"
BAD_BLK="$TEST_GUESTS/bad_blk.elf"
OVERLAY_CAT="$DENALI_ROOT/build/tests/tools/overlay_cat"

# make_image PATH SECTORS SEED [FROM COUNT SEED2]: the pattern disk_rw checks, sector by sector
# (sectors FROM..FROM+COUNT-1 with SEED2 instead).
make_image() {
    awk -v n="$2" -v seed="$3" -v from="${4:--1}" -v count="${5:-0}" -v seed2="${6:-0}" 'BEGIN {
        for (s = 0; s < n; s++) {
            k = (s >= from && s < from + count) ? seed2 : seed
            line = sprintf("denali disk sector %010d seed %05d\n", s, k)
            buf = ""
            while (length(buf) < 512) buf = buf line
            printf "%s", substr(buf, 1, 512)
        }
    }' >"$1"
}

BASE="$WORK/base.img"
SECTORS=2100
make_image "$BASE" $SECTORS 7
BASE_SUM=$(sha256sum <"$BASE")
base_unchanged() {
    [ "$(sha256sum <"$BASE")" = "$BASE_SUM" ] && ok "$1: the base image is unchanged" ||
        fail "$1: the base image is unchanged" "sha256 changed"
}

# --- the host's pattern, read in every size the driver splits
boot -n 2 --net none --disk "$BASE,ro" "$DISK_RW" verify 7
expect "two VMs read the pattern the host wrote, in reads of 1 to 2,000 sectors" 0 \
    "^\[vm 0\] disk_rw: vm 0 verified $SECTORS sectors" "^\[vm 1\] disk_rw: vm 1 verified $SECTORS sectors" \
    '2 VMs: 2 exited 0'

# --- writes land in each VM's overlay only
OV="$WORK/overlays"
boot -n 2 --net none --stats --disk "$BASE" --overlay-dir "$OV" --keep-overlays "$DISK_RW" write 7 9 100 300
expect "two writers each read back their own writes after a flush" 0 \
    '\[vm 0\] disk_rw: vm 0 wrote 300 sectors at 100, flushed, read back intact' \
    '\[vm 1\] disk_rw: vm 1 wrote 300 sectors at 100, flushed, read back intact' \
    'denali-disk: disks=1 .* written_bytes=307200 .*overlays=2 '
base_unchanged "two writers"
make_image "$WORK/expected.img" $SECTORS 7 100 300 9
for vm in 0 1; do
    if "$OVERLAY_CAT" "$BASE" "$OV/vm-$vm-disk-0.overlay" >"$WORK/merged-$vm.img" &&
        cmp -s "$WORK/merged-$vm.img" "$WORK/expected.img"; then
        ok "vm $vm's kept overlay over the base is the disk it wrote (read as docs/DISK_FORMAT.md says)"
    else
        fail "vm $vm's kept overlay over the base is the disk it wrote" "$(cmp "$WORK/merged-$vm.img" "$WORK/expected.img" 2>&1)"
    fi
done
blocks=$(stat -c %b "$OV/vm-0-disk-0.overlay")
[ "$blocks" -le $(((4096 + 4096 + 300 * 512 + 2 * 4096) / 512)) ] &&
    ok "an overlay holds only the blocks written (sparse: $((blocks / 2)) KiB)" ||
    fail "an overlay holds only the blocks written" "$blocks blocks of 512 bytes"

# --- a later VM on the same base still sees the original
boot -n 1 --net none --disk "$BASE" "$DISK_RW" verify 7
expect "a new VM on the written base still reads the original pattern" 0 "verified $SECTORS sectors"

# --- the default overlay directory is made under TMPDIR and removed at the end
mkdir -p "$WORK/tmp"
STATUS=0
TMPDIR="$WORK/tmp" timeout 240 "$DENALI" run --net none --disk "$BASE" "$DISK_RW" write 7 9 0 8 \
    >"$WORK/out" 2>&1 </dev/null || STATUS=$?
expect "a writer with the default overlay directory" 0 'read back intact'
[ -z "$(ls -A "$WORK/tmp")" ] && ok "the default overlay directory is gone at the end" ||
    fail "the default overlay directory is gone at the end" "left: $(ls -A "$WORK/tmp")"

# --- read-only: a write is refused, the VM goes on; out-of-range reads are refused
boot -n 1 --net none --disk "$BASE,ro" "$DISK_RW" ro 7
expect "a write to a read-only disk is refused with EROFS" 0 'write to read-only disk: -30 \(EROFS\)'
boot -n 1 --net none --disk "$BASE" --disk "$BASE,ro" "$DISK_RW" range 7
expect "reads past the end or of a missing disk are refused with EINVAL" 0 \
    'disk_rw: 2 disks' 'past the end -22, across it -22, no such disk -22'

# --- one read-only image shared by 100 VMs
SMALL="$WORK/small.img"
make_image "$SMALL" 300 3
boot -n 100 --net none --console null --stats --disk "$SMALL,ro" "$DISK_RW" verify 3
expect "100 VMs read one read-only image" 0 '100 VMs: 100 exited 0'
# Only the earlier writers' directory holds overlays.
overlays=$(find "$WORK" -name '*.overlay' -not -path "$OV/*" | wc -l)
[ "$overlays" = 0 ] && ok "reading made no overlays" ||
    fail "reading made no overlays" "$(find "$WORK" -name '*.overlay')"

# --- clones of a VM that attached its disk before its ready call
boot -n 3 --net none --clone --disk "$BASE,ro" "$DISK_RW" verify 7
expect "clones read the disk through the area in their snapshot" 0 \
    "\[vm 2\] disk_rw: vm 2 verified $SECTORS sectors" '3 VMs: 3 exited 0'

boot -n 3 --clone --disk "$BASE,ro" "$DISK_RW" netverify 7
expect "clones of a VM with a NIC and a disk find each their own window" 0 \
    "\[vm 2\] disk_rw: vm 2 verified $SECTORS sectors" '3 VMs: 3 exited 0'

# --- writable clones: over what VM 0 wrote before its ready call, each writing its own overlay
CLONED="$WORK/cloned"
boot -n 3 --net none --clone --disk "$BASE" --overlay-dir "$CLONED" --keep-overlays "$DISK_RW" \
    clonewrite 7 20
expect "writable clones see what VM 0 wrote before its ready call, and each its own writes" 0 \
    '\[vm 0\] disk_rw: vm 0 sees its template' '\[vm 1\] disk_rw: vm 1 sees its template' \
    '\[vm 2\] disk_rw: vm 2 sees its template' '3 VMs: 3 exited 0'
base_unchanged "writable clones"
make_image "$WORK/template.img" $SECTORS 7 0 8 20
if "$OVERLAY_CAT" "$BASE" "$CLONED/template-disk-0.overlay" >"$WORK/t.img" &&
    cmp -s "$WORK/t.img" "$WORK/template.img"; then
    ok "the template's kept layer over the base holds its write before the ready call"
else
    fail "the template's kept layer over the base holds its write before the ready call"
fi
good=0
for vm in 0 1 2; do
    make_image "$WORK/clone.img" $SECTORS 7 8 8 $((21 + vm))
    # The clone's overlay lies over the template's layer: its own blocks, then the layer's.
    "$OVERLAY_CAT" "$WORK/t.img" "$CLONED/vm-$vm-disk-0.overlay" >"$WORK/c.img" &&
        head -c 4096 "$WORK/template.img" | cmp -s - <(head -c 4096 "$WORK/c.img") &&
        tail -c +4097 "$WORK/clone.img" | cmp -s - <(tail -c +4097 "$WORK/c.img") && good=$((good + 1))
done
[ $good = 3 ] && ok "each clone's kept overlay, over the template's layer, holds its own write" ||
    fail "each clone's kept overlay, over the template's layer, holds its own write" "$good of 3"

# --- hibernated in the middle: the area stays with the VM's memory, the disk works after
boot -n 2 --net none --stats --hibernate-after 0.3 --swap "$WORK/swap" --disk "$SMALL,ro" \
    "$DISK_RW" sleepverify 3
expect "VMs hibernated between two reads of their disk read it intact after waking" 0 \
    'vm 1 verified 300 sectors before and after sleeping' '2 VMs: 2 exited 0'
[ "$(stat_of hibernations)" -ge 1 ] 2>/dev/null && ok "the sleeping disk VMs were hibernated" ||
    fail "the sleeping disk VMs were hibernated" "hibernations=$(stat_of hibernations)"

boot -n 3 --net none --clone --stats --hibernate-after 0.3 --swap "$WORK/swap-clones" \
    --disk "$SMALL,ro" "$DISK_RW" sleepverify 3
expect "clones hibernated between two reads of their disk read it intact after waking" 0 \
    'vm 2 verified 300 sectors before and after sleeping' '3 VMs: 3 exited 0'

# --- paged: the areas' data pages go out and come back; only their header pages stay
boot -n 8 -m 8M --net none --stats --mem-limit 1M --swap "$WORK/swap-paged" --disk "$SMALL,ro" \
    "$DISK_RW" sleepverify 3
expect "8 disk VMs under a 1 MiB --mem-limit page their areas and read their disk intact" 0 \
    '8 VMs: 8 exited 0'
[ "$(stat_of pages_out)" -ge 1 ] 2>/dev/null && ok "the disk VMs were paged" ||
    fail "the disk VMs were paged" "pages_out=$(stat_of pages_out)"

# --- a malformed ring: errors for bad requests, a stop for bad counters; others unharmed
boot -n 3 --net none --disk "$SMALL,ro" "$BAD_BLK" requests
expect "bad requests come back with EINVAL or EROFS, the good one is served" 0 \
    'bad_blk: 8 responses, all as expected' 'healthy vm 2 done'
for mode in produced consumed area; do
    case $mode in
    produced) reason='blk: request ring holds more requests than it has slots' ;;
    consumed) reason='blk: response ring consumed past what was produced' ;;
    area) reason='blk attach: bad area 0x[0-9a-f]+\+135168 at rip 0x[0-9a-f]+' ;;
    esac
    boot -n 3 --net none --disk "$SMALL,ro" "$BAD_BLK" $mode
    expect "bad_blk $mode: that VM alone is stopped" 1 "^denali: vm 0 stopped: $reason" \
        'healthy vm 1 done' 'healthy vm 2 done' '3 VMs: 2 exited 0, 0 exited non-zero, 1 stopped'
done

# --- killed mid-write: the base and every overlay intact, each with what it flushed
KILLED="$WORK/killed"
"$DENALI" run -n 2 --net none --disk "$BASE" --overlay-dir "$KILLED" --keep-overlays \
    "$DISK_RW" writeloop 7 11 >"$WORK/out" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 200); do
    [ "$(count_lines 'flushed its first write')" -ge 2 ] && break
    sleep 0.1
done
sleep 0.5
kill -KILL "$pid"
wait "$pid" 2>/dev/null
[ "$(count_lines 'flushed its first write')" = 2 ] && ok "SIGKILL: both writers flushed, then the monitor died" ||
    fail "SIGKILL: both writers flushed, then the monitor died"
base_unchanged "SIGKILL mid-write"
make_image "$WORK/flushed.img" 8 11
for vm in 0 1; do
    if "$OVERLAY_CAT" "$BASE" "$KILLED/vm-$vm-disk-0.overlay" >"$WORK/killed-$vm.img" &&
        head -c 4096 "$WORK/killed-$vm.img" | cmp -s - "$WORK/flushed.img"; then
        ok "SIGKILL: vm $vm's overlay is readable and holds its flushed write"
    else
        fail "SIGKILL: vm $vm's overlay is readable and holds its flushed write"
    fi
done

boot -n 1 --net none --time-limit 1 --disk "$BASE" --overlay-dir "$WORK/limited" --keep-overlays \
    "$DISK_RW" writeloop 7 12
expect "--time-limit stops a writer mid-write" 1 'flushed its first write' 'vm 0 stopped: time limit'
make_image "$WORK/flushed.img" 8 12
"$OVERLAY_CAT" "$BASE" "$WORK/limited/vm-0-disk-0.overlay" >"$WORK/limited.img" &&
    head -c 4096 "$WORK/limited.img" | cmp -s - "$WORK/flushed.img" &&
    ok "--time-limit: the stopped writer's overlay holds its flushed write" ||
    fail "--time-limit: the stopped writer's overlay holds its flushed write"
base_unchanged "--time-limit mid-write"

# --- --disk's errors: one line saying what is wrong (and a pointer to --help), exit status 2
check_cli() {
    local name=$1 pattern=$2
    shift 2
    boot "$@"
    if [ "$STATUS" = 2 ] && [ "$(wc -l <"$WORK/out")" -le 2 ] && head -n 1 "$WORK/out" | grep -Eq -- "$pattern"; then
        ok "$name"
    else
        fail "$name" "status $STATUS, expected 2 and a first line matching $pattern"
    fi
}
check_cli "--disk with a missing file" '^denali: --disk .*/missing.img: No such file or directory$' \
    --net none --disk "$WORK/missing.img" "$DISK_RW"
check_cli "--disk with an unknown flag" "unknown flag 'rx'" --net none --disk "$BASE,rx" "$DISK_RW"
check_cli "--disk with no path" 'no PATH' --net none --disk ",ro" "$DISK_RW"
check_cli "--disk of a directory" 'not a regular file' --net none --disk "$WORK" "$DISK_RW"
check_cli "a writable --disk with --restore" 'cannot be used with --restore' --net none \
    --restore "$WORK/no.snap" --disk "$BASE"
check_cli "nine --disk" 'at most 8 disks' --net none --disk "$BASE" --disk "$BASE" --disk "$BASE" \
    --disk "$BASE" --disk "$BASE" --disk "$BASE" --disk "$BASE" --disk "$BASE" --disk "$BASE" "$DISK_RW"

finish
