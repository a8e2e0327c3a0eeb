#!/bin/sh
# Makes the ext2 image the file-system tests give their VMs: a known tree (in DIR/tree) copied in by mke2fs -d.
#
# Usage: tests/lib/make-fs-image.sh DIR [SIZE]   (SIZE as mke2fs takes it, default 8M)
# Writes DIR/tree and DIR/disk.img. The guest tests/guests/fs_check.c and
# tests/integration/{fs,web_files}.sh know this tree's contents.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [SIZE]" >&2
    exit 2
fi
dir=$1
size=${2:-8M}
tree="$dir/tree"
rm -rf "$tree"
mkdir -p "$tree/data/sub" "$tree/www/docs"

printf 'hello from the host\n' >"$tree/hello.txt"
# Byte i of pattern.bin is (i * 131 + i / 251) mod 256: fs_check recomputes it.
python3 -c '
import sys
sys.stdout.buffer.write(bytes((i * 131 + i // 251) & 0xFF for i in range(100000)))' \
    >"$tree/data/pattern.bin"
printf '<!DOCTYPE html>\n<html><body><h1>Served from the disk</h1></body></html>\n' \
    >"$tree/www/index.html"
printf '<html><body>docs</body></html>\n' >"$tree/www/docs/index.html"
# A 2,258-byte page of numbered lines (the size the network tests have always used).
python3 -c '
import sys
out = "".join("line %04d of the static file\n" % i for i in range(100))
sys.stdout.write(out[:2257] + "\n")' >"$tree/www/page.txt"

rm -f "$dir/disk.img"
# -t ext2: no journal to replay; root owns everything; -q: only errors.
mke2fs -q -t ext2 -b 1024 -E root_owner=0:0 -d "$tree" "$dir/disk.img" "$size" >/dev/null
