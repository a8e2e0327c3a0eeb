# Example guests, each built to $(BUILD)/guests/<name>.elf; included by the top Makefile.
GUESTS := hello idle spin hcbench boot ready balloon pattern diskbench

$(foreach g,$(GUESTS),$(call ilwaco_guest,$(BUILD)/guests/$(g).elf,guests/$(g).c))

# Network guests: plain POSIX sockets; -DDENALI_GUEST turns on their ilwaco parts.
NET_GUESTS := httpd echo lanpeer
$(call ilwaco_guest,$(BUILD)/guests/httpd.elf,guests/httpd.c guests/net_common.c,-DDENALI_GUEST)
$(call ilwaco_guest,$(BUILD)/guests/echo.elf,guests/echo.c guests/net_common.c,-DDENALI_GUEST)
$(call ilwaco_guest,$(BUILD)/guests/lanpeer.elf,guests/lanpeer.c guests/net_common.c,-DDENALI_GUEST)

include guests/native.mk

.PHONY: guests
guests: $(GUESTS:%=$(BUILD)/guests/%.elf) $(NET_GUESTS:%=$(BUILD)/guests/%.elf) $(NATIVE_GUEST_BINS)

# The misbehaving test guests; the file guards itself, so tests/tests.mk may include it too.
include tests/guests/guests.mk
