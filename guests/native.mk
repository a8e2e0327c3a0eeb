# The network guests built as ordinary host programs in $(BUILD)/native/, to test them without a VM.
NATIVE_GUESTS := httpd echo
NATIVE_GUEST_BINS := $(NATIVE_GUESTS:%=$(BUILD)/native/%)
NATIVE_GUEST_OBJS := $(NATIVE_GUESTS:%=$(BUILD)/native/%.o) $(BUILD)/native/net_common.o

$(NATIVE_GUEST_OBJS): $(BUILD)/native/%.o: guests/%.c guests/native.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_HOST) -MMD -MP -c -o $@ $<

$(NATIVE_GUEST_BINS): $(BUILD)/native/%: $(BUILD)/native/%.o $(BUILD)/native/net_common.o
	$(CC) -o $@ $^ $(LDFLAGS_HOST)

-include $(NATIVE_GUEST_OBJS:.o=.d)
