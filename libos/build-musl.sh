#!/bin/sh
# Builds musl from Debian's source package with ilwaco's system-call port, into BUILD_DIR/musl.
#
# Usage: libos/build-musl.sh BUILD_DIR
# Produces BUILD_DIR/musl/include and BUILD_DIR/musl/lib/libc.a, the latter
# last, so its presence means a complete, checked build.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
port="$here/musl-port"
mkdir -p "$1"
build=$(cd "$1" && pwd)
src="$build/musl-src"
work="$build/musl-build"
prefix="$build/musl"
log="$build/musl-build.log"

fail() {
    echo "build-musl.sh: $*" >&2
    if [ -f "$log" ]; then
        echo "build-musl.sh: last lines of $log:" >&2
        tail -n 20 "$log" >&2
    fi
    exit 1
}

# Two makes in one tree (people share build/) must not build into the same
# directories at once; the second one waits, then finds the work done.
exec 9>"$build/musl.lock"
flock 9
if [ -f "$prefix/lib/libc.a" ] &&
    [ -z "$(find "$0" "$port" -type f -newer "$prefix/lib/libc.a")" ]; then
    exit 0
fi

: >"$log"

# The unpacked source is kept between builds: fetching it is the only network step.
if ! ls -d "$src"/musl-*/ >/dev/null 2>&1; then
    rm -rf "$src"
    mkdir -p "$src"
    echo "  MUSL    apt-get source musl"
    (cd "$src" && apt-get source musl) >>"$log" 2>&1 ||
        fail "apt-get source musl failed (run scripts/install-deps.sh as root?)"
fi
tree=$(ls -d "$src"/musl-*/ | head -n 1)

# The port replaces exactly these files; if a new musl moves one, stop rather than
# build a libc that still contains a `syscall` instruction somewhere.
overlay="arch/x86_64/syscall_arch.h
src/thread/x86_64/__set_thread_area.s
src/thread/x86_64/syscall_cp.s
src/thread/x86_64/clone.s
src/thread/x86_64/__unmapself.s
src/process/x86_64/vfork.s
src/signal/x86_64/restore.s"

for f in $overlay; do
    [ -f "$tree/$f" ] || fail "musl source has no $f: the port in $port needs updating"
    [ -f "$port/$f" ] || fail "port file $port/$f is missing"
done

# Build from a fresh copy so the pristine source stays reusable and no stale object survives.
rm -rf "$work" "$prefix"
cp -a "$tree" "$work"
for f in $overlay; do
    cp "$port/$f" "$work/$f"
done

# Called from make: keep the outer make's flags and variables (CFLAGS=... on its
# command line, its jobserver) out of musl's own build.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

echo "  MUSL    configure + make lib/libc.a ($(basename "$tree"))"
# Static and non-PIC, like the guests it links into. -mno-red-zone keeps every
# guest object under the same stack rule.
(
    # set -e does not apply inside a subshell tested with ||, hence the && chain.
    cd "$work" &&
        ./configure --disable-shared --prefix="$prefix" \
            CC="${CC:-cc}" CFLAGS="-fno-pic -fno-pie -mno-red-zone" >>"$log" 2>&1 &&
        make -j2 lib/libc.a >>"$log" 2>&1
) || fail "musl build failed"

# The whole point of the port: no instruction in libc may trap into a kernel.
bad=$(objdump -d "$work/lib/libc.a" |
    awk -F'\t' 'NF >= 3 && $3 ~ /^(syscall|sysenter|sysret|int +\$0x80)/ { print }' | head -n 5)
if [ -n "$bad" ]; then
    echo "build-musl.sh: libc.a still contains kernel-entry instructions:" >&2
    echo "$bad" >&2
    exit 1
fi

(cd "$work" && make install-headers >>"$log" 2>&1) || fail "installing musl headers failed"
mkdir -p "$prefix/lib"
cp "$work/lib/libc.a" "$prefix/lib/libc.a.tmp"
mv "$prefix/lib/libc.a.tmp" "$prefix/lib/libc.a"
echo "  MUSL    $prefix/lib/libc.a"
