#!/usr/bin/env bash
# Runs the whole test suite (unit-test binaries, then integration scripts) and ends with one line:
# `N passed, N failed, N skipped`, counting test cases. Exits non-zero if anything failed.
#
# usage: tests/run-tests.sh [-v] [PROGRAM...]
#   -v        show every program's full output, not only the failing ones'
#   PROGRAM   run only these unit-test binaries or integration scripts
# Build first (`make -j2 all`, or `make unit-tests` for the unit tests alone).
#
# Unit tests are every build/tests/unit/test_* binary, run with CMOCKA_MESSAGE_OUTPUT=TAP.
# Integration tests are every tests/integration/*.sh, run from the repository root with
# DENALI_ROOT and DENALI (the monitor binary) exported; each prints `ok N - name` and
# `not ok N - name` lines (tests/lib/tap.sh helps). One that boots VMs (it sources
# tests/lib/harness.sh) runs once per platform, kvm then process, with DENALI_PLATFORM set; on a
# platform this machine lacks (`denali platforms` says why) it counts as one skipped case; a
# `denali platforms` that cannot run at all (a missing or broken monitor) is a failure.
# `ok N - name # SKIP reason` lines count as skipped, not passed. A program that exits non-zero
# without printing `not ok`, crashes, or times out counts as one more failure; so does a test
# script that is not executable; cases a unit-test binary announced in its `1..N` plan but never
# reported (it died) count as failures too.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BUILD=${BUILD:-build}
UNIT_TIMEOUT=${DENALI_UNIT_TIMEOUT:-120}
INTEGRATION_TIMEOUT=${DENALI_TEST_TIMEOUT:-300}
export DENALI_ROOT=$ROOT
export DENALI=${DENALI:-$ROOT/$BUILD/denali}

verbose=false
if [ "${1:-}" = -v ]; then
    verbose=true
    shift
fi

passed=0
failed=0
skipped=0
failures=()
logdir=$(mktemp -d "${TMPDIR:-/tmp}/denali-run-tests.XXXXXX") || exit 1
trap 'rm -rf "$logdir"' EXIT

# Line-buffered output keeps stdout and stderr lines whole when both go to one log.
linebuf=()
if command -v stdbuf >/dev/null 2>&1; then
    linebuf=(stdbuf -oL -eL)
fi

# run_one KIND TIMEOUT PROGRAM [PLATFORM]: runs PROGRAM, counts its TAP lines, records failures.
run_one()
{
    local kind=$1 limit=$2 program=$3 platform=${4:-}
    local log
    log="$logdir/$(printf '%03d' "$((${#failures[@]} + passed + failed + skipped))")-$(basename "$program")${platform:+-$platform}.log"
    local status=0
    if [ "$kind" = unit ]; then
        CMOCKA_MESSAGE_OUTPUT=TAP timeout "$limit" "${linebuf[@]}" "$program" >"$log" 2>&1 </dev/null ||
            status=$?
    elif [ -n "$platform" ]; then
        DENALI_PLATFORM=$platform timeout "$limit" "${linebuf[@]}" "$program" >"$log" 2>&1 \
            </dev/null || status=$?
    else
        timeout "$limit" "${linebuf[@]}" "$program" >"$log" 2>&1 </dev/null || status=$?
    fi
    local ok not_ok skip planned=0 extra=0 note=""
    skip=$(grep -cE '^ok [0-9]+.*# SKIP' "$log")
    ok=$(($(grep -cE '^ok [0-9]+' "$log") - skip))
    not_ok=$(grep -cE '^not ok [0-9]+' "$log")
    if [ "$kind" = unit ]; then
        planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$log" | head -n 1)
        planned=${planned:-0}
        if [ "$planned" -gt $((ok + skip + not_ok)) ]; then
            extra=$((planned - ok - skip - not_ok))
            note="$extra planned case(s) never reported"
        fi
    fi
    if [ "$status" -eq 124 ]; then
        note="${note:+$note; }timed out after ${limit}s"
    elif [ "$status" -gt 128 ] && [ "$status" -le 192 ]; then
        note="${note:+$note; }killed by signal $((status - 128))"
    elif [ "$status" -ne 0 ]; then
        note="${note:+$note; }exit status $status"
    fi
    if [ "$status" -ne 0 ] && [ "$not_ok" -eq 0 ] && [ "$extra" -eq 0 ]; then
        extra=1
        note="${note:+$note; }failed without reporting a failing case"
    fi
    if [ $((ok + skip + not_ok + extra)) -eq 0 ]; then
        extra=1
        note="${note:+$note; }reported no test cases"
    fi
    passed=$((passed + ok))
    skipped=$((skipped + skip))
    failed=$((failed + not_ok + extra))
    local name=${program#"$ROOT"/}${platform:+ [$platform]}
    if [ $((not_ok + extra)) -eq 0 ]; then
        local skip_note=""
        [ "$skip" -gt 0 ] && skip_note=", $skip skipped"
        printf 'PASS  %-50s %d passed%s\n' "$name" "$ok" "$skip_note"
        if $verbose; then
            sed 's/^/      /' "$log"
        fi
    else
        printf 'FAIL  %-50s %d passed, %d failed%s\n' "$name" "$ok" "$((not_ok + extra))" \
            "${note:+ ($note)}"
        failures+=("$name|$log|$note")
    fi
}

unit=()
integration=()
if [ $# -gt 0 ]; then
    for program in "$@"; do
        case $program in
        *.sh) integration+=("$program") ;;
        *) unit+=("$program") ;;
        esac
    done
else
    for program in "$BUILD"/tests/unit/test_*; do
        [ -f "$program" ] && [ -x "$program" ] && unit+=("$program")
    done
    if [ ${#unit[@]} -eq 0 ]; then
        echo "FAIL  no unit-test binaries in $BUILD/tests/unit (run: make -j2 unit-tests)"
        failed=$((failed + 1))
    fi
    for program in tests/integration/*.sh; do
        [ -f "$program" ] && integration+=("$program")
    done
fi

# The platforms this machine can run VMs on, and why not where it cannot.
declare -A platform_missing=()
platforms_status=0
platforms=$("$DENALI" platforms 2>&1) || platforms_status=$?
# 0: auto found a platform; 1: none here (every VM test is then skipped, with the reasons); any
# other status means the monitor itself is broken or missing, which no skip may hide.
if [ "$platforms_status" -gt 1 ]; then
    printf 'FAIL  %-50s exit status %d: %s\n' "$DENALI platforms" "$platforms_status" \
        "$(head -n 1 <<<"$platforms")"
    failures+=("$DENALI platforms||exit status $platforms_status")
    failed=$((failed + 1))
fi
for platform in kvm process; do
    why=$(sed -n "s/^$platform: unavailable (\(.*\))\$/\1/p" <<<"$platforms")
    if ! grep -q "^$platform: available" <<<"$platforms"; then
        platform_missing[$platform]=${why:-"\`denali platforms\` does not list it"}
    fi
done

[ ${#unit[@]} -gt 0 ] && echo "== unit tests"
for program in "${unit[@]}"; do
    run_one unit "$UNIT_TIMEOUT" "$program"
done
[ ${#integration[@]} -gt 0 ] && echo "== integration tests"
for program in "${integration[@]}"; do
    if [ ! -x "$program" ]; then
        printf 'FAIL  %-50s not executable (chmod +x it)\n' "$program"
        failures+=("$program||not executable")
        failed=$((failed + 1))
        continue
    fi
    if ! grep -q 'lib/harness.sh' "$program"; then
        run_one integration "$INTEGRATION_TIMEOUT" "$program"
        continue
    fi
    for platform in kvm process; do
        if [ -n "${platform_missing[$platform]:-}" ]; then
            printf 'SKIP  %-50s %s\n' "$program [$platform]" "${platform_missing[$platform]}"
            skipped=$((skipped + 1))
        else
            run_one integration "$INTEGRATION_TIMEOUT" "$program" "$platform"
        fi
    done
done

if [ ${#failures[@]} -gt 0 ]; then
    echo
    echo "== failures"
    for entry in "${failures[@]}"; do
        IFS='|' read -r name log note <<<"$entry"
        echo "-- $name${note:+ ($note)}"
        if [ -s "$log" ]; then
            sed 's/^/   /' "$log"
        else
            echo "   (no output)"
        fi
    done
    echo
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
