# Benchmarks: the raw bare-KVM floors, built to $(BUILD)/bench/ (drivers are bench/*.sh).
BENCH_TOOLS := raw_exit raw_boot raw_scale
BENCH_BINS  := $(addprefix $(BUILD)/bench/,$(BENCH_TOOLS))
BENCH_OBJS  := $(addprefix $(BUILD)/bench/,$(addsuffix .o,$(BENCH_TOOLS) bare_kvm))

.PHONY: bench-tools
bench-tools: $(BENCH_BINS)

$(BENCH_OBJS): $(BUILD)/bench/%.o: bench/%.c bench/bare_kvm.h bench/bench.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -c -o $@ $<

$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/bench/bare_kvm.o
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
