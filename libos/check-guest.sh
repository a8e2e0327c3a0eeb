#!/bin/sh
# Checks that a linked guest ELF has the layout the Denali monitor loads; run after every link.
#
# Usage: libos/check-guest.sh GUEST.elf
# Fails (exit 1, one line per problem) unless: static ELF64 executable, first
# PT_LOAD at DENALI_IMAGE_BASE, every PT_LOAD page-aligned in memory and in
# the file with no page shared, none writable and executable, read-only ones
# with no bss, all below DENALI_IMAGE_LIMIT, the Denali ABI note in a PT_NOTE,
# a non-executable PT_GNU_STACK, and no undefined strong symbols.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 GUEST.elf" >&2
    exit 2
fi
elf=$1

# Keep in step with include/denali/abi.h.
IMAGE_BASE=0x100000
IMAGE_LIMIT=0x1000000

problems=$(readelf -hlW "$elf" | awk -v base=$((IMAGE_BASE)) -v limit=$((IMAGE_LIMIT)) '
# Hex by hand: mawk, the default awk on Debian, has no strtonum.
function num(s,    i, v) {
    s = tolower(s); sub(/^0x/, "", s); v = 0
    for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
    return v
}
function page_up(x) { return int((x + 4095) / 4096) * 4096 }
function bad(msg) { print msg; nbad++ }
/^  Class:/ && $2 != "ELF64" { bad("not ELF64") }
/^  Type:/ && $2 != "EXEC" { bad("not a static executable (type " $2 ")") }
/^  Machine:/ && $0 !~ /X86-64/ { bad("not x86-64") }
$1 == "INTERP" || $1 == "DYNAMIC" { bad("has " $1 ": must be linked statically") }
$1 == "NOTE" { notes++ }
$1 == "GNU_STACK" && $0 ~ / RWE / { bad("executable stack (PT_GNU_STACK RWE)") }
$1 == "LOAD" {
    off = num($2); va = num($3); fsz = num($5); msz = num($6)
    w = ($0 ~ / RW/); x = ($0 ~ / R?W?E /)
    n++
    if (n == 1 && va != base) bad(sprintf("first PT_LOAD at %#x, not %#x", va, base))
    if (va % 4096 != 0) bad(sprintf("PT_LOAD at %#x is not page-aligned", va))
    if (off % 4096 != va % 4096) bad(sprintf("PT_LOAD at %#x: file offset %#x not congruent mod 4096", va, off))
    if (w && x) bad(sprintf("PT_LOAD at %#x is writable and executable", va))
    if (!w && msz != fsz) bad(sprintf("read-only PT_LOAD at %#x has memsz %#x != filesz %#x", va, msz, fsz))
    if (va + msz > limit) bad(sprintf("PT_LOAD at %#x ends above %#x", va, limit))
    if (n > 1 && va < prev_vend) bad(sprintf("PT_LOAD at %#x shares a page with the one before", va))
    if (n > 1 && fsz > 0 && off < prev_fend) bad(sprintf("PT_LOAD at %#x shares a file page with the one before", va))
    prev_vend = page_up(va + msz)
    if (fsz > 0) prev_fend = page_up(off + fsz)
}
END {
    if (n == 0) bad("no PT_LOAD segments")
    if (notes == 0) bad("no PT_NOTE segment")
}')

if ! readelf -nW "$elf" | grep -q '^  Denali '; then
    problems="$problems
no Denali ABI note (is crt0.o linked?)"
fi

undefined=$(readelf -sW "$elf" | awk '$7 == "UND" && $5 == "GLOBAL" { print $8 }')
if [ -n "$undefined" ]; then
    problems="$problems
$(echo "$undefined" | wc -l) undefined symbols: $(echo "$undefined" | head -n 8 | tr '\n' ' ')"
fi

problems=$(printf '%s\n' "$problems" | sed '/^$/d')
if [ -n "$problems" ]; then
    printf '%s\n' "$problems" | sed "s|^|$elf: |" >&2
    exit 1
fi
