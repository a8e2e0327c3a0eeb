#!/usr/bin/env bash
# Integration test: build/denali's command-line and image errors, checked without booting a guest.
# shellcheck source=tests/lib/tap.sh
. "$(dirname "$0")/../lib/tap.sh"

if [ ! -x "$DENALI" ]; then
    not_ok "$DENALI exists (run make first)"
    finish
fi
tap_tmpdir

# The command line.
check_run "no arguments: exit 2 and usage" 2 "usage: denali" "$DENALI"
check_run "denali --help: exit 0 and usage" 0 "usage: denali" "$DENALI" --help
check_run "denali run --help: exit 0 and lists --count" 0 "--count" "$DENALI" run --help
check_run "unknown command: exit 2" 2 "unknown command 'frobnicate'" "$DENALI" frobnicate
check_run "unknown option: exit 2" 2 "unknown option '--bogus'" "$DENALI" run --bogus x.elf
check_run "--mem 3M: exit 2 with a reason" 2 "--mem: '3M'" "$DENALI" run --mem 3M x.elf
check_run "--count 0: exit 2 with a reason" 2 "--count" "$DENALI" run --count 0 x.elf
check_run "option without its value: exit 2" 2 "needs a value" "$DENALI" run --mem
check_run "no IMAGE: exit 2" 2 "no IMAGE" "$DENALI" run -n 2

# Platforms: a bad name is a usage error; one the host cannot run is a clear error, exit 2.
check_run "--platform bogus: exit 2 with a reason" 2 "expected kvm, process or auto" \
    "$DENALI" run --platform bogus "$DENALI_ROOT/build/guests/hello.elf"
check_run "DENALI_PLATFORM=bogus: exit 2 with a reason" 2 "DENALI_PLATFORM" \
    env DENALI_PLATFORM=bogus "$DENALI" run "$DENALI_ROOT/build/guests/hello.elf"
check_run "denali platforms: a verdict for each platform and auto's pick" 0 "auto: " \
    "$DENALI" platforms
if "$DENALI" platforms | grep -q '^kvm: unavailable'; then
    check_run "--platform kvm without a usable /dev/kvm: exit 2 naming why" 2 "platform kvm: " \
        "$DENALI" run --platform kvm "$DENALI_ROOT/build/guests/hello.elf"
else
    skip "--platform kvm without a usable /dev/kvm: exit 2" "this host has a usable /dev/kvm"
fi
if "$DENALI" platforms | grep -q '^process: available'; then
    check_run "a VM-process program that cannot run: exit 2 naming it" 2 "/nonexistent/vmproc" \
        env DENALI_VMPROC=/nonexistent/vmproc "$DENALI" run --platform process \
        "$DENALI_ROOT/build/guests/hello.elf"
else
    skip "a VM-process program that cannot run: exit 2" "no process platform here"
fi

# Images that cannot run.
missing=$TAP_TMP/no-such-image.elf
check_run "missing image: exit 2 naming the path" 2 "$missing" "$DENALI" run "$missing"
printf '#!/bin/sh\n# A shell script is no guest image, whatever its name says.\necho hello\n' \
    >"$TAP_TMP/text.elf"
check_run "non-ELF file: exit 2, not an ELF" 2 "not an ELF" "$DENALI" run "$TAP_TMP/text.elf"
: >"$TAP_TMP/empty.elf"
check_run "empty file: exit 2" 2 "$TAP_TMP/empty.elf" "$DENALI" run "$TAP_TMP/empty.elf"
check_run "directory as image: exit 2" 2 "$TAP_TMP" "$DENALI" run "$TAP_TMP"
head -c 100 /bin/true >"$TAP_TMP/true-truncated"
check_status "truncated host ELF: exit 2" 2 "$DENALI" run "$TAP_TMP/true-truncated"
check_run "host binary /bin/true: exit 2" 2 "" "$DENALI" run /bin/true
check_output_matches "host binary /bin/true: says it is not a static executable" \
    "dynamic|not a static executable" "$DENALI" run /bin/true

# Hand-made static ELFs with text at the image base: one without the Denali note, one whose note
# carries another ABI version (which shows the note itself is well formed).
craft()
{
    local name=$1 note=$2
    {
        printf '.text\n.globl _start\n_start:\n  ud2\n'
        if [ -n "$note" ]; then
            printf '.section .note.denali,"a",@note\n.balign 4\n'
            printf '.long 7, 4, 1\n.asciz "Denali"\n.balign 4\n.long %s\n' "$note"
        fi
    } >"$TAP_TMP/$name.s"
    cat >"$TAP_TMP/$name.ld" <<'LD'
ENTRY(_start)
PHDRS { text PT_LOAD FLAGS(5); note PT_NOTE FLAGS(4); }
SECTIONS {
  . = 0x100000;
  .text : { *(.text) } :text
  .note.denali : { *(.note.denali) } :text :note
}
LD
    as --64 -o "$TAP_TMP/$name.o" "$TAP_TMP/$name.s" &&
        ld -static -nostdlib -z max-page-size=4096 -T "$TAP_TMP/$name.ld" \
            -o "$TAP_TMP/$name.elf" "$TAP_TMP/$name.o"
}
if command -v as >/dev/null && command -v ld >/dev/null; then
    if craft no-note "" && craft abi-other 99; then
        ok "crafted static ELFs link"
        check_run "static ELF without the Denali note: exit 2" 2 "no Denali ABI note" \
            "$DENALI" run "$TAP_TMP/no-note.elf"
        check_run "static ELF with another ABI version: exit 2" 2 "ABI 99" \
            "$DENALI" run "$TAP_TMP/abi-other.elf"
        head -c 100 "$TAP_TMP/abi-other.elf" >"$TAP_TMP/short.elf"
        check_run "truncated static ELF: exit 2, truncated" 2 "truncated" \
            "$DENALI" run "$TAP_TMP/short.elf"
        head -c 40 "$TAP_TMP/abi-other.elf" >"$TAP_TMP/shorter.elf"
        check_run "ELF cut inside its header: exit 2, truncated" 2 "truncated" \
            "$DENALI" run "$TAP_TMP/shorter.elf"
    else
        not_ok "crafted static ELFs link"
    fi
else
    skip "crafted static ELFs" "as/ld not installed"
fi

finish
