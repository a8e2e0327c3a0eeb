#!/bin/sh
# Installs what building Denali needs on Debian 12; does nothing on a machine that has it all.
set -eu

# clang builds the libFuzzer targets (tests/fuzz), whose runtime (libFuzzer, the sanitizers) is in
# libclang-rt-14-dev, only recommended by clang; prometheus brings promtool, which checks the
# daemon's /metrics. Its postinst enables a Prometheus service: in a container without an init
# system (CI) that starts nothing; on a host running systemd it starts a server on port 9090.
PACKAGES="build-essential dpkg-dev libcmocka-dev clang-format libslirp-dev iproute2 curl gnuplot-nox \
    libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev clang libclang-rt-14-dev prometheus"
SRC_LIST=/etc/apt/sources.list.d/denali-src.sources

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
