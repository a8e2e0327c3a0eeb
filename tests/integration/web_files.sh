#!/usr/bin/env bash
# httpd serving static files from its disk: exact bytes and Content-Length through --publish, 404s, refused escapes, -r, and 100 VMs on one read-only image.
set -u
. "$(dirname "$0")/../lib/harness.sh"

HTTPD="$GUESTS/httpd.elf"
# Ports of our own, away from web.sh's 26000-31599 blocks and below the kernel's ephemeral ports.
BASE=$((20000 + ($$ % 90) * 10))
"$DENALI_ROOT/tests/lib/make-fs-image.sh" "$WORK/img"
IMG="$WORK/img/disk.img"
TREE="$WORK/img/tree"

FLEET_LIMIT_S=180
HTTP_WAIT_S=60
# shellcheck source=tests/lib/fleet.sh
. "$DENALI_ROOT/tests/lib/fleet.sh"

# check_body NAME URL FILE: the body at URL is FILE byte for byte, and Content-Length is its size.
check_body() {
    local name=$1 url=$2 file=$3
    local code
    code=$(curl -s -m 10 -D "$WORK/headers" -o "$WORK/body" -w '%{http_code}' "$url")
    local length
    length=$(tr -d '\r' <"$WORK/headers" | sed -n 's/^[Cc]ontent-[Ll]ength: //p')
    if [ "$code" = 200 ] && cmp -s "$WORK/body" "$file" && [ "$length" = "$(wc -c <"$file")" ]; then
        ok "$name"
    else
        not_ok "$name"
        diag "status $code, Content-Length '$length', body $(wc -c <"$WORK/body") bytes," \
            "expected $(wc -c <"$file") bytes of $file"
    fi
}

start_fleet -n 1 -m 4M -p "$BASE:80" --stats --disk "$IMG,ro" "$HTTPD"
URL="http://127.0.0.1:$BASE"
if wait_http "$URL/doc/1"; then
    check_body "/ is the disk's /www/index.html" "$URL/" "$TREE/www/index.html"
    check_body "a 2,258-byte file: exact bytes and Content-Length" "$URL/page.txt" \
        "$TREE/www/page.txt"
    check_http "its Content-Type comes from its name" '^text/plain$' -o /dev/null \
        -w '%{content_type}' "$URL/page.txt"
    check_body "a directory serves its index.html" "$URL/docs/" "$TREE/www/docs/index.html"
    check_http "HEAD gives a file's length and no body" '^200 0$' -I -o /dev/null \
        -w '%{http_code} %{size_download}' "$URL/page.txt"
    check_http "a missing file is 404" '^404$' -o /dev/null -w '%{http_code}' "$URL/missing.html"
    check_http "a missing directory is 404" '^404$' -o /dev/null -w '%{http_code}' \
        "$URL/no/such/dir/page.txt"
    check_http "a path escaping the root with .. is refused" '^403$' --path-as-is -o /dev/null \
        -w '%{http_code}' "$URL/../hello.txt"
    check_http "an escape hidden as %2e%2e is refused too" '^403$' --path-as-is -o /dev/null \
        -w '%{http_code}' "$URL/docs/%2e%2e/%2E%2E/hello.txt"
    check_http "/doc/SIZE is still generated" '^200 2258$' -o /dev/null \
        -w '%{http_code} %{size_download}' "$URL/doc/2258"
    check_http "several files on one keep-alive connection" '^200 1;200 0;404 0;$' \
        -w '%{http_code} %{num_connects};' -o /dev/null "$URL/page.txt" -o /dev/null \
        "$URL/index.html" -o /dev/null "$URL/nope"
    # 300 more requests for the same file: its blocks, and the metadata the lookup reads, stay
    # in ilwaco's block cache, so they cost the ring nothing (checked below).
    many=()
    for _ in $(seq 1 100); do many+=(-o /dev/null "$URL/page.txt"); done
    for _ in $(seq 1 3); do curl -s -m 20 "${many[@]}"; done
else
    not_ok "httpd with a disk answers"
fi
stop_fleet
requests=$(grep -o 'denali-disk: .*' "$WORK/out" | grep -o ' requests=[0-9]*' | cut -d= -f2)
if [ -n "$requests" ] && [ "$requests" -lt 60 ]; then
    ok "about 315 requests for a few files took under 60 disk requests (the block cache)"
    diag "disk requests: $requests"
else
    fail "about 315 requests for a few files took under 60 disk requests (the block cache)" \
        "disk requests: ${requests:-none reported}"
fi

# -r: another root; a file bigger than the send buffer, sent in many reads.
start_fleet -n 1 -m 4M -p "$((BASE + 1)):80" --disk "$IMG,ro" "$HTTPD" -r /data
if wait_http "http://127.0.0.1:$((BASE + 1))/doc/1"; then
    check_body "httpd -r /data: a 100,000-byte file arrives whole" \
        "http://127.0.0.1:$((BASE + 1))/pattern.bin" "$TREE/data/pattern.bin"
    check_http "httpd -r /data: / without an index.html is the VM's name page" 'Denali VM 0 of 1' \
        "http://127.0.0.1:$((BASE + 1))/"
else
    not_ok "httpd -r /data answers"
fi
stop_fleet

# Clones of a VM that attached its disk before its ready call each mount it at their first request.
start_fleet --clone -n 3 -m 4M -p "$((BASE + 2))-$((BASE + 4)):80" --disk "$IMG,ro" "$HTTPD"
if wait_http "http://127.0.0.1:$((BASE + 4))/doc/1"; then
    check_body "--clone: clone 2 serves the disk's file" "http://127.0.0.1:$((BASE + 4))/page.txt" \
        "$TREE/www/page.txt"
    check_body "--clone: clone 1 serves the disk's file" "http://127.0.0.1:$((BASE + 3))/page.txt" \
        "$TREE/www/page.txt"
else
    not_ok "--clone: clones serve the disk's files"
fi
stop_fleet

boot -n 1 -m 4M --net none "$HTTPD" -r www
expect "httpd -r with a relative path is refused" 1 "httpd: bad root 'www'" 'vm 0 exited 2$'

# --- 100 VMs serving files from one read-only image (issue 12, section 3)
N=100
# A block of 100 ports in 27000-27899 that can all be listened on now (as slirp binds them).
FIRST=$(free_port_block 100 27000 27899)
start_fleet -n "$N" -m 4M -p "$FIRST-$((FIRST + N - 1)):80" --disk "$IMG,ro" "$HTTPD" -q
if wait_http "http://127.0.0.1:$((FIRST + N - 1))/page.txt"; then
    wrong=()
    for vm in $(seq 0 $((N - 1))); do
        curl -s -m 10 -o "$WORK/vm-page" "http://127.0.0.1:$((FIRST + vm))/page.txt" &&
            cmp -s "$WORK/vm-page" "$TREE/www/page.txt" || wrong+=("$vm")
    done
    if [ ${#wrong[@]} -eq 0 ]; then
        ok "100 VMs on one read-only image each serve the 2,258-byte file exactly"
    else
        not_ok "100 VMs on one read-only image each serve the 2,258-byte file exactly"
        diag "VMs that did not: ${wrong[*]}"
    fi
else
    not_ok "100 VMs on one read-only image each serve the 2,258-byte file exactly"
    diag "VM $((N - 1)) never answered"
fi
stop_fleet
expect "the 100 VMs stop on SIGINT" 1 "^denali: $N VMs: 0 exited 0, 0 exited non-zero, $N stopped$"

finish
