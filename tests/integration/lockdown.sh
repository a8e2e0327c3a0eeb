#!/usr/bin/env bash
# A guest trying to escape its sandbox (host system calls, executable data, odd entry points) is stopped with a one-line reason, and nothing on the host changes.
set -u
. "$(dirname "$0")/../lib/harness.sh"

# tests/run-tests.sh names the platform; run by hand without it, the monitor picks as `auto` does.
PLATFORM=${DENALI_PLATFORM:-auto}
if [ "$PLATFORM" = auto ]; then
    PLATFORM=$("$DENALI" platforms 2>/dev/null | sed -n 's/^auto: \([a-z]*\).*/\1/p')
fi
RIP='at rip 0x[0-9a-f]+'
CR2='cr2 0x[0-9a-f]+'
MODES=(open write fork kill mprotect int80 x32 sysenter gadget nostack vsyscall)

# The stop reason each escape must end in, per platform: fix a reason's wording here only.
declare -A REASON
case $PLATFORM in
kvm)
    # No kernel in the guest: syscall is #UD, int 0x80 is #GP (its gate is the monitor's, DPL 0),
    # sysenter #UD or #GP by vendor; the monitor's handler reports each.
    for mode in "${MODES[@]}"; do
        REASON[$mode]="CPU exception \([a-z ]+, #[A-Z]{2}\) $RIP, $CR2\$"
    done
    ;;
process)
    PAGE_FAULT="CPU exception \(page fault, SIGSEGV\) $RIP, $CR2\$"
    REASON=(
        [open]="system call 2 \(open\) $RIP\$"
        [write]="system call 1 \(write\) $RIP\$"
        [fork]="system call 57 \(fork\) $RIP\$"
        [kill]="system call 62 \(kill\) $RIP\$"
        [mprotect]="system call 10 \(mprotect\) $RIP\$"
        # Kernels that keep int 0x80 from user mode (ia32_emulation=0, and some nested hosts,
        # this test's first one among them) make it a general-protection fault instead.
        [int80]="(i386 system call 20 $RIP\$|CPU exception \(general protection, SIGSEGV\) $RIP, $CR2\$)"
        # The number as the guest gave it, x32 bit included (0x40000000 | getpid).
        [x32]="x32 system call 0x40000027 $RIP\$"
        # Intel CPUs enter the kernel's i386 path; AMD ones refuse sysenter in 64-bit mode.
        [sysenter]="(i386 system call 20 $RIP\$|CPU exception \(invalid opcode, SIGILL\) $RIP)"
        [gadget]=$PAGE_FAULT
        # Whatever the fault, the monitor must report it though the guest left no stack.
        [nostack]="CPU exception \([^)]*\) $RIP"
        [vsyscall]=$PAGE_FAULT
    )
    # A kernel that keeps the vsyscall page (vsyscall=xonly or emulate; it shows in every
    # process's maps) emulates the call, and its emulation asks seccomp first, as time (201),
    # which the monitor may not name.
    if grep -q '\[vsyscall\]$' /proc/self/maps; then
        REASON[vsyscall]="system call 201( \(time\))? $RIP\$"
    fi
    ;;
*)
    fail "lockdown.sh knows the platform" "'$PLATFORM' is neither kvm nor process"
    finish
    ;;
esac

# boot_kill: boots escape.elf in kill mode, aimed at the monitor itself. The bash's own pid becomes
# the monitor's through exec, so the pid is known before the monitor starts and is never another
# process's. Output and status as boot leaves them (keep the two in step).
boot_kill() {
    STATUS=0
    # shellcheck disable=SC2016 # $0, $1 and $$ are the inner bash's
    timeout 240 bash -c 'exec "$0" run -n 3 -m 2M "$1" kill $$' "$DENALI" \
        "$TEST_GUESTS/escape.elf" >"$WORK/out" 2>&1 </dev/null || STATUS=$?
}

# Extra monitor options for escape (--clone: the VMs are clones forked from a zygote).
EXTRA=()
AS=""

# escape MODE [ARG]: VM 0 tries MODE; it alone stops, with MODE's reason, and does not get through.
escape() {
    local mode=$1 reason=${REASON[$1]}
    shift
    if [ "$mode" = kill ]; then
        boot_kill
    else
        boot -n 3 -m 2M "${EXTRA[@]}" "$TEST_GUESTS/escape.elf" "$mode" "$@"
    fi
    expect "escape $mode$AS stops vm 0 only: $reason" 1 \
        "^denali: vm 0 stopped: $reason" \
        '^\[vm 1\] .*healthy vm 1 done' '^\[vm 2\] .*healthy vm 2 done' \
        '^denali: 3 VMs: 2 exited 0, 0 exited non-zero, 1 stopped$'
    if [ "$(count_lines 'stopped:')" != 1 ]; then
        fail "escape $mode: exactly one VM stopped" "$(count_lines 'stopped:') stopped lines"
    fi
    if [ "$(count_lines 'survived')" != 0 ]; then
        fail "escape $mode: the guest did not survive its escape" "it printed survived"
    fi
    # The guest's own console lines carry a [vm N] prefix; a bare ESCAPED came straight from it.
    if [ "$(count_lines 'ESCAPED')" != 0 ]; then
        fail "escape $mode: nothing reached the monitor's output unprefixed" "ESCAPED was printed"
    fi
}

target="$WORK/escaped-file"
escape open "$target"
# Only an attempt that ran says anything about the file.
if [ "$(count_lines '^\[vm 0\] escape: started$')" != 1 ]; then
    fail "escape open: the host file was not created" "vm 0 never started its escape"
elif [ -e "$target" ]; then
    fail "escape open: the host file was not created" "$target exists: $(head -c 64 "$target")"
else
    ok "escape open: the host file was not created"
fi

escape write
escape fork

escape kill
# 137 is the monitor killed by SIGKILL; the summary line shows it lived to finish.
if [ "$STATUS" = 1 ] && [ "$(count_lines '^denali: 3 VMs: ')" = 1 ]; then
    ok "escape kill: the monitor was not killed"
else
    fail "escape kill: the monitor was not killed" "exit status $STATUS, expected 1 and a summary"
fi

for mode in mprotect int80 x32 sysenter gadget nostack vsyscall; do
    escape "$mode"
done

# Clones are forked from a zygote whose filter also allows forking and remapping from its own
# code page: a clone must be held exactly as tightly, and that page must be gone before it runs.
if [ "$PLATFORM" = process ]; then
    EXTRA=(--clone)
    AS=" (as a clone)"
    target="$WORK/escaped-clone-file"
    escape open "$target"
    [ ! -e "$target" ] && ok "escape open (as a clone): the host file was not created" ||
        fail "escape open (as a clone): the host file was not created" "$target exists"
    for mode in write fork mprotect x32 gadget nostack; do
        escape "$mode"
    done
    site=$(nm "$DENALI_ROOT/build/denali-vmproc" | awk '$3 == "vmproc_zygote_syscall" { print $1 }')
    if [ -n "$site" ]; then
        REASON[zygote]="CPU exception \(page fault, SIGSEGV\) at rip 0x0*${site#"${site%%[!0]*}"}, $CR2\$"
        escape zygote "$site"
    else
        fail "escape zygote (as a clone)" "no vmproc_zygote_syscall in build/denali-vmproc"
    fi
fi

finish
