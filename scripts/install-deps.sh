#!/bin/sh
# Installs what building Denali needs on Debian 12; does nothing on a machine that has it all.
set -eu

# clang builds the libFuzzer targets (tests/fuzz), whose runtime (libFuzzer, the sanitizers) is in
# libclang-rt-14-dev, only recommended by clang.
PACKAGES="build-essential dpkg-dev libcmocka-dev clang-format libslirp-dev iproute2 curl gnuplot-nox \
    libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev clang libclang-rt-14-dev"
# promtool checks the daemon's /metrics (tests/integration/api.sh). It comes from Debian's
# prometheus package, unpacked here rather than installed: installing it would also enable and
# start a Prometheus server on a host running systemd.
PROMTOOL_DIR=build/tools/prometheus
SRC_LIST=/etc/apt/sources.list.d/denali-src.sources

# unpack_promtool: Debian's promtool under $PROMTOOL_DIR, unless one is there or on PATH already.
unpack_promtool()
{
    if command -v promtool >/dev/null 2>&1 || [ -x "$PROMTOOL_DIR/usr/bin/promtool" ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "install-deps.sh: no promtool (run as root to unpack it); api.sh skips its check" >&2
        return 0
    fi
    mkdir -p "$PROMTOOL_DIR"
    if (cd "$PROMTOOL_DIR" && apt-get download prometheus >/dev/null 2>&1) &&
        dpkg-deb -x "$PROMTOOL_DIR"/prometheus_*.deb "$PROMTOOL_DIR"; then
        echo "install-deps.sh: unpacked promtool into $PROMTOOL_DIR"
    else
        echo "install-deps.sh: could not unpack promtool; api.sh skips its check" >&2
    fi
    rm -f "$PROMTOOL_DIR"/prometheus_*.deb
}

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    case "$status" in
    ii*) ;;
    *) missing="$missing $pkg" ;;
    esac
done

# libos/build-musl.sh runs `apt-get source musl`, which needs a deb-src index.
need_src=0
if ! apt-cache showsrc musl 2>/dev/null | grep -q '^Package: musl'; then
    need_src=1
fi

if [ -z "$missing" ] && [ "$need_src" = 0 ]; then
    unpack_promtool
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    what="$missing"
    [ "$need_src" = 1 ] && what="$what (deb-src index for musl)"
    echo "install-deps.sh: must run as root to install:$what" >&2
    exit 1
fi

if [ "$need_src" = 1 ] && [ ! -e "$SRC_LIST" ]; then
    cat >"$SRC_LIST" <<'SOURCES'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    echo "install-deps.sh: added $SRC_LIST"
fi

echo "install-deps.sh: updating package lists"
apt-get update -qq

if [ -n "$missing" ]; then
    echo "install-deps.sh: installing$missing"
    # $missing is a space-separated list of package names: word splitting is intended.
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! apt-cache showsrc musl 2>/dev/null | grep -q '^Package: musl'; then
    echo "install-deps.sh: still no source index for musl; check $SRC_LIST" >&2
    exit 1
fi

unpack_promtool
