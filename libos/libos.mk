# ilwaco, the guest library OS, and musl built as the guests' C library; included by the top Makefile.
#
# A guest is one line in any makefile included after this one:
#
#   $(call ilwaco_guest,$(BUILD)/guests/hello.elf,guests/hello.c)
#   $(call ilwaco_guest,$(BUILD)/guests/httpd.elf,guests/httpd.c,,$(ILWACO_FILES))
#
# (arguments: the ELF to build, its C sources, optional extra CFLAGS, optional
# extra link flags: $(ILWACO_FILES) gives the guest POSIX files on its disk).
# Each source compiles to $(BUILD)/<source path>.o; a source listed by several
# guests must use the same extra flags.

MUSL_PREFIX := $(BUILD)/musl
MUSL_LIBC := $(MUSL_PREFIX)/lib/libc.a
MUSL_PORT_FILES := $(shell find libos/musl-port -type f)

ILWACO_LIB := $(BUILD)/libos/libilwaco.a
LWIP_LIB := $(BUILD)/libos/liblwip.a
LWIP_PORT_FILES := $(shell find libos/lwip-port -type f)
ILWACO_CRT0 := $(BUILD)/libos/crt0.o
ILWACO_LD := libos/guest.ld
# libext2fs from Debian's e2fsprogs, for the files on disk 0 (build-ext2fs.sh). It is linked only
# into guests that ask for files, since it adds some 250 KiB of text: asking for files.c's table
# pulls in the file system, and without it syscall.c finds no file anywhere.
EXT2FS_LIB := $(BUILD)/libos/libext2fs.a
ILWACO_FILES := -Wl,--undefined=ilwaco_file_calls
ILWACO_SRCS := $(filter-out libos/crt0.c,$(wildcard libos/*.c))
ILWACO_OBJS := $(patsubst libos/%.c,$(BUILD)/libos/%.o,$(ILWACO_SRCS))

GUEST_GCC_INCLUDE := $(shell $(CC) -print-file-name=include)
GUEST_LIBGCC := $(shell $(CC) -print-libgcc-file-name)

# musl's headers replace the host's; the compiler's own directory still supplies intrinsics.
GUEST_CPPFLAGS := -nostdinc -isystem $(MUSL_PREFIX)/include -isystem $(GUEST_GCC_INCLUDE) \
	-Iinclude -Ilibos/include
# Static and non-PIC: the image is linked at its final address and never relocated.
GUEST_CFLAGS := $(CSTD) $(WARN) -O2 -g -fno-pic -fno-pie -mno-red-zone \
	-ffunction-sections -fdata-sections -MMD -MP
# ilwaco's code runs before musl has set up TLS, where the stack protector's canary lives.
ILWACO_CFLAGS := $(GUEST_CFLAGS) -fno-stack-protector -Ilibos
# lwIP's headers (installed by build-lwip.sh) and our lwipopts.h, for the network parts of ilwaco.
LWIP_INCLUDES := -I$(BUILD)/lwip/include -Ilibos/lwip-port
LWIP_CFLAGS := $(GUEST_CPPFLAGS) $(LWIP_INCLUDES) $(ILWACO_CFLAGS)
# libext2fs's headers (installed by build-ext2fs.sh), as system headers: they are not held to our
# warnings.
EXT2FS_INCLUDES := -isystem $(BUILD)/ext2fs/include
# e2fsprogs compiles with its own warnings and our code generation: static, non-PIC, no red zone.
EXT2FS_CFLAGS := -O2 -g -fno-pic -fno-pie -mno-red-zone -ffunction-sections -fdata-sections \
	-fno-stack-protector
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,$(ILWACO_LD) \
	-Wl,-z,max-page-size=4096 -Wl,-z,separate-code -Wl,-z,noexecstack \
	-Wl,--build-id=none -Wl,--gc-sections
# musl's libc.a calls back into ilwaco (__ilwaco_syscall), hence the group.
GUEST_LIBS := -Wl,--start-group $(ILWACO_LIB) $(LWIP_LIB) $(EXT2FS_LIB) $(MUSL_LIBC) $(GUEST_LIBGCC) \
	-Wl,--end-group
GUEST_LINK_DEPS := $(ILWACO_CRT0) $(ILWACO_LIB) $(LWIP_LIB) $(EXT2FS_LIB) $(MUSL_LIBC) $(ILWACO_LD) \
	libos/check-guest.sh

.PHONY: libos musl lwip ext2fs
libos: $(ILWACO_LIB) $(ILWACO_CRT0)
musl: $(MUSL_LIBC)
lwip: $(LWIP_LIB)
ext2fs: $(EXT2FS_LIB)

# Builds only when libc.a is missing or the port changed; libc.a is written last.
$(MUSL_LIBC): libos/build-musl.sh $(MUSL_PORT_FILES)
	CC="$(CC)" libos/build-musl.sh $(BUILD)

# lwIP from Debian's source package; the script skips the work when nothing changed.
$(LWIP_LIB): libos/build-lwip.sh $(LWIP_PORT_FILES) | $(MUSL_LIBC)
	CC="$(CC)" LWIP_CFLAGS="$(LWIP_CFLAGS)" libos/build-lwip.sh $(BUILD)

# libext2fs from Debian's source package; the script skips the work when nothing changed.
$(EXT2FS_LIB): libos/build-ext2fs.sh | $(MUSL_LIBC)
	CC="$(CC)" EXT2FS_CFLAGS="$(EXT2FS_CFLAGS)" \
	EXT2FS_CPPFLAGS="-nostdinc -isystem $(abspath $(MUSL_PREFIX))/include -isystem $(GUEST_GCC_INCLUDE)" \
	MUSL_LIBC="$(abspath $(MUSL_LIBC))" libos/build-ext2fs.sh $(BUILD)

# musl's, lwIP's and libext2fs's headers are installed before their libraries, so ordering on
# those is enough.
$(ILWACO_OBJS) $(ILWACO_CRT0): $(BUILD)/libos/%.o: libos/%.c | $(MUSL_LIBC) $(LWIP_LIB) $(EXT2FS_LIB)
	@mkdir -p $(@D)
	$(CC) $(GUEST_CPPFLAGS) $(LWIP_INCLUDES) $(EXT2FS_INCLUDES) $(ILWACO_CFLAGS) -c $< -o $@

$(ILWACO_LIB): $(ILWACO_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

-include $(ILWACO_OBJS:.o=.d) $(ILWACO_CRT0:.o=.d)

# $(1): object, $(2): source, $(3): extra CFLAGS.
define ilwaco_object_rules
ILWACO_OBJECT_DONE_$(1) := 1
$(1): $(2) | $(MUSL_LIBC)
	@mkdir -p $$(@D)
	$$(CC) $$(GUEST_CPPFLAGS) $$(GUEST_CFLAGS) $(3) -c $$< -o $$@
-include $(1:.o=.d)
endef

# $(1): ELF, $(2): sources, $(3): extra CFLAGS, $(4): extra link flags.
define ilwaco_guest_rules
$(foreach src,$(2),$(if $(ILWACO_OBJECT_DONE_$(BUILD)/$(src:.c=.o)),,\
	$(eval $(call ilwaco_object_rules,$(BUILD)/$(src:.c=.o),$(src),$(3)))))
$(1): $(patsubst %.c,$(BUILD)/%.o,$(2)) $$(GUEST_LINK_DEPS)
	@mkdir -p $$(@D)
	$$(CC) $$(GUEST_LDFLAGS) $(4) -o $$@ $$(ILWACO_CRT0) $(patsubst %.c,$(BUILD)/%.o,$(2)) $$(GUEST_LIBS)
	libos/check-guest.sh $$@ || { rm -f $$@; exit 1; }
endef

ilwaco_guest = $(eval $(call ilwaco_guest_rules,$(1),$(2),$(3),$(4)))
