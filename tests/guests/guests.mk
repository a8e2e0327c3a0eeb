# Misbehaving test guests, each built to $(BUILD)/tests/guests/<name>.elf; phony target test-guests.
ifndef DENALI_TEST_GUESTS_MK
DENALI_TEST_GUESTS_MK := 1

TEST_GUESTS := bad_port bad_hypercall bad_pointer overflow_pointer null_pointer null_deref \
	write_text write_vregs div_zero triple_fault loop_forever stack_overflow exit_code \
	console_flood args selftest abort preempt_regs sockets_selftest sockets_pair net_raw \
	socket_hog forge_handoff escape bad_balloon disk_rw bad_blk

$(foreach g,$(TEST_GUESTS),$(call ilwaco_guest,$(BUILD)/tests/guests/$(g).elf,tests/guests/$(g).c))

.PHONY: test-guests
test-guests: $(TEST_GUESTS:%=$(BUILD)/tests/guests/%.elf)

endif
