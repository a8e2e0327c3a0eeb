#!/usr/bin/env bash
# Snapshot files: `denali snapshot` writes one at the ready call, `--restore` starts clones of it, and a bad file is refused before any VM starts.
set -u
. "$(dirname "$0")/../lib/harness.sh"

READY="$GUESTS/ready.elf"
HTTPD="$GUESTS/httpd.elf"
SNAP="$WORK/ready.snap"
BASE=$((27300 + ($$ % 80) * 8))

# snap_run ARGS...: `denali ARGS...` (not `run`), output in $WORK/out, status in $STATUS.
snap_run() {
    STATUS=0
    timeout 120 "$DENALI" "$@" >"$WORK/out" 2>&1 </dev/null || STATUS=$?
}

# --- write, then restore
snap_run snapshot -o "$SNAP" -m 2M "$READY" first-arg
expect "denali snapshot writes the file at the ready call" 0 'template booted' \
    "snapshot of .*ready.elf written to $SNAP"
[ -f "$SNAP" ] && [ "$(stat -c %a "$SNAP")" = 600 ] && ok "the snapshot file is private (mode 600)" ||
    fail "the snapshot file is private (mode 600)" "$(ls -l "$SNAP" 2>&1)"
boot -n 20 --restore "$SNAP"
expect "--restore starts 20 clones that all exit 0" 0 '20 VMs: 20 exited 0' 'vm 19 of 20 clone=1'
n=$(count_lines 'template booted')
[ "$n" = 0 ] && ok "restored clones do not boot again" || fail "restored clones do not boot again" "$n"
n=$(sed -n 's/.* random=\([0-9a-f]*\)$/\1/p' "$WORK/out" | sort -u | wc -l)
[ "$n" = 20 ] && ok "restored clones do not share random numbers" ||
    fail "restored clones do not share random numbers" "$n distinct of 20"
boot -n 1 --restore "$SNAP"
expect "a second restore of the same file works too" 0 'vm 0 of 1 clone=1'

# --- bad input: refused with one line, exit 2, no VM started
cp "$SNAP" "$WORK/trunc.snap"
truncate -s $(($(stat -c %s "$SNAP") - 100)) "$WORK/trunc.snap"
boot --restore "$WORK/trunc.snap"
expect "a truncated snapshot is refused before any VM starts" 2 'trunc.snap: .*truncated'
[ "$(count_lines '^\[vm ')" = 0 ] && ok "no VM ran from the truncated file" || fail "no VM ran from the truncated file"
cp "$SNAP" "$WORK/flip.snap"
printf '\x55' | dd of="$WORK/flip.snap" bs=1 seek=$(($(stat -c %s "$SNAP") - 2000)) conv=notrunc status=none
boot --restore "$WORK/flip.snap"
expect "a corrupted snapshot is refused" 2 'flip.snap: .*checksum'
boot --restore "$READY"
expect "a foreign file (an ELF) is refused" 2 'not a Denali snapshot'
cp "$SNAP" "$WORK/version.snap"
printf '\x07' | dd of="$WORK/version.snap" bs=1 seek=8 conv=notrunc status=none
boot --restore "$WORK/version.snap"
expect "a snapshot of another format version is refused" 2 'format version 7'
boot --restore "$WORK/missing.snap"
expect "a missing snapshot file is refused" 2 'missing.snap: '
boot -m 4M --restore "$SNAP"
expect "--mem that differs from the snapshot's is refused" 2 "the snapshot's VMs have 2048 KiB"
boot --restore "$SNAP" "$READY"
expect "--restore with an IMAGE is a usage error" 2 'come from the snapshot'
boot --clone --restore "$SNAP"
expect "--restore with --clone is a usage error" 2 'a restore already starts clones'
snap_run snapshot "$READY"
expect "snapshot without -o is a usage error" 2 '-o FILE is required'
snap_run snapshot -o "$WORK/x.snap" -n 2 "$READY"
expect "snapshot of more than one VM is a usage error" 2 'one VM is snapshotted'
snap_run snapshot -o "$WORK/never.snap" "$GUESTS/hello.elf"
expect "a guest that never gets ready: no file, exit 1" 1 'no snapshot written to .*never.snap'
[ ! -e "$WORK/never.snap" ] && ok "no file is left behind" || fail "no file is left behind"

# --- a changed image is refused
cp "$READY" "$WORK/ready-copy.elf"
snap_run snapshot -o "$WORK/copy.snap" "$WORK/ready-copy.elf"
printf 'x' >>"$WORK/ready-copy.elf"
boot --restore "$WORK/copy.snap"
expect "a snapshot whose image has changed is refused" 2 'ready-copy.elf has changed since the snapshot'

# --- httpd from a file: each restored clone serves its own name on its published port
snap_run snapshot -o "$WORK/httpd.snap" --net user "$HTTPD"
expect "httpd snapshotted once it listens" 0 'written to'
timeout -k 10 -s INT 120 "$DENALI" run --no-progress -n 3 --restore "$WORK/httpd.snap" \
    -p "$BASE-$((BASE + 2)):80" >"$WORK/fleet" 2>&1 </dev/null &
FLEET_PID=$!
up=0
for _ in $(seq 1 60); do
    curl -s -m 1 -o /dev/null "http://127.0.0.1:$((BASE + 2))/" && { up=1; break; }
    kill -0 "$FLEET_PID" 2>/dev/null || break
    sleep 0.5
done
if [ $up = 1 ]; then
    for i in 0 1 2; do
        got=$(curl -s -m 5 "http://127.0.0.1:$((BASE + i))/")
        grep -q "Denali VM $i of 3" <<<"$got" && ok "restored httpd clone $i names VM $i" ||
            { not_ok "restored httpd clone $i names VM $i"; diag "got: $(head -c 200 <<<"$got")"; }
    done
else
    not_ok "restored httpd clones answer on their published ports"
    tail -n 15 "$WORK/fleet" | sed 's/^/#   /'
fi
kill -INT "$FLEET_PID" 2>/dev/null
wait "$FLEET_PID" 2>/dev/null

finish
