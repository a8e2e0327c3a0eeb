# Unit tests: each tests/unit/test_*.c becomes $(BUILD)/tests/unit/test_* (phony target unit-tests).
#
# Each links with the monitor's layer libraries it tests and those below it only (so the network's
# tests link no scheduler or platform code), the C helpers in tests/lib and cmocka, and needs no
# /dev/kvm. tests/run-tests.sh runs them all, then the integration scripts.
UNIT_TEST_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS     := $(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
TEST_LIB_SRCS  := $(wildcard tests/lib/*.c)
TEST_LIB_OBJS  := $(TEST_LIB_SRCS:%.c=$(BUILD)/%.o)
TEST_HEADERS   := $(wildcard tests/lib/*.h) $(MONITOR_HDRS) include/denali/abi.h
CFLAGS_TEST    := $(CFLAGS_HOST) -Itests/lib

# The layers each test links, top first; a test not listed links them all.
TEST_LAYERS_test_console        := util
TEST_LAYERS_test_elf_image      := image util
TEST_LAYERS_test_guest_layout   := image util
TEST_LAYERS_test_sched_queue    := sched util
TEST_LAYERS_test_residency      := sched util
TEST_LAYERS_test_exit_handler   := sched platform image util
TEST_LAYERS_test_frame_view     := net image util
TEST_LAYERS_test_guest_sockets  := net image util
TEST_LAYERS_test_ipv4_fragment  := net image util
TEST_LAYERS_test_lan            := net image util
TEST_LAYERS_test_publish        := net image util
TEST_LAYERS_test_uplink_slirp   := net sched image util
TEST_LAYERS_test_options        := command net platform image util
TEST_LAYERS_test_cli_create_body := cli command net platform image util
TEST_LAYERS_test_cli_view       := cli net image util
TEST_LAYERS_test_vmproc_filter  := platform image util
TEST_LAYERS_test_process_platform := platform image util
TEST_LAYERS_test_kvm_memory     := platform image util
TEST_LAYERS_test_ram_pool       := image util
TEST_LAYERS_test_vm_name        := util
TEST_LAYERS_test_snapshot_file  := image util
TEST_LAYERS_test_block_port     := disk image util
TEST_LAYERS_test_disk_image     := disk image util
TEST_LAYERS_test_create_request := daemon util
TEST_LAYERS_test_registry       := daemon util
TEST_LAYERS_test_oci            := oci cli
test_layers = $(or $(TEST_LAYERS_$(1)),command $(MONITOR_LAYERS))
test_libs   = $(foreach l,$(call test_layers,$(1)),$(call layer_lib,$(l)))

# Fuzz targets (libFuzzer, in Debian's clang), run for a bounded time by tests/integration/fuzz.sh.
FUZZ_TARGETS := $(BUILD)/tests/fuzz/fuzz_create_request
$(BUILD)/tests/fuzz/fuzz_create_request: tests/fuzz/fuzz_create_request.c \
		monitor/daemon/create_request.c monitor/daemon/create_request.h \
		monitor/util/vm_name.c monitor/util/vm_name.h
	@mkdir -p $(@D)
	clang $(CSTD) $(WARN) -g -O1 -Imonitor -Iinclude -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -o $@ $(filter %.c,$^) -ljson-c

.PHONY: unit-tests
unit-tests: $(UNIT_TESTS) $(FUZZ_TARGETS)

$(TEST_LIB_OBJS): $(BUILD)/tests/lib/%.o: tests/lib/%.c $(TEST_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TEST) -c $< -o $@

.SECONDEXPANSION:
$(BUILD)/tests/unit/%: tests/unit/%.c $(TEST_LIB_OBJS) $$(call test_libs,%) $(TEST_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(TEST_LIB_OBJS) $(call test_libs,$*) -lcmocka -pthread \
		$(MONITOR_LDLIBS)


# Test tools: small programs the integration scripts drive (build/tests/tools/*).
TEST_TOOL_SRCS := $(wildcard tests/tools/*.c)
TEST_TOOLS     := $(TEST_TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
unit-tests: $(TEST_TOOLS)

$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $<

# openapi_check checks the daemon's answers against docs/api/openapi.json; it reads JSON.
$(BUILD)/tests/tools/openapi_check: tests/tools/openapi_check.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $< -ljson-c
