# sluice: transparent-proxy VPN over SSH.
#   make          build/sluice (client, helpers embedded) and build/helpers/sluice-helper-ARCH
#   make test     every test: unit, unit under ASan+UBSan, end to end in netns
#   make demo     a throw-away netns testbed with a tunnel and traffic through it
#   make bench    sluice, sshuttle and the raw SSH channel side by side

CC       ?= cc
MUSLCC   ?= musl-gcc
B        := build
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -D_GNU_SOURCE -MMD -MP
LDLIBS   := -lssh2 -lnftnl -lmnl -lnetfilter_conntrack
# One version everywhere (sluice -V, the man page, the .deb): 0.N, N the
# commits so far, which only grows. -V adds the commit, and whether the tree
# had changes, for a bug report. Where git cannot answer (no .git, or root
# in a user's checkout: "dubious ownership"), the last build's record stands.
GIT_COUNT := $(shell git rev-list --count HEAD 2>/dev/null)
ifneq ($(GIT_COUNT),)
VERSION  := 0.$(GIT_COUNT)
COMMIT   := $(shell git describe --always --dirty --exclude='*' 2>/dev/null)
else
VERSION  := $(or $(shell sed -n '1{/^0\.[0-9][0-9]*$$/p}' $(B)/version.stamp 2>/dev/null),0.0)
COMMIT   := $(shell sed -n '2{/^[0-9a-f][0-9a-f]*\(-dirty\)\{0,1\}$$/p}' $(B)/version.stamp 2>/dev/null)
endif
VERSION_DEFS := -DSLUICE_VERSION='"$(VERSION)"' -DSLUICE_COMMIT='"$(COMMIT)"'
# The client runs partly as root: Debian's usual hardening (the sanitizer builds go without).
HARDEN    := -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong
HARDEN_LD := -Wl,-z,relro,-z,now

COMMON_SRC := $(wildcard common/*.c)
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c client/*/*.c)) $(wildcard firewall/*.c) \
	      $(wildcard route/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
# Programs the testbed runs (tests/tools/): one file each, no project code.
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(patsubst tests/tools/%.c,$(B)/tools/%,$(TOOL_SRC))

BLOB_OBJ   := $(B)/obj/helpers_blob.o $(B)/obj/helpers_table.o
LIB_OBJ    := $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC) $(CLIENT_SRC) $(SERVER_SRC)) $(BLOB_OBJ)
ASAN_OBJ   := $(patsubst %.c,$(B)/asan/%.o,$(COMMON_SRC) $(CLIENT_SRC) $(SERVER_SRC)) $(BLOB_OBJ)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/unit/%,$(UNIT_SRC))
ASAN_BIN   := $(patsubst tests/unit/%.c,$(B)/unit-asan/%,$(UNIT_SRC))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# libFuzzer targets (tests/fuzz/), built with clang: the code under test with
# the fuzzer's coverage, each target linked with the fuzzer's main.
FUZZ_CC    ?= clang
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJ   := $(patsubst %.c,$(B)/fuzzobj/%.o,$(COMMON_SRC) $(CLIENT_SRC) $(SERVER_SRC)) $(BLOB_OBJ)
FUZZ_SECONDS ?= 60

.PHONY: all tools deps test unit unit-asan fuzz-build fuzz e2e demo bench format clean install uninstall deb FORCE
all: $(B)/sluice $(B)/sluice-helper tools

# The helpers: static, musl, -Os, no library beyond libc, one per uname -m the
# client can serve. x86_64 needs musl-tools; the others Debian's cross gcc and
# musl-dev for that architecture (tests/deps.sh installs them). What is
# missing here is skipped, and said so; the client then refuses that machine.
HELPER_SRC    := server/main.c $(SERVER_SRC) $(COMMON_SRC)
HELPER_CFLAGS := -static -Os -s -std=gnu11 $(WARN) -D_GNU_SOURCE -ffunction-sections \
		 -fdata-sections -Wl,--gc-sections
CC_x86_64     := $(MUSLCC)
CC_aarch64    := aarch64-linux-gnu-gcc -specs /usr/lib/aarch64-linux-musl/musl-gcc.specs
CC_armv7l     := arm-linux-gnueabihf-gcc -specs /usr/lib/arm-linux-musleabihf/musl-gcc.specs
HELPER_ARCHES := x86_64 aarch64 armv7l
# A toolchain counts when its compiler runs and its specs file (if any) is there.
have_cc        = $(and $(shell command -v $(firstword $(CC_$(1))) 2>/dev/null),\
		 $(or $(if $(word 3,$(CC_$(1))),,x),$(wildcard $(word 3,$(CC_$(1))))))
BUILT_ARCHES  := $(foreach a,$(HELPER_ARCHES),$(if $(call have_cc,$(a)),$(a)))
HELPERS       := $(foreach a,$(BUILT_ARCHES),$(B)/helpers/sluice-helper-$(a))

$(B)/helpers/sluice-helper-%: $(HELPER_SRC) $(wildcard common/*.h server/*.h)
	@mkdir -p $(@D)
	$(CC_$*) $(HELPER_CFLAGS) -o $@ $(HELPER_SRC)

# The native one under its old name, for tools that run it here.
$(B)/sluice-helper: $(B)/helpers/sluice-helper-x86_64
	cp $< $@

# The client carries every helper built: one .incbin each, and a table.
$(B)/obj/helpers_blob.o: $(HELPERS)
	@mkdir -p $(@D)
	@$(if $(filter-out $(BUILT_ARCHES),$(HELPER_ARCHES)),\
		echo "helpers: no toolchain for $(filter-out $(BUILT_ARCHES),$(HELPER_ARCHES)) here; skipped (tests/deps.sh installs them)")
	{ echo '.section .rodata'; for a in $(BUILT_ARCHES); do \
		printf '.global sluice_helper_%s_start\n.global sluice_helper_%s_end\n.balign 16\nsluice_helper_%s_start:\n.incbin "%s"\nsluice_helper_%s_end:\n' \
			$$a $$a $$a $(abspath $(B))/helpers/sluice-helper-$$a $$a; done; \
		echo '.section .note.GNU-stack,"",@progbits'; } > $(B)/obj/helpers_blob.S
	$(CC) -c -o $@ $(B)/obj/helpers_blob.S

$(B)/obj/helpers_table.o: $(HELPERS) client/link/boot.h
	@mkdir -p $(@D)
	{ echo '#include "client/link/boot.h"'; for a in $(BUILT_ARCHES); do \
		echo "extern const uint8_t sluice_helper_$${a}_start[], sluice_helper_$${a}_end[];"; done; \
		echo 'const struct boot_blob boot_blobs[] = {'; for a in $(BUILT_ARCHES); do \
		echo "	{\"$$a\", sluice_helper_$${a}_start, sluice_helper_$${a}_end},"; done; \
		echo '};'; echo 'const size_t boot_n_blobs = sizeof(boot_blobs) / sizeof(boot_blobs[0]);'; \
	} > $(B)/obj/helpers_table.c
	$(CC) $(CFLAGS) -I. -c -o $@ $(B)/obj/helpers_table.c

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(HARDEN) $(VERSION_DEFS) -c -o $@ $<

$(B)/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) $(VERSION_DEFS) -c -o $@ $<

# opts.c prints the version: rebuild it when the commit or the tree's state
# changes, which no source file's date shows. The stamp's date moves only then.
$(B)/version.stamp: FORCE
	@mkdir -p $(@D)
	@printf '%s\n%s\n' '$(VERSION)' '$(COMMIT)' | cmp -s - $@ || \
		printf '%s\n%s\n' '$(VERSION)' '$(COMMIT)' >$@
$(B)/obj/client/opts.o $(B)/asan/client/opts.o $(B)/fuzzobj/client/opts.o: $(B)/version.stamp
FORCE:

$(B)/sluice: $(B)/obj/client/main.o $(LIB_OBJ)
	$(CC) $(HARDEN_LD) -o $@ $^ $(LDLIBS) -lcrypto

tools: $(TOOL_BIN)

$(B)/tools/%: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $<

# Fault injection: this test build swaps the allocator calls for its own.
$(B)/unit/test_faultinject $(B)/unit-asan/test_faultinject: UNIT_LD = -Wl,--wrap=realloc,--wrap=calloc

$(B)/unit/%: tests/unit/%.c $(LIB_OBJ) tests/unit/t.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(UNIT_LD) $(LDLIBS) -lcrypto

$(B)/unit-asan/%: tests/unit/%.c $(ASAN_OBJ) tests/unit/t.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $< $(ASAN_OBJ) $(UNIT_LD) $(LDLIBS) -lcrypto

$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -MMD -MP $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
		$(VERSION_DEFS) -c -o $@ $<

$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 $(WARN) -D_GNU_SOURCE $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) \
		$(LDLIBS) -lcrypto

fuzz-build: $(FUZZ_BIN)

# Every target for FUZZ_SECONDS, from its seed corpus; new inputs and any
# crash land in build/fuzz/ (a crash input belongs in the corpus once fixed).
fuzz: deps
	$(MAKE) fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

deps:
	@bash tests/deps.sh

unit: $(UNIT_BIN)
unit-asan: $(ASAN_BIN)

test: deps
	$(MAKE) all unit unit-asan fuzz-build
	@bash tests/run.sh

# deps first, then a fresh make: which helpers can be built is read when make starts.
e2e: deps
	$(MAKE) all
	@bash tests/run.sh e2e

demo: deps
	$(MAKE) all
	@bash tests/demo.sh

bench: deps
	$(MAKE) all
	@bash tests/bench.sh

# Installing: PREFIX and DESTDIR as usual; the unit goes where systemd looks.
PREFIX  ?= /usr/local
BINDIR  := $(PREFIX)/bin
MANDIR  := $(PREFIX)/share/man/man1
COMPDIR := $(PREFIX)/share/bash-completion/completions
DOCDIR  := $(PREFIX)/share/doc/sluice
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALLED := $(BINDIR)/sluice $(MANDIR)/sluice.1 $(COMPDIR)/sluice $(UNITDIR)/sluice@.service \
	     $(DOCDIR)/example.conf $(DOCDIR)/README.md $(DOCDIR)/docs/PERFORMANCE.md

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(COMPDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 $(B)/sluice $(DESTDIR)$(BINDIR)/sluice
	sed '1s/^\(\.TH SLUICE 1 [^ ]* "sluice\)"/\1 $(VERSION)"/' dist/sluice.1 \
		>$(DESTDIR)$(MANDIR)/sluice.1
	chmod 644 $(DESTDIR)$(MANDIR)/sluice.1
	install -m 644 dist/sluice.bash-completion $(DESTDIR)$(COMPDIR)/sluice
	sed 's|@BINDIR@|$(BINDIR)|' dist/sluice@.service >$(DESTDIR)$(UNITDIR)/sluice@.service
	chmod 644 $(DESTDIR)$(UNITDIR)/sluice@.service
	install -m 644 dist/example.conf README.md $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(DOCDIR)/docs
	install -m 644 docs/PERFORMANCE.md $(DESTDIR)$(DOCDIR)/docs/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR) 2>/dev/null

# A Debian package from a dpkg-deb recipe: the install above into a staging
# root with PREFIX=/usr, stripped, with the files Debian policy asks for.
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_VERSION := $(VERSION)
DEB         := $(B)/sluice_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_ROOT    := $(B)/deb/root

deb: all
	rm -rf $(B)/deb
	$(MAKE) install DESTDIR=$(abspath $(DEB_ROOT)) PREFIX=/usr UNITDIR=/lib/systemd/system
	rm -r $(DEB_ROOT)/usr/share/doc/sluice/README.md $(DEB_ROOT)/usr/share/doc/sluice/docs
	strip --strip-unneeded --remove-section=.comment --remove-section=.note \
		$(DEB_ROOT)/usr/bin/sluice
	gzip -9n $(DEB_ROOT)/usr/share/man/man1/sluice.1
	bash dist/deb.sh $(DEB_ROOT) $(DEB_VERSION) $(DEB_ARCH)
	dpkg-deb --root-owner-group --build $(DEB_ROOT) $(DEB)
	@echo "built $(DEB)"

format:
	clang-format -i $(wildcard */*.c */*.h */*/*.c */*/*.h)

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
