# Builds build/denali-oci, the runc-compatible OCI runtime (docs/OCI.md): a client of the daemon's
# API through the cli layer's HTTP client, so it links that library and nothing below it.
OCI_SRCS := $(wildcard monitor/oci/*.c)
OCI_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(OCI_SRCS))

$(BUILD)/denali-oci: $(OCI_OBJS) $(call layer_lib,cli)
	$(CC) $(LDFLAGS_HOST) -o $@ $^ -ljson-c -lcurl
