# Misbehaving test guests, each built to $(BUILD)/tests/guests/<name>.elf; phony target test-guests.
ifndef DENALI_TEST_GUESTS_MK
DENALI_TEST_GUESTS_MK := 1

TEST_GUESTS := bad_port bad_hypercall bad_pointer overflow_pointer null_pointer null_deref \
	write_text write_vregs div_zero triple_fault loop_forever stack_overflow exit_code \
	console_flood args selftest abort preempt_regs sockets_selftest sockets_pair net_raw \
	socket_hog forge_handoff escape bad_balloon disk_rw bad_blk

$(foreach g,$(TEST_GUESTS),$(call ilwaco_guest,$(BUILD)/tests/guests/$(g).elf,tests/guests/$(g).c))

# Guests with POSIX files on their disk.
FILE_TEST_GUESTS := fs_check
$(foreach g,$(FILE_TEST_GUESTS),\
	$(call ilwaco_guest,$(BUILD)/tests/guests/$(g).elf,tests/guests/$(g).c,,$(ILWACO_FILES)))

.PHONY: test-guests
test-guests: $(TEST_GUESTS:%=$(BUILD)/tests/guests/%.elf) $(FILE_TEST_GUESTS:%=$(BUILD)/tests/guests/%.elf)

# Until the block ring driver (libos/disk.c) exists, fs_check also comes with the tests' image
# linked in as the stand-in disk of libos/disk_stub.c, writable (rw) and read-only (ro).
ifeq ($(wildcard libos/disk.c),)
FS_STUB_IMAGE := $(BUILD)/tests/fs-stub/disk.img
FS_STUB_GUESTS := $(BUILD)/tests/guests/fs_check_stub_rw.elf $(BUILD)/tests/guests/fs_check_stub_ro.elf

$(FS_STUB_IMAGE): tests/lib/make-fs-image.sh
	tests/lib/make-fs-image.sh $(@D) 2M

$(BUILD)/tests/guests/fs_stub_image_%.o: tests/guests/fs_stub_image.c $(FS_STUB_IMAGE) | $(MUSL_LIBC)
	@mkdir -p $(@D)
	$(CC) $(GUEST_CPPFLAGS) $(GUEST_CFLAGS) -DSTUB_IMAGE='"$(FS_STUB_IMAGE)"' \
		$(if $(filter ro,$*),-DSTUB_READ_ONLY) -c $< -o $@

$(BUILD)/tests/guests/fs_check_stub_%.elf: $(BUILD)/tests/guests/fs_check.o \
		$(BUILD)/tests/guests/fs_stub_image_%.o $(GUEST_LINK_DEPS)
	$(CC) $(GUEST_LDFLAGS) $(ILWACO_FILES) -o $@ $(ILWACO_CRT0) $(BUILD)/tests/guests/fs_check.o \
		$(BUILD)/tests/guests/fs_stub_image_$*.o $(GUEST_LIBS)
	libos/check-guest.sh $@ || { rm -f $@; exit 1; }

test-guests: $(FS_STUB_GUESTS)
endif

endif
