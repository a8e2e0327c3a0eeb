# Builds the monitor, build/denali, one library per layer of it (each a unit test can link with
# only the layers below it), and the process platform's VM-process program, build/denali-vmproc.
#
# Layers, each calling only those below it: daemon (`denali daemon`, the API server; it uses only
# the run option parser and the platforms' availability, and starts `denali run` monitors) and cli (the
# API's client commands; `run -d` checks its options with the same parser, and a VM's ports are
# read with net's publish rules); net (the LAN, NIC, uplinks) and disk (the block ring, disk images
# and their copy-on-write overlays), side by side, neither calling the other; sched (workers, exit
# handling, VMs), platform (kvm, process), image (ELF, layout, RAM), util (console, clock).
MONITOR_LAYERS := daemon cli net disk sched platform image util
layer_srcs = $(wildcard monitor/$(1)/*.c monitor/$(1)/*/*.c)
layer_lib  = $(BUILD)/monitor/libdenali_$(1).a
MONITOR_HDRS := $(wildcard monitor/*.h monitor/*/*.h monitor/*/*/*.h)
# The VM-process program's own sources are not part of any library.
VMPROC_DIR := monitor/platform/process
MONITOR_SRCS := $(filter-out $(VMPROC_DIR)/vmproc/%,$(foreach l,$(MONITOR_LAYERS),$(call layer_srcs,$(l))))
MONITOR_LIBS := $(foreach l,$(MONITOR_LAYERS),$(call layer_lib,$(l)))
# libslirp (Debian libslirp-dev for its header, libslirp0 at run time) gives `--net user` its
# TCP/IP to the host; net/slirp_library.c loads it only when an uplink needs it.
# libmicrohttpd serves the daemon's API, json-c reads and writes its JSON (and the control channel's),
# libcurl is the client commands' HTTP over the Unix socket.
MONITOR_LDLIBS := -lm -lmicrohttpd -ljson-c -lcurl

$(BUILD)/monitor/%.o: monitor/%.c $(MONITOR_HDRS) include/denali/abi.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_HOST) -c $< -o $@

define layer_rule
$(call layer_lib,$(1)): $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(VMPROC_DIR)/vmproc/%,$(call layer_srcs,$(1))))
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach l,$(MONITOR_LAYERS),$(eval $(call layer_rule,$(l))))

# The command itself: its option parsing is a library too, for its unit test.
$(call layer_lib,command): $(BUILD)/monitor/options.o
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/denali: $(BUILD)/monitor/main.o $(call layer_lib,command) $(MONITOR_LIBS) | $(BUILD)/denali-vmproc
	$(CC) $(LDFLAGS_HOST) -o $@ $^ $(MONITOR_LDLIBS)

# The VM process: freestanding (no libc, no TLS, no SSE: its code runs inside the guest's
# context), static, linked far above any guest address (position-independent code, so
# rip-relative addressing reaches it there), with a non-executable stack.
VMPROC_SRCS  := $(VMPROC_DIR)/vmproc/vmproc_main.c $(VMPROC_DIR)/vmproc/vmproc_entry.S \
	$(VMPROC_DIR)/vmproc/vmproc_libc.c $(VMPROC_DIR)/vmproc_filter.c
VMPROC_CFLAGS := $(CSTD) $(WARN) -O2 -g -Iinclude -Imonitor -ffreestanding -fno-builtin \
	-fno-stack-protector -fpie -mgeneral-regs-only -mno-red-zone \
	-fno-asynchronous-unwind-tables -fcf-protection=none
VMPROC_LDFLAGS := -nostdlib -static -no-pie -Wl,-Ttext-segment=0x600000000000 \
	-Wl,-T,$(VMPROC_DIR)/vmproc/vmproc.ld \
	-Wl,-z,noexecstack -Wl,-z,max-page-size=4096 -Wl,--build-id=none -Wl,--no-relax

$(BUILD)/denali-vmproc: $(VMPROC_SRCS) $(VMPROC_DIR)/vmproc_abi.h $(VMPROC_DIR)/vmproc_filter.h \
		$(VMPROC_DIR)/vmproc/vmproc.ld \
		include/denali/abi.h monitor/monitor.mk
	@mkdir -p $(@D)
	$(CC) $(VMPROC_CFLAGS) $(VMPROC_LDFLAGS) -o $@ $(VMPROC_SRCS)
