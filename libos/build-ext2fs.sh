#!/bin/sh
# Builds libext2fs (and the com_err it reports errors with) from Debian's e2fsprogs source package for the guests.
#
# Usage: CC=... EXT2FS_CFLAGS=... EXT2FS_CPPFLAGS=... MUSL_LIBC=... libos/build-ext2fs.sh BUILD_DIR
# EXT2FS_CPPFLAGS puts musl's headers in place of the host's, EXT2FS_CFLAGS
# carries the guest code-generation flags, MUSL_LIBC is musl's libc.a (for
# configure's link tests). Produces BUILD_DIR/ext2fs/include/{ext2fs,et} and then
# BUILD_DIR/libos/libext2fs.a (lib/ext2fs and lib/et in one archive), the latter
# last, so its presence means a complete build.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi

mkdir -p "$1"
build=$(cd "$1" && pwd)
src="$build/ext2fs-src"
work="$build/ext2fs-build"
prefix="$build/ext2fs"
lib="$build/libos/libext2fs.a"
log="$build/ext2fs-build.log"
stamp="$build/ext2fs.flags"
cc=${CC:-cc}

fail() {
    echo "build-ext2fs.sh: $*" >&2
    if [ -f "$log" ]; then
        echo "build-ext2fs.sh: last lines of $log:" >&2
        tail -n 20 "$log" >&2
    fi
    exit 1
}

if [ -z "${MUSL_LIBC:-}" ] || [ ! -f "$MUSL_LIBC" ]; then
    fail "MUSL_LIBC must name musl's libc.a (build musl first)"
fi

# Two makes sharing build/ must not build into the same directory at once.
exec 9>"$build/ext2fs.lock"
flock 9
flags="$cc ${EXT2FS_CPPFLAGS:-} ${EXT2FS_CFLAGS:-}"
if [ -f "$lib" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$flags" ] &&
    [ -z "$(find "$0" "$MUSL_LIBC" -newer "$lib")" ]; then
    exit 0
fi

: >"$log"

# The unpacked source is kept between builds: fetching it is the only network step.
if ! ls -d "$src"/e2fsprogs-*/ >/dev/null 2>&1; then
    rm -rf "$src"
    mkdir -p "$src"
    echo "  EXT2FS  apt-get source e2fsprogs"
    (cd "$src" && apt-get source e2fsprogs) >>"$log" 2>&1 ||
        fail "apt-get source e2fsprogs failed (run scripts/install-deps.sh as root?)"
fi
tree=$(ls -d "$src"/e2fsprogs-*/ | head -n 1)

rm -rf "$work" "$prefix"
cp -a "$tree" "$work"
mkdir -p "$prefix/include/ext2fs" "$prefix/include/et" "$(dirname "$lib")"

# configure links its test programs against musl as a cross build (nothing it
# builds can run here); they need an entry point and the one function musl's
# system calls go to, which this stand-in answers with ENOSYS.
cat >"$work/configure-stub.c" <<'EOF'
long __ilwaco_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6);
long __ilwaco_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    (void)n, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6;
    return -38;
}
void _start(void);
void _start(void)
{
    for (;;)
        ;
}
EOF
# shellcheck disable=SC2086 # the flags are lists
$cc ${EXT2FS_CPPFLAGS:-} ${EXT2FS_CFLAGS:-} -c "$work/configure-stub.c" -o "$work/configure-stub.o" \
    >>"$log" 2>&1 || fail "compiling configure's link stub failed"

# Called from make: keep the outer make's flags and variables out of e2fsprogs' own build.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

echo "  EXT2FS  configure + make lib/ext2fs ($(basename "$tree"))"
# Everything but the library is switched off; BUILD_CC (the host's cc) builds
# the generators the library's build runs (subst, gen_crc32ctable).
(
    cd "$work" &&
        ./configure --host=x86_64-linux-musl --build=x86_64-linux-gnu \
            CC="$cc" BUILD_CC=cc CFLAGS="${EXT2FS_CFLAGS:-}" CPPFLAGS="${EXT2FS_CPPFLAGS:-}" \
            LDFLAGS="-nostdlib -static -no-pie" \
            LIBS="$work/configure-stub.o $MUSL_LIBC $($cc -print-libgcc-file-name)" \
            --disable-nls --disable-threads --disable-tdb --disable-mmp --disable-bmap-stats \
            --disable-debugfs --disable-imager --disable-resizer --disable-defrag --disable-fsck \
            --disable-e2initrd-helper --disable-uuidd --disable-fuse2fs --disable-backtrace \
            --without-libarchive >>"$log" 2>&1 &&
        make -C util subst >>"$log" 2>&1 &&
        make -C lib/et libcom_err.a compile_et >>"$log" 2>&1 &&
        make -C lib/ext2fs libext2fs.a >>"$log" 2>&1
) || fail "libext2fs build failed"

for h in "$work"/lib/ext2fs/*.h; do
    cp "$h" "$prefix/include/ext2fs/"
done
cp "$work/lib/et/com_err.h" "$prefix/include/et/"

# One archive for both: ext2fs's error table registers itself with com_err.
rm -rf "$work/objs"
mkdir -p "$work/objs"
(cd "$work/objs" && ar x "$work/lib/libext2fs.a" && ar x "$work/lib/libcom_err.a") ||
    fail "unpacking the archives failed"
ar rcs "$lib.tmp" "$work"/objs/*.o
mv "$lib.tmp" "$lib"
echo "$flags" >"$stamp"
echo "  EXT2FS  $lib"
