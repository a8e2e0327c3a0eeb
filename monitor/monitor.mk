# Builds the monitor, build/denali, the library of its parts that unit tests link, and the
# process platform's VM-process program, build/denali-vmproc.
MONITOR_SRCS := $(filter-out monitor/main.c,$(wildcard monitor/*.c monitor/platform/*.c \
	monitor/platform/kvm/*.c monitor/platform/process/*.c))
MONITOR_OBJS := $(MONITOR_SRCS:%.c=$(BUILD)/%.o)
MONITOR_HDRS := $(wildcard monitor/*.h monitor/platform/*.h monitor/platform/*/*.h)
MONITOR_LIB  := $(BUILD)/monitor/libmonitor.a
# libslirp (Debian libslirp-dev) gives `--net user` its TCP/IP to the host.
MONITOR_LDLIBS := -lslirp -lm

$(BUILD)/monitor/%.o: monitor/%.c $(MONITOR_HDRS) include/denali/abi.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_HOST) -c $< -o $@

$(MONITOR_LIB): $(MONITOR_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/denali: $(BUILD)/monitor/main.o $(MONITOR_LIB) | $(BUILD)/denali-vmproc
	$(CC) $(LDFLAGS_HOST) -o $@ $^ $(MONITOR_LDLIBS)

# The VM process: freestanding (no libc, no TLS, no SSE: its code runs inside the guest's
# context), static, linked far above any guest address (position-independent code, so
# rip-relative addressing reaches it there), with a non-executable stack.
VMPROC_DIR   := monitor/platform/process
VMPROC_SRCS  := $(VMPROC_DIR)/vmproc/vmproc_main.c $(VMPROC_DIR)/vmproc/vmproc_entry.S \
	$(VMPROC_DIR)/vmproc_filter.c
VMPROC_CFLAGS := $(CSTD) $(WARN) -O2 -g -Iinclude -Imonitor -ffreestanding -fno-builtin \
	-fno-stack-protector -fpie -mgeneral-regs-only -mno-red-zone \
	-fno-asynchronous-unwind-tables -fcf-protection=none
VMPROC_LDFLAGS := -nostdlib -static -no-pie -Wl,-Ttext-segment=0x600000000000 \
	-Wl,-z,noexecstack -Wl,-z,max-page-size=4096 -Wl,--build-id=none -Wl,--no-relax

$(BUILD)/denali-vmproc: $(VMPROC_SRCS) $(VMPROC_DIR)/vmproc_abi.h $(VMPROC_DIR)/vmproc_filter.h \
		include/denali/abi.h monitor/monitor.mk
	@mkdir -p $(@D)
	$(CC) $(VMPROC_CFLAGS) $(VMPROC_LDFLAGS) -o $@ $(VMPROC_SRCS)
