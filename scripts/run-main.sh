#!/bin/sh
# The main job: installs what is missing, builds, and boots a fleet of 1,000 `hello` VMs in one monitor.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j2 all
COUNT=${DENALI_COUNT:-1000}
echo "== denali run -n $COUNT -m 2M build/guests/hello.elf (showing the first and last lines)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
build/denali run -n "$COUNT" -m 2M --stats build/guests/hello.elf >"$out" 2>&1 || status=$?
head -n 5 "$out"
echo "   ..."
tail -n 5 "$out"
echo "== $(grep -c '^\[vm [0-9]*\] hello from vm' "$out") of $COUNT VMs said hello; monitor exit status $status"
exit "$status"
