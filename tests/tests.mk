# Unit tests: each tests/unit/test_*.c becomes $(BUILD)/tests/unit/test_* (phony target unit-tests).
#
# Each links with the monitor's library of pure parts, the C helpers in tests/lib and cmocka, and
# needs no /dev/kvm. tests/run-tests.sh runs them all, then the integration scripts.
UNIT_TEST_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS     := $(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
TEST_LIB_SRCS  := $(wildcard tests/lib/*.c)
TEST_LIB_OBJS  := $(TEST_LIB_SRCS:%.c=$(BUILD)/%.o)
TEST_HEADERS   := $(wildcard tests/lib/*.h) $(wildcard monitor/*.h) include/denali/abi.h
CFLAGS_TEST    := $(CFLAGS_HOST) -Itests/lib
TEST_LDLIBS    := $(MONITOR_LIB) -lcmocka -pthread $(MONITOR_LDLIBS)

.PHONY: unit-tests
unit-tests: $(UNIT_TESTS)

$(TEST_LIB_OBJS): $(BUILD)/tests/lib/%.o: tests/lib/%.c $(TEST_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TEST) -c $< -o $@

$(BUILD)/tests/unit/%: tests/unit/%.c $(TEST_LIB_OBJS) $(MONITOR_LIB) $(TEST_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_TEST) -o $@ $< $(TEST_LIB_OBJS) $(TEST_LDLIBS)

