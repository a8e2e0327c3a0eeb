#!/bin/sh
# The whole test suite: installs what is missing, builds everything, and runs every test.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j2 all
exec tests/run-tests.sh
