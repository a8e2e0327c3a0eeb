# Example guests, each built to $(BUILD)/guests/<name>.elf; included by the top Makefile.
GUESTS := hello idle spin hcbench boot

$(foreach g,$(GUESTS),$(call ilwaco_guest,$(BUILD)/guests/$(g).elf,guests/$(g).c))

.PHONY: guests
guests: $(GUESTS:%=$(BUILD)/guests/%.elf)

# The misbehaving test guests; the file guards itself, so tests/tests.mk may include it too.
include tests/guests/guests.mk
