# Shared by the integration scripts: TAP output, and booting guests under build/denali with captured output.
# shellcheck shell=bash
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DENALI="$ROOT/build/denali"
GUESTS="$ROOT/build/guests"
TEST_GUESTS="$ROOT/build/tests/guests"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TESTS_RUN=0
TESTS_FAILED=0

pass() {
    TESTS_RUN=$((TESTS_RUN + 1))
    echo "ok $TESTS_RUN - $1"
}

fail() {
    TESTS_RUN=$((TESTS_RUN + 1))
    TESTS_FAILED=$((TESTS_FAILED + 1))
    echo "not ok $TESTS_RUN - $1"
    shift
    for line in "$@"; do echo "#   $line"; done
    if [ -s "$WORK/out" ]; then
        echo "#   --- last output ---"
        tail -n 15 "$WORK/out" | sed 's/^/#   /'
    fi
}

# boot ARGS...: runs `denali run ARGS...`, output (stdout and stderr) in $WORK/out, status in $STATUS.
boot() {
    STATUS=0
    timeout 240 "$DENALI" run "$@" >"$WORK/out" 2>&1 || STATUS=$?
}

# expect NAME STATUS PATTERN...: the last boot exited STATUS and its output matches every PATTERN (grep -E).
expect() {
    local name=$1 status=$2
    shift 2
    if [ "$STATUS" != "$status" ]; then
        fail "$name" "exit status $STATUS, expected $status"
        return
    fi
    local pattern
    for pattern in "$@"; do
        if ! grep -Eq -- "$pattern" "$WORK/out"; then
            fail "$name" "no line matches: $pattern"
            return
        fi
    done
    pass "$name"
}

# count_lines PATTERN: how many output lines of the last boot match PATTERN.
count_lines() {
    grep -Ec -- "$1" "$WORK/out" || true
}

finish() {
    echo "# $((TESTS_RUN - TESTS_FAILED)) of $TESTS_RUN passed"
    [ "$TESTS_FAILED" = 0 ]
}
