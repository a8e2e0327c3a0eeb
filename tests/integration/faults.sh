#!/usr/bin/env bash
# Every kind of guest misbehaviour stops only the guilty VM (vm 0), with a one-line reason, while healthy VMs finish.
set -u
. "$(dirname "$0")/../lib/harness.sh"

# fault GUEST REASON-PATTERN [GUEST-ARGS...]: boot 3 VMs of GUEST (vm 0 misbehaves, 1 and 2 stay
# healthy).
fault() {
    local guest=$1 reason=$2
    shift 2
    boot -n 3 -m 2M "$TEST_GUESTS/$guest.elf" "$@"
    expect "$guest $* stops vm 0 only: $reason" 1 \
        "^denali: vm 0 stopped: $reason" \
        '^\[vm 1\] .*healthy vm 1 done' '^\[vm 2\] .*healthy vm 2 done' \
        '^denali: 3 VMs: 2 exited 0, 0 exited non-zero, 1 stopped$'
    if [ "$(count_lines 'stopped:')" != 1 ]; then
        fail "$guest: exactly one VM stopped" "$(count_lines 'stopped:') stopped lines"
    fi
}

fault bad_port 'write of unknown port 0x80 at rip 0x[0-9a-f]+$'
fault bad_hypercall 'unknown hypercall 200 at rip'
fault bad_pointer 'console write: bad buffer 0x[0-9a-f]+\+[0-9]+ at rip'
fault overflow_pointer 'console write: bad buffer 0xfffffffffffff000\+[0-9]+ at rip'
fault null_pointer 'console write: bad buffer 0x0\+'
fault bad_balloon 'balloon: bad range 0x100000\+4096 at rip' text
fault bad_balloon 'balloon: bad range 0x[0-9a-f]+1\+4096 at rip' unaligned
fault bad_balloon 'balloon: bad range 0x[0-9a-f]+\+8192 at rip' outside
# kvm names the exception its handler in the VM reported; the process platform names the signal
# it became.
case ${DENALI_PLATFORM:-kvm} in
process)
    PAGE_FAULT='page fault, SIGSEGV'
    DIVIDE='divide error, SIGFPE'
    INVALID='invalid opcode, SIGILL'
    ;;
*) PAGE_FAULT='page fault, #PF' DIVIDE='divide error, #DE' INVALID='invalid opcode, #UD' ;;
esac
fault null_deref "CPU exception \\($PAGE_FAULT\\) at rip 0x[0-9a-f]+, cr2 0x0\$"
fault write_text "CPU exception \\($PAGE_FAULT\\) at rip 0x[0-9a-f]+, cr2 0x10[0-9a-f]{4}\$"
fault write_vregs "CPU exception \\($PAGE_FAULT\\) at rip 0x[0-9a-f]+, cr2 0x1000[0-9a-f]\$"
fault div_zero "CPU exception \\($DIVIDE\\) at rip"
fault triple_fault "CPU exception \\($INVALID\\) at rip"
fault stack_overflow "CPU exception \\($PAGE_FAULT\\) at rip 0x[0-9a-f]+, cr2 0x12[0-9a-f]{3}\$"

# The process platform's control page is within a guest's reach: what it writes there is
# untrusted. A forged exit of no kind is refused; a forged idle whose author keeps running is
# caught by the CPU it uses while it should sleep. Under kvm the page does not exist.
case ${DENALI_PLATFORM:-kvm} in
process)
    FORGED='ran while it should have slept \(its handoff word was forged\)$'
    GARBAGE='unexpected exit 57005 at rip'
    ;;
*) FORGED='CPU exception \(page fault, #PF\) at rip 0x[0-9a-f]+, cr2 0x6000001000' GARBAGE=$FORGED ;;
esac
fault forge_handoff "$FORGED" idle
fault forge_handoff "$GARBAGE" garbage

# A VM that loops forever is preempted: the healthy ones still finish, and the time limit ends it.
boot -n 3 -m 2M -j 1 --time-limit 3 "$TEST_GUESTS/loop_forever.elf"
expect "loop_forever is preempted so healthy VMs finish on one worker, then the time limit stops it" 1 \
    '^\[vm 1\] .*healthy vm 1 done' '^\[vm 2\] .*healthy vm 2 done' \
    '^denali: vm 0 stopped: time limit reached$' \
    '^denali: 3 VMs: 2 exited 0, 0 exited non-zero, 1 stopped$'

# Registers survive preemption (the guest checks them itself across many quanta).
boot -n 2 -j 1 --quantum 1 "$TEST_GUESTS/preempt_regs.elf"
expect "registers survive preemption" 0 '^denali: 2 VMs: 2 exited 0, 0 exited non-zero, 0 stopped$'

finish
