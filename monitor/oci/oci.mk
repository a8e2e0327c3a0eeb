# Builds build/denali-oci, the runc-compatible OCI runtime (docs/OCI.md): a client of the daemon's
# API through the cli layer's HTTP client, so it links that library and nothing below it. Its
# parts other than main are a library too, for its unit test (tests/unit/test_oci.c).
OCI_SRCS := $(wildcard monitor/oci/*.c)
OCI_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(OCI_SRCS))

$(call layer_lib,oci): $(filter-out $(BUILD)/monitor/oci/oci_main.o,$(OCI_OBJS))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/denali-oci: $(BUILD)/monitor/oci/oci_main.o $(call layer_lib,oci) $(call layer_lib,cli)
	$(CC) $(LDFLAGS_HOST) -o $@ $^ -ljson-c -lcurl
