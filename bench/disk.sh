#!/usr/bin/env bash
# Disk benchmark: read throughput inside a VM (guests/diskbench.elf, disk 0 through the block ring)
# against pread of the same image on the host (build/bench/disk_floor), in the same run.
# Usage: bench/disk.sh [MIB]   (default 64: the image's size)
# Per platform this machine has (BENCH_PLATFORMS), alternating VM and floor RUNS times (DISK_RUNS,
# default 3) and taking medians, with the image in the page cache (read once first) and ,ro (the
# VMs read the one file, as every VM would): sequential 64 KiB reads (goal: the VM's throughput at
# least 0.5 of the host's) and random 4 KiB reads (no goal: reported). One summary line:
#   BENCH disk_P ratio=<seq VM/host> rand_ratio=<rand VM/host> ... goal=0.5 pass=<seq verdict>
set -uo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

NAME=disk
GOAL=0.5
MIB=${1:-64}
RUNS=${DISK_RUNS:-3}
[[ $MIB =~ ^[1-9][0-9]*$ ]] || bench_fail $NAME "bad image size '$MIB'"
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || bench_fail $NAME "bad DISK_RUNS '$RUNS'"
export DENALI_VMPROC=${DENALI_VMPROC:-$(dirname "$DENALI")/denali-vmproc}
bench_need $NAME "$DENALI" "$GUESTS/diskbench.elf" "$BENCH_BIN/disk_floor"

IMAGE=$(mktemp /tmp/denali-bench-disk.XXXXXX)
trap 'rm -f "$IMAGE"' EXIT
head -c "$((MIB << 20))" /dev/urandom >"$IMAGE" || bench_fail $NAME "cannot write $IMAGE"
cat "$IMAGE" >/dev/null
# Four passes over the image sequentially; as many 4 KiB reads at random.
SEQ_READS=$((MIB * 16 * 4))
RAND_READS=$((MIB * 256))

# vm_read MODE KIB COUNT: the guest's figures (MB/s and us a read), "MB_S US" on stdout.
vm_read() {
    local out
    out=$("$DENALI" run "${PLATFORM_OPTS[@]}" --net none --disk "$IMAGE,ro" \
        "$GUESTS/diskbench.elf" "$1" "$2" "$3" 2>&1) || {
        echo "$out" | tail -n 3 >&2
        return 1
    }
    out=$(grep -o 'diskbench: .*' <<<"$out")
    [[ -n $out ]] || return 1
    echo "$out" >&2
    sed -n 's/.*: \([0-9.]*\) MB\/s, \([0-9.]*\) us a read.*/\1 \2/p' <<<"$out"
}

# host_read MODE KIB COUNT: the floor's, likewise.
host_read() {
    local out
    out=$("$BENCH_BIN/disk_floor" "$1" "$2" "$3" "$IMAGE") || return 1
    echo "$out" >&2
    echo "$(kv mb_s "$out") $(kv us_per_read "$out")"
}

measure() {
    local platform=$1 i r
    platform_opts "$platform"
    local -a vm_seq=() host_seq=() vm_rand=() host_rand=() vm_seq_us=() host_seq_us=()
    local -a vm_rand_us=() host_rand_us=()
    for ((i = 0; i < RUNS; i++)); do
        r=$(vm_read seq 64 $SEQ_READS) || bench_fail "${NAME}_$platform" "the VM's sequential run failed"
        vm_seq+=("${r% *}") vm_seq_us+=("${r#* }")
        r=$(host_read seq 64 $SEQ_READS) || bench_fail "${NAME}_$platform" "disk_floor seq failed"
        host_seq+=("${r% *}") host_seq_us+=("${r#* }")
        r=$(vm_read rand 4 $RAND_READS) || bench_fail "${NAME}_$platform" "the VM's random run failed"
        vm_rand+=("${r% *}") vm_rand_us+=("${r#* }")
        r=$(host_read rand 4 $RAND_READS) || bench_fail "${NAME}_$platform" "disk_floor rand failed"
        host_rand+=("${r% *}") host_rand_us+=("${r#* }")
    done
    local vs hs vr hr vsu hsu vru hru r_seq r_rand pass=0
    vs=$(median "${vm_seq[@]}") hs=$(median "${host_seq[@]}")
    vr=$(median "${vm_rand[@]}") hr=$(median "${host_rand[@]}")
    vsu=$(median "${vm_seq_us[@]}") hsu=$(median "${host_seq_us[@]}")
    vru=$(median "${vm_rand_us[@]}") hru=$(median "${host_rand_us[@]}")
    r_seq=$(ratio "$vs" "$hs") r_rand=$(ratio "$vr" "$hr")
    le "$GOAL" "$r_seq" && pass=1
    echo "disk ($platform): ${MIB} MiB image in the page cache, medians of $RUNS runs"
    echo "disk ($platform): sequential 64 KiB reads: VM $vs MB/s ($vsu us a read), host pread" \
        "$hs MB/s ($hsu us): $r_seq (goal >= $GOAL)"
    echo "disk ($platform): random 4 KiB reads: VM $vr MB/s ($vru us a read), host pread" \
        "$hr MB/s ($hru us): $r_rand (no goal: a read is one exit, which 4 KiB does not amortise)"
    bench_line "BENCH ${NAME}_$platform ratio=$r_seq platform=$platform seq64k_vm_mb_s=$vs" \
        "seq64k_host_mb_s=$hs rand_ratio=$r_rand rand4k_vm_mb_s=$vr rand4k_host_mb_s=$hr" \
        "rand4k_vm_us=$vru rand4k_host_us=$hru image_mib=$MIB runs=$RUNS floor=pread" \
        "goal=$GOAL pass=$pass"
}

skip() {
    bench_skip "${NAME}_$1" "$1" "$GOAL" "$2"
}

for_each_platform measure skip
