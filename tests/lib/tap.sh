# Plan-less TAP helpers for integration tests: source this, call check_* per case, end with finish.
# shellcheck shell=bash
#
#   . "$(dirname "$0")/../lib/tap.sh"
#   check "denali prints help" "$DENALI" --help
#   check_run "bad --mem is refused" 2 "--mem" "$DENALI" run --mem 3M x.elf
#   finish
#
# Each check prints one `ok N - name` or `not ok N - name` line; a failure is followed by
# `# ` diagnostic lines (the command, its exit status and its output). tests/run-tests.sh counts
# these lines. Commands that are programs (not shell functions) run under `timeout`, TAP_TIMEOUT
# seconds (default 60) each; a timeout is exit status 124.
#
# tests/run-tests.sh runs integration scripts from the repository root with DENALI_ROOT (the
# root) and DENALI (the monitor binary) exported; the defaults below do the same when a script is
# run by hand.

TAP_COUNT=0
TAP_FAILED=0
TAP_TIMEOUT=${TAP_TIMEOUT:-60}
TAP_OUTPUT=
TAP_STATUS=0
DENALI_ROOT=${DENALI_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DENALI=${DENALI:-$DENALI_ROOT/build/denali}

# ok NAME: records a passing case.
ok()
{
    TAP_COUNT=$((TAP_COUNT + 1))
    echo "ok $TAP_COUNT - $*"
}

# not_ok NAME: records a failing case.
not_ok()
{
    TAP_COUNT=$((TAP_COUNT + 1))
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok $TAP_COUNT - $*"
}

# skip NAME REASON: records a case that could not run here (tests/run-tests.sh counts it as skipped).
skip()
{
    TAP_COUNT=$((TAP_COUNT + 1))
    echo "ok $TAP_COUNT - $1 # SKIP ${2:-}"
}

# diag TEXT...: prints diagnostic lines, each prefixed with `# `.
diag()
{
    printf '%s\n' "$*" | sed 's/^/# /'
}

# tap_run CMD...: runs CMD, leaving its stdout+stderr in TAP_OUTPUT and its status in TAP_STATUS.
tap_run()
{
    # Written so that a caller's `set -e` does not end the script when CMD fails.
    if [ "$(type -t "$1")" = file ]; then
        TAP_OUTPUT=$(timeout "$TAP_TIMEOUT" "$@" 2>&1 </dev/null) && TAP_STATUS=0 || TAP_STATUS=$?
    else
        TAP_OUTPUT=$("$@" 2>&1 </dev/null) && TAP_STATUS=0 || TAP_STATUS=$?
    fi
}

# Prints what the last tap_run saw, for a failing case.
tap_explain()
{
    diag "command: $*"
    diag "exit status: $TAP_STATUS$([ "$TAP_STATUS" = 124 ] && echo " (timed out after ${TAP_TIMEOUT}s)")"
    if [ -n "$TAP_OUTPUT" ]; then
        diag "output (first 20 lines):"
        printf '%s\n' "$TAP_OUTPUT" | head -n 20 | sed 's/^/#   /'
    fi
}

# check NAME CMD...: passes when CMD exits 0.
check()
{
    local name=$1
    shift
    tap_run "$@"
    if [ "$TAP_STATUS" -eq 0 ]; then
        ok "$name"
    else
        not_ok "$name"
        tap_explain "$@"
    fi
}

# check_fails NAME CMD...: passes when CMD exits non-zero (but did not time out).
check_fails()
{
    local name=$1
    shift
    tap_run "$@"
    if [ "$TAP_STATUS" -ne 0 ] && [ "$TAP_STATUS" -ne 124 ]; then
        ok "$name"
    else
        not_ok "$name"
        tap_explain "$@"
    fi
}

# check_status NAME STATUS CMD...: passes when CMD exits with STATUS.
check_status()
{
    check_run "$1" "$2" "" "${@:3}"
}

# check_output_contains NAME TEXT CMD...: passes when CMD's stdout+stderr contains TEXT (a fixed
# string), whatever its exit status.
check_output_contains()
{
    local name=$1 text=$2
    shift 2
    tap_run "$@"
    if [[ $TAP_OUTPUT == *"$text"* ]]; then
        ok "$name"
    else
        not_ok "$name"
        diag "expected the output to contain: $text"
        tap_explain "$@"
    fi
}

# check_output_matches NAME REGEX CMD...: like check_output_contains with an extended regex.
check_output_matches()
{
    local name=$1 regex=$2
    shift 2
    tap_run "$@"
    if printf '%s\n' "$TAP_OUTPUT" | grep -Eq -- "$regex"; then
        ok "$name"
    else
        not_ok "$name"
        diag "expected the output to match: $regex"
        tap_explain "$@"
    fi
}

# check_run NAME STATUS TEXT CMD...: passes when CMD exits with STATUS and its stdout+stderr
# contains TEXT (a fixed string; empty matches anything).
check_run()
{
    local name=$1 status=$2 text=$3
    shift 3
    tap_run "$@"
    if [ "$TAP_STATUS" -eq "$status" ] && [[ $TAP_OUTPUT == *"$text"* ]]; then
        ok "$name"
    else
        not_ok "$name"
        diag "expected exit status $status${text:+ and output containing: $text}"
        tap_explain "$@"
    fi
}

# tap_tmpdir: sets TAP_TMP to a fresh directory removed when the script exits.
tap_tmpdir()
{
    TAP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/denali-test.XXXXXX") || exit 1
    trap 'rm -rf "$TAP_TMP"' EXIT
}

# finish: prints a summary comment and exits non-zero if any case failed.
finish()
{
    echo "# $TAP_COUNT checks, $TAP_FAILED failed"
    [ "$TAP_FAILED" -eq 0 ] && [ "$TAP_COUNT" -gt 0 ]
    exit $?
}
