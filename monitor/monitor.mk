# Builds the monitor, build/denali, and the library of its pure parts that unit tests link.
MONITOR_SRCS := $(filter-out monitor/main.c,$(wildcard monitor/*.c))
MONITOR_OBJS := $(MONITOR_SRCS:%.c=$(BUILD)/%.o)
MONITOR_LIB  := $(BUILD)/monitor/libmonitor.a
# libslirp (Debian libslirp-dev) gives `--net user` its TCP/IP to the host.
MONITOR_LDLIBS := -lslirp -lm

$(BUILD)/monitor/%.o: monitor/%.c $(wildcard monitor/*.h) include/denali/abi.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_HOST) -c $< -o $@

$(MONITOR_LIB): $(MONITOR_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/denali: $(BUILD)/monitor/main.o $(MONITOR_LIB)
	$(CC) $(LDFLAGS_HOST) -o $@ $^ $(MONITOR_LDLIBS)
