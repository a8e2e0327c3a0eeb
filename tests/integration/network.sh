#!/usr/bin/env bash
# The virtual NIC and the LAN switch, driven by raw frames: forwarding, broadcast, spoofing, bad frames, garbage rings, floods.
set -u
. "$(dirname "$0")/../lib/harness.sh"

RAW="$TEST_GUESTS/net_raw.elf"

boot -n 4 -m 2M "$RAW" pingpong 200
expect "unicast frames cross the switch: 3 VMs do 200 round trips each with VM 0" 0 \
    '^\[vm 0\] net_raw: vm 0 answered 600 round trips$' \
    '^\[vm 3\] net_raw: vm 3 pingpong ok: 200 round trips$' \
    '^denali: 4 VMs: 4 exited 0, 0 exited non-zero, 0 stopped$'

boot -n 4 -m 2M "$RAW" broadcast
expect "a broadcast frame reaches every other VM" 0 \
    '^\[vm 1\] net_raw: vm 1 got the broadcast$' '^\[vm 2\] net_raw: vm 2 got the broadcast$' \
    '^\[vm 3\] net_raw: vm 3 got the broadcast$'

boot -n 3 -m 2M --stats "$RAW" badframes
expect "spoofed source MACs, bad lengths and bad slot numbers are dropped and counted; honest frames pass" 0 \
    '^\[vm 0\] net_raw: vm 0 got only the honest frame$' \
    '^denali-net: .* drop_spoofed=10 drop_bad_len=3 drop_bad_slot=2 drop_oversize=1 '

boot -n 3 -m 2M --stats "$RAW" garbage
expect "a garbage tx ring stops only its VM" 1 \
    '^denali: vm 0 stopped: net: tx ring holds more frames than it has slots$' \
    '^\[vm 1\] net_raw: vm 1 healthy$' '^\[vm 2\] net_raw: vm 2 healthy$' \
    '^denali: 3 VMs: 2 exited 0, 0 exited non-zero, 1 stopped$' 'stopped_garbage_ring=1$'

boot -n 3 -m 2M "$RAW" badattach
expect "misaligned or short ring areas are refused; one over read-only memory stops the VM" 1 \
    '^\[vm 0\] net_raw: vm 0 misaligned and short areas refused$' \
    '^denali: vm 0 stopped: net attach: bad ring area 0x10000\+' \
    '^denali: 3 VMs: 2 exited 0, 0 exited non-zero, 1 stopped$'

boot -n 1 -m 2M --net none "$RAW" nonet
expect "--net none: no address and attach answers ENODEV" 0 '^\[vm 0\] net_raw: vm 0 ipv4 0 attach -19$'

for target in vm0 server broadcast; do
    boot -n 4 -m 2M --stats "$RAW" flood 1 "$target"
    expect "a VM flooding ($target) leaves the others' round trips working" 0 \
        '^\[vm 2\] net_raw: vm 2 did [1-9][0-9]* round trips under the flood$' \
        '^denali: 4 VMs: 4 exited 0, 0 exited non-zero, 0 stopped$'
done

boot -n 4 -m 4M --stats "$RAW" tcpflood 2
expect "TCP echo between VMs keeps working while another VM floods the server and the LAN" 0 \
    '^\[vm 2\] net_raw: vm 2 did [1-9][0-9]* TCP echo round trips under the flood$' \
    '^\[vm 3\] net_raw: vm 3 did [1-9][0-9]* TCP echo round trips under the flood$' \
    '^denali: 4 VMs: 4 exited 0, 0 exited non-zero, 0 stopped$' 'drop_storm=[1-9]'

finish
