#!/bin/sh
# Builds lwIP's IPv4 core from Debian's source package into BUILD_DIR/libos/liblwip.a for the guests.
#
# Usage: CC=... LWIP_CFLAGS=... libos/build-lwip.sh BUILD_DIR
# LWIP_CFLAGS carries the guest compiler flags (musl's headers, our lwipopts.h
# directory); the script adds lwIP's own include directory. Produces
# BUILD_DIR/lwip/include (lwIP's headers) and then BUILD_DIR/libos/liblwip.a,
# the latter last, so its presence means a complete build.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
port="$here/lwip-port"
mkdir -p "$1"
build=$(cd "$1" && pwd)
src="$build/lwip-src"
work="$build/lwip-build"
prefix="$build/lwip"
lib="$build/libos/liblwip.a"
log="$build/lwip-build.log"
stamp="$work/flags"

fail() {
    echo "build-lwip.sh: $*" >&2
    if [ -f "$log" ]; then
        echo "build-lwip.sh: last lines of $log:" >&2
        tail -n 20 "$log" >&2
    fi
    exit 1
}

# Two makes sharing build/ must not compile into the same directory at once.
exec 9>"$build/lwip.lock"
flock 9
flags="${CC:-cc} ${LWIP_CFLAGS:-}"
if [ -f "$lib" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$flags" ] &&
    [ -z "$(find "$0" "$port" -type f -newer "$lib")" ]; then
    exit 0
fi

: >"$log"

# The unpacked source is kept between builds: fetching it is the only network step.
if ! ls -d "$src"/lwip-*/ >/dev/null 2>&1; then
    rm -rf "$src"
    mkdir -p "$src"
    echo "  LWIP    apt-get source lwip"
    (cd "$src" && apt-get source lwip) >>"$log" 2>&1 ||
        fail "apt-get source lwip failed (run scripts/install-deps.sh as root?)"
fi
tree=$(ls -d "$src"/lwip-*/ | head -n 1)

# lwIP's IPv4 core and Ethernet; files for disabled features compile to nothing.
files="core/init.c core/def.c core/inet_chksum.c core/ip.c core/mem.c core/memp.c
core/netif.c core/pbuf.c core/raw.c core/stats.c core/sys.c core/tcp.c core/tcp_in.c
core/tcp_out.c core/timeouts.c core/udp.c core/ipv4/etharp.c core/ipv4/icmp.c
core/ipv4/ip4.c core/ipv4/ip4_addr.c core/ipv4/ip4_frag.c netif/ethernet.c"
for f in $files; do
    [ -f "$tree/src/$f" ] || fail "lwIP source has no src/$f"
done

rm -rf "$work" "$prefix"
mkdir -p "$work" "$prefix" "$(dirname "$lib")"
cp -a "$tree/src/include" "$prefix/include"

# Our one change to lwIP. 2.1.3 answers every zero-length segment outside the
# receive window with an ACK; when both peers' windows are zero (both stopped
# reading), each pure ACK draws another, an endless ACK storm that on loopback
# never leaves netif_poll. RFC 793 accepts a zero-length segment at exactly
# rcv_nxt even with a zero window, and so do we.
storm_from='    if (!TCP_SEQ_BETWEEN(seqno, pcb->rcv_nxt, pcb->rcv_nxt + pcb->rcv_wnd - 1)) {'
# (awk -v turns the \n into a line break.)
storm_to='    if (seqno != pcb->rcv_nxt &&\n        !TCP_SEQ_BETWEEN(seqno, pcb->rcv_nxt, pcb->rcv_nxt + pcb->rcv_wnd - 1)) {'
# The source has CRLF line ends; the copy gets plain ones.
awk -v from="$storm_from" -v to="$storm_to" '
    { sub(/\r$/, "") }
    $0 == from { print to; n++; next }
    { print }
    END { exit n == 1 ? 0 : 1 }' "$tree/src/core/tcp_in.c" >"$work/tcp_in.c" ||
    fail "lwIP's tcp_in.c changed: the zero-window ACK fix in $0 needs updating"

echo "  LWIP    compile $(basename "$tree") core"
objs=""
for f in $files; do
    obj="$work/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"
    source="$tree/src/$f"
    [ "$f" = core/tcp_in.c ] && source="$work/tcp_in.c"
    # shellcheck disable=SC2086 # LWIP_CFLAGS is a list of flags
    ${CC:-cc} ${LWIP_CFLAGS:-} -I"$prefix/include" -c "$source" -o "$obj" >>"$log" 2>&1 ||
        fail "compiling src/$f failed"
    objs="$objs $obj"
done

# shellcheck disable=SC2086 # objs is a list of paths without spaces
ar rcs "$lib.tmp" $objs
mv "$lib.tmp" "$lib"
echo "$flags" >"$stamp"
echo "  LWIP    $lib"
