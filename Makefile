# sluice: transparent-proxy VPN over SSH.
#   make          build/sluice (client, helper embedded) and build/sluice-helper (static)
#   make test     every test: unit, unit under ASan+UBSan, end to end in netns
#   make demo     a throw-away netns testbed with a tunnel and traffic through it
#   make bench    sluice, sshuttle and the raw SSH channel side by side

CC       ?= cc
MUSLCC   ?= musl-gcc
B        := build
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -D_GNU_SOURCE -MMD -MP
LDLIBS   := -lssh2 -lnftnl -lmnl
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

COMMON_SRC := $(wildcard common/*.c)
CLIENT_SRC := $(filter-out client/main.c,$(wildcard client/*.c client/*/*.c)) $(wildcard firewall/*.c)
SERVER_SRC := $(filter-out server/main.c,$(wildcard server/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

LIB_OBJ    := $(patsubst %.c,$(B)/obj/%.o,$(COMMON_SRC) $(CLIENT_SRC) $(SERVER_SRC)) $(B)/obj/helper_blob.o
ASAN_OBJ   := $(patsubst %.c,$(B)/asan/%.o,$(COMMON_SRC) $(CLIENT_SRC) $(SERVER_SRC)) $(B)/obj/helper_blob.o
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/unit/%,$(UNIT_SRC))
ASAN_BIN   := $(patsubst tests/unit/%.c,$(B)/unit-asan/%,$(UNIT_SRC))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all deps test unit unit-asan e2e demo bench format clean
all: $(B)/sluice $(B)/sluice-helper

# The helper: static, musl, no libraries beyond libc so it runs on any x86-64 Linux.
$(B)/sluice-helper: server/main.c $(SERVER_SRC) $(COMMON_SRC) $(wildcard common/*.h server/*.h)
	@mkdir -p $(@D)
	$(MUSLCC) -static -Os -s -std=gnu11 $(WARN) -D_GNU_SOURCE -o $@ server/main.c $(SERVER_SRC) $(COMMON_SRC)

# The client carries the helper's bytes inside its own binary.
$(B)/obj/helper_blob.o: $(B)/sluice-helper
	@mkdir -p $(@D)
	printf '.section .rodata\n.global sluice_helper_start\n.global sluice_helper_end\n.balign 16\nsluice_helper_start:\n.incbin "%s"\nsluice_helper_end:\n.section .note.GNU-stack,"",@progbits\n' $(abspath $<) > $(B)/obj/helper_blob.S
	$(CC) -c -o $@ $(B)/obj/helper_blob.S

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DSLUICE_VERSION='"$(VERSION)"' -c -o $@ $<

$(B)/asan/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -DSLUICE_VERSION='"$(VERSION)"' -c -o $@ $<

$(B)/sluice: $(B)/obj/client/main.o $(LIB_OBJ)
	$(CC) -o $@ $^ $(LDLIBS) -lcrypto

$(B)/unit/%: tests/unit/%.c $(LIB_OBJ) tests/unit/t.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS) -lcrypto

$(B)/unit-asan/%: tests/unit/%.c $(ASAN_OBJ) tests/unit/t.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $< $(ASAN_OBJ) $(LDLIBS) -lcrypto

deps:
	@bash tests/deps.sh

unit: $(UNIT_BIN)
unit-asan: $(ASAN_BIN)

test: deps
	$(MAKE) all unit unit-asan
	@bash tests/run.sh

e2e: deps all
	@bash tests/run.sh e2e

demo: deps all
	@bash tests/demo.sh

bench: deps all
	@bash tests/bench.sh

format:
	clang-format -i $(wildcard */*.c */*.h */*/*.c */*/*.h)

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
