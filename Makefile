# Top-level build: the monitor, the ilwaco library OS, guests, tests and benchmarks.
BUILD    := build
CC       ?= cc
CSTD     := -std=c11 -D_GNU_SOURCE
WARN     := -Wall -Wextra -Werror
CFLAGS_HOST := $(CSTD) $(WARN) -O2 -g -Iinclude -Imonitor -pthread
LDFLAGS_HOST := -pthread

.PHONY: all test bench clean format check-format
all: $(BUILD)/denali $(BUILD)/denali-oci guests test-guests bench-tools unit-tests

include monitor/monitor.mk
include monitor/oci/oci.mk
include libos/libos.mk
include guests/guests.mk
include tests/guests/guests.mk
include tests/tests.mk
include bench/bench.mk

test: all
	tests/run-tests.sh

bench: all
	bench/run-all.sh

format:
	clang-format -i $(FORMAT_SOURCES)

check-format:
	clang-format --dry-run -Werror $(FORMAT_SOURCES)

clean:
	rm -rf $(BUILD)

FORMAT_SOURCES = $(shell git ls-files '*.c' '*.h')
