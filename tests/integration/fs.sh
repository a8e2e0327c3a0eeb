#!/usr/bin/env bash
# POSIX files in VMs over the block ring: fs_check reads the host's files from an ext2 image (mke2fs -d), writes, fsyncs, lists, removes; the host checks what it wrote.
set -u
. "$(dirname "$0")/../lib/harness.sh"

FS_CHECK="$TEST_GUESTS/fs_check.elf"
OVERLAY_CAT="$DENALI_ROOT/build/tests/tools/overlay_cat"
IMG="$WORK/img/disk.img"
"$DENALI_ROOT/tests/lib/make-fs-image.sh" "$WORK/img"
BASE_SUM=$(md5sum <"$IMG")

boot -n 1 -m 4M --net none "$FS_CHECK" none
expect "without a disk every file call fails with ENOENT" 0 '^\[vm 0\] fs_check: ok none$'

boot -n 1 -m 4M --net none "$GUESTS/hello.elf"
expect "a guest linked without files still boots as before" 0 '^\[vm 0\] hello from vm 0 of 1$'

boot -n 1 -m 8M --net none --disk "$IMG,ro" "$FS_CHECK" ro
expect "a read-only disk: the host's files read back exactly, every change fails with EROFS" 0 \
    '^\[vm 0\] fs_check: ok ro$'

boot -n 1 -m 8M --net none --disk "$IMG" --keep-overlays --overlay-dir "$WORK/overlays" \
    "$FS_CHECK" rw
expect "a writable disk: write, fsync, read back, O_APPEND, holes, truncate, 120 files in a directory, unlink, rmdir, rename" \
    0 '^\[vm 0\] fs_check: ok rw$'

# The disk the VM left behind, as the host reads it: libext2fs in the guest must have kept it a
# valid ext2 file system, with the guest's files in it byte for byte.
AFTER="$WORK/after.img"
if ! "$OVERLAY_CAT" "$IMG" "$WORK/overlays/vm-0-disk-0.overlay" >"$AFTER" 2>"$WORK/cat.err"; then
    fail "the disk the guest wrote is a clean ext2 file system (e2fsck -fn)" \
        "overlay_cat failed: $(cat "$WORK/cat.err")"
elif e2fsck -fn "$AFTER" >"$WORK/fsck" 2>&1; then
    ok "the disk the guest wrote is a clean ext2 file system (e2fsck -fn)"
else
    not_ok "the disk the guest wrote is a clean ext2 file system (e2fsck -fn)"
    head -n 12 "$WORK/fsck" | sed 's/^/#   /'
fi
python3 - "$WORK/expected.bin" <<'EOF'
import sys
data = bytearray(((i * 7 + 3 + i // 509) & 0xFF) for i in range(50000))
data[1000:1003] = b"MID"
open(sys.argv[1], "wb").write(bytes(data) + b"tail")
EOF
debugfs -R "dump /out/written.bin $WORK/written.bin" "$AFTER" >/dev/null 2>&1
if cmp -s "$WORK/written.bin" "$WORK/expected.bin" &&
    [ "$(debugfs -R 'cat /out/done.txt' "$AFTER" 2>/dev/null)" = "written by the guest" ]; then
    ok "the host reads the guest's files byte for byte (debugfs)"
else
    not_ok "the host reads the guest's files byte for byte (debugfs)"
    diag "written.bin: $(wc -c <"$WORK/written.bin" 2>/dev/null || echo missing) bytes" \
        "$(debugfs -R 'ls -l /out' "$AFTER" 2>&1 | head -n 8)"
fi
if debugfs -R 'stat /out/many' "$AFTER" 2>&1 | grep -q 'not found' &&
    ! debugfs -R 'ls /out' "$AFTER" 2>/dev/null | grep -q 'hole.bin'; then
    ok "removed files and directories are gone on the host too"
else
    not_ok "removed files and directories are gone on the host too"
fi
if [ "$(md5sum <"$IMG")" = "$BASE_SUM" ]; then
    ok "the base image itself is untouched"
else
    not_ok "the base image itself is untouched"
fi

# ext4 without a journal (4 KiB blocks, extents, 64-bit, metadata checksums), from the same tree.
EXT4="$WORK/ext4.img"
mke2fs -q -t ext4 -b 4096 -O ^has_journal -E root_owner=0:0 -d "$WORK/img/tree" "$EXT4" 32M \
    >/dev/null 2>&1
boot -n 1 -m 8M --net none --disk "$EXT4" --keep-overlays --overlay-dir "$WORK/overlays4" \
    "$FS_CHECK" rw
if [ "$STATUS" = 0 ] && grep -q '^\[vm 0\] fs_check: ok rw$' "$WORK/out" &&
    "$OVERLAY_CAT" "$EXT4" "$WORK/overlays4/vm-0-disk-0.overlay" >"$WORK/after4.img" &&
    e2fsck -fn "$WORK/after4.img" >"$WORK/fsck4" 2>&1; then
    ok "ext4 without a journal: the same checks pass and e2fsck finds the result clean"
else
    fail "ext4 without a journal: the same checks pass and e2fsck finds the result clean" \
        "$(head -n 5 "$WORK/fsck4" 2>/dev/null)"
fi

boot -n 3 -m 8M --net none --disk "$IMG" "$FS_CHECK" rw
expect "three VMs write the same paths on one image, each in its own overlay" 0 \
    '^\[vm 2\] fs_check: ok rw$' '^denali: 3 VMs: 3 exited 0, 0 exited non-zero, 0 stopped$'

# A raw disk with no file system on it: files fail with EIO and ilwaco says why, once.
head -c 1048576 /dev/zero >"$WORK/blank.img"
boot -n 1 -m 8M --net none --disk "$WORK/blank.img,ro" "$FS_CHECK" ro
expect "a disk without ext2: a clear message, and the guest's reads fail" 1 \
    'ilwaco: disk 0: no ext2 file system to mount at /' 'fs_check: FAIL'

finish
