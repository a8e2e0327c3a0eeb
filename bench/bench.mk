# Benchmarks: the raw bare-KVM floors, built to $(BUILD)/bench/ (drivers are bench/*.sh).
BENCH_TOOLS := raw_exit raw_boot raw_scale
BENCH_BINS  := $(addprefix $(BUILD)/bench/,$(BENCH_TOOLS))
BENCH_OBJS  := $(addprefix $(BUILD)/bench/,$(addsuffix .o,$(BENCH_TOOLS) bare_kvm))
# The clock, sorting, /proc memory figures and sibling-tool lookup every floor shares.
BENCH_UTIL  := $(BUILD)/bench/bench_util.o

$(BENCH_UTIL): bench/bench_util.c bench/bench_util.h bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -c -o $@ $<

.PHONY: bench-tools
bench-tools: $(BENCH_BINS)

$(BENCH_OBJS): $(BUILD)/bench/%.o: bench/%.c bench/bare_kvm.h bench/bench_util.h bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -c -o $@ $<

$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/bench/bare_kvm.o $(BENCH_UTIL)
	$(CC) -o $@ $^ $(LDFLAGS_HOST)

# zipf, the HTTP load generator: a plain host program, no KVM.
bench-tools: $(BUILD)/bench/zipf

$(BUILD)/bench/zipf: bench/zipf.c bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $< $(LDFLAGS_HOST) -lm

# tcp_bulk, the host-loopback floor of bench/lan_bulk.sh: one TCP connection, N MiB sent.
bench-tools: $(BUILD)/bench/tcp_bulk

$(BUILD)/bench/tcp_bulk: bench/tcp_bulk.c bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $< $(LDFLAGS_HOST)

# Floors of the process platform (no KVM): plain host programs.
PROCESS_FLOORS := futex_pingpong spawn_floor idle_procs start_exit
PROCESS_FLOOR_BINS := $(addprefix $(BUILD)/bench/,$(PROCESS_FLOORS))
bench-tools: $(PROCESS_FLOOR_BINS) $(BUILD)/bench/spawn_child $(BUILD)/bench/idle_child \
	$(BUILD)/bench/native_hello

$(PROCESS_FLOOR_BINS): $(BUILD)/bench/%: bench/%.c $(BENCH_UTIL) bench/bench_util.h bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $< $(BENCH_UTIL) $(LDFLAGS_HOST)

# What spawn_floor and idle_procs start: static, no libc and no start-up code, as the monitor's
# VM-process program, so the kernel's work for a process is all that is measured. The loop
# pattern flag keeps the compiler from turning idle_child's own memcpy into a call to itself.
PROCESS_FLOOR_CHILD_FLAGS := $(CSTD) $(WARN) -O2 -ffreestanding -fno-stack-protector -fno-pie \
	-no-pie -static -nostdlib -fno-tree-loop-distribute-patterns

$(BUILD)/bench/spawn_child: bench/spawn_child.c bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(PROCESS_FLOOR_CHILD_FLAGS) -o $@ $<

# idle_child shares the VM-process program's memcpy and memset, as it mirrors that program.
FREESTANDING_LIBC := monitor/platform/process/vmproc/vmproc_libc.c
$(BUILD)/bench/idle_child: bench/idle_child.c $(FREESTANDING_LIBC) bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(PROCESS_FLOOR_CHILD_FLAGS) -o $@ bench/idle_child.c $(FREESTANDING_LIBC)

# A static native hello: the start-to-exit floor of boot.sh.
$(BUILD)/bench/native_hello: bench/native_hello.c bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) -O2 -static -o $@ $<

# platform_boot, the platform's bare create floor: the monitor's own vm_boot and platform layers,
# with no scheduler, so the difference to `denali run` is the scheduler's and the rest the platform's.
PLATFORM_BOOT_LIBS := $(foreach l,sched platform image util,$(call layer_lib,$(l)))
bench-tools: $(BUILD)/bench/platform_boot

$(BUILD)/bench/platform_boot: bench/platform_boot.c $(PLATFORM_BOOT_LIBS) $(BENCH_UTIL) \
		bench/bench_util.h bench/bench.mk | $(BUILD)/denali-vmproc
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $< $(BENCH_UTIL) $(PLATFORM_BOOT_LIBS) $(LDFLAGS_HOST)

# disk_floor, disk.sh's floor: the bench guest's reads, by pread of the same image on the host.
bench-tools: $(BUILD)/bench/disk_floor

$(BUILD)/bench/disk_floor: bench/disk_floor.c $(BENCH_UTIL) bench/bench_util.h bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $< $(BENCH_UTIL) $(LDFLAGS_HOST)

# fork_floor, clone.sh's bound: static like the VM-process program, forking one child at a time.
bench-tools: $(BUILD)/bench/fork_floor

$(BUILD)/bench/fork_floor: bench/fork_floor.c bench/bench_util.c bench/bench_util.h bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CSTD) $(WARN) -O2 -static -o $@ bench/fork_floor.c bench/bench_util.c

# docs/denali-cliff.png from the data bench/cliff.sh wrote (run it first; needs gnuplot).
.PHONY: plot-cliff
plot-cliff:
	bench/plot_cliff.sh

# docs/denali-*.png from the kept summary lines (bench/plots.sh), and docs/denali-cliff.png when
# bench/cliff.sh's data is there. Draws only: it never runs a benchmark.
BENCH_RESULTS ?= $(BUILD)/bench-results/summary.txt
.PHONY: plots
plots:
	@if [ ! -e "$(BENCH_RESULTS)" ]; then \
		echo "make plots: no benchmark results in $(BENCH_RESULTS); run make bench (every driver, a long" \
			"run), or only the drivers the figures need: bench/web_scale.sh, bench/web_batch.sh," \
			"bench/web_idle.sh, bench/scale.sh (see bench/README.md, Plots)" >&2; \
		exit 1; \
	fi
	bench/plots.sh "$(BENCH_RESULTS)"
	@cliff=$${CLIFF_DATA:-$(BUILD)/bench-results/cliff.dat}; \
	if [ -e "$$cliff" ]; then \
		bench/plot_cliff.sh "$$cliff"; \
	else \
		echo "make plots: no cliff data ($$cliff): docs/denali-cliff.png left as it is" \
			"(bench/cliff.sh writes the data)"; \
	fi

# api_bench, bench/api.sh's client: libcurl over the daemon's socket, json-c for its answers.
bench-tools: $(BUILD)/bench/api_bench

$(BUILD)/bench/api_bench: bench/api_bench.c $(BENCH_UTIL) bench/bench_util.h bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -o $@ $< $(BENCH_UTIL) $(LDFLAGS_HOST) -lcurl -ljson-c
