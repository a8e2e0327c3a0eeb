#!/usr/bin/env bash
# Runs a command with a /dev/kvm on a machine that has none: inside a QEMU guest (software
# emulation, with AMD SVM emulated) that mounts this machine's root read-only and the project
# read-write at the same path, so the kvm platform can be run and tested where no KVM exists.
#
# usage: scripts/kvm-in-qemu.sh [-h] COMMAND...
#   COMMAND runs with bash, as root, from the project's root, in the guest; its exit status is
#   this script's. For example:
#     scripts/kvm-in-qemu.sh build/denali run --platform kvm build/guests/hello.elf
#     scripts/kvm-in-qemu.sh 'DENALI_PLATFORM=kvm tests/integration/hibernate.sh'
#
# It is slow (every instruction of the guest and of its VMs is emulated) and for development
# only: timings mean nothing, and no test or benchmark depends on it. Settings: KVM_QEMU_MEM (MiB,
# default 6144), KVM_QEMU_CPUS (default 2), KVM_QEMU_TIMEOUT (seconds, default 3600).
# Multi-threaded emulation (one host thread per guest CPU) locked the guest's kernel up while
# VMs were destroyed and created again (QEMU 7.2), so the guest CPUs share one host thread; then
# a 10 ms quantum can run out before a worker's vCPU has run at all: give more VMs than workers
# a longer one (`denali run -q 200`).
# Installs qemu-system-x86 and busybox-static if missing; downloads Debian's kernel package
# (not installed) into build/kvm-in-qemu once.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case ${1:-} in
-h | --help)
    usage
    exit 0
    ;;
'')
    usage >&2
    exit 2
    ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$ROOT/build/kvm-in-qemu
MEM=${KVM_QEMU_MEM:-6144}
CPUS=${KVM_QEMU_CPUS:-2}
TIMEOUT=${KVM_QEMU_TIMEOUT:-3600}
case $ROOT in *[!A-Za-z0-9/._-]*)
    echo "kvm-in-qemu: the project's path '$ROOT' must be plain (letters, digits, / . _ -)" >&2
    exit 2
    ;;
esac

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    echo "kvm-in-qemu: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

# The kernel: Debian's, unpacked from its package, with the modules the guest needs.
mkdir -p "$CACHE"
if ! compgen -G "$CACHE/kernel/boot/vmlinuz-*" >/dev/null; then
    echo "kvm-in-qemu: fetching Debian's kernel package" >&2
    (
        cd "$CACHE"
        apt-get download linux-image-amd64 >&2 2>/dev/null
        image=$(dpkg-deb -f linux-image-amd64_*.deb Depends | sed 's/ (.*//; s/,.*//')
        apt-get download "$image" >&2 2>/dev/null
        rm -rf kernel.new && dpkg-deb -x "$image"_*.deb kernel.new && rm -rf kernel &&
            mv kernel.new kernel && rm -f ./*.deb
    )
fi
vmlinuz=$(compgen -G "$CACHE/kernel/boot/vmlinuz-*" | head -n 1)
modules=$(compgen -G "$CACHE/kernel/lib/modules/*/kernel" | head -n 1)

# Its initramfs: busybox, the modules in the order they depend on each other, and an init that
# mounts the shares, runs the command in a chroot of this machine's root, and powers off.
MODULES="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache
net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p virt/lib/irqbypass arch/x86/kvm/kvm
drivers/crypto/ccp/ccp arch/x86/kvm/kvm-amd"
initrd=$CACHE/initrd.gz
# Made anew each time (a second): it names the project's path.
{
    tree=$CACHE/initrd.d
    rm -rf "$tree" && mkdir -p "$tree"/{bin,mods,proc,sys,dev,newroot}
    cp /bin/busybox "$tree/bin/busybox"
    order=
    for m in $MODULES; do
        cp "$modules/$m.ko" "$tree/mods/"
        order="$order ${m##*/}"
    done
    cat >"$tree/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc && mount -t sysfs sys /sys && mount -t devtmpfs dev /dev
for m in$order; do insmod /mods/\$m.ko || echo "kvm-in-qemu: module \$m did not load"; done
[ -c /dev/kvm ] || echo "kvm-in-qemu: no /dev/kvm in the guest (is SVM emulated?)"
opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o \$opts,ro host /newroot
mount -t proc proc /newroot/proc && mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/shm /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm && mount -t devpts devpts /newroot/dev/pts
for d in /tmp /run /var/tmp; do mount -t tmpfs tmpfs /newroot\$d; done
mount -t 9p -o \$opts project /newroot$ROOT
mkdir -p /newroot/run/kvm-in-qemu && mount -t 9p -o \$opts control /newroot/run/kvm-in-qemu
chroot /newroot /bin/bash -c 'ip link set lo up; cd $ROOT && bash /run/kvm-in-qemu/command.sh'
echo \$? >/newroot/run/kvm-in-qemu/status
sync
poweroff -f
EOF
    chmod +x "$tree/init"
    (cd "$tree" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$initrd.new"
    mv "$initrd.new" "$initrd"
}

control=$(mktemp -d "${TMPDIR:-/tmp}/kvm-in-qemu.XXXXXX")
trap 'rm -rf "$control"' EXIT
printf '%s\n' "$*" >"$control/command.sh"
share() { echo "local,path=$1,mount_tag=$2,security_model=none,multidevs=remap$3"; }
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp "$CPUS" -m "$MEM" \
    -nographic -no-reboot -nic none -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 rdinit=/init quiet panic=-1" \
    -virtfs "$(share / host ,readonly=on)" -virtfs "$(share "$ROOT" project '')" \
    -virtfs "$(share "$control" control '')" </dev/null |
    sed -u 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g'
if [ ! -s "$control/status" ]; then
    echo "kvm-in-qemu: the guest ended without the command's status (timed out after ${TIMEOUT}s?)" >&2
    exit 1
fi
exit "$(cat "$control/status")"
