# nixos-kexec: make is the front door.
#   make            build/nixos-kexec and build/nixos-kexec-stub
#   make test       unit (cmocka) and integration tests
#   make check      test + the same tests under ASan+UBSan + valgrind on unit + e2e
#   make fuzz       short libFuzzer runs of every parser harness
#   make e2e        QEMU end-to-end test
#   make demo       the whole story in a VM, for a newcomer
#   make bench      benchmark against curl and curl+minisign+sha256sum
#   make install    PREFIX=/usr/local DESTDIR=
# CFLAGS can be overridden; warnings are always errors.

CC       ?= cc
CFLAGS   ?= -O2 -g
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
B        ?= build
PKG_CONFIG ?= pkg-config
PKGS      = libcurl openssl libsodium zlib

WARN      = -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wno-unused-parameter -Wno-format-truncation
AGENT_ROOMS = cli fetch kexec handoff
CPPFLAGS += -D_GNU_SOURCE -Icommon $(AGENT_ROOMS:%=-Iagent/%)
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS     ?= $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread
TEST_LIBS = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

COMMON_SRC := $(wildcard common/*.c)
AGENT_SRC  := $(filter-out agent/cli/main.c,$(wildcard agent/*/*.c))
STUB_SRC   := $(wildcard server-stub/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
AGENT_OBJ  := $(AGENT_SRC:%.c=$(B)/obj/%.o)
STUB_OBJ   := $(STUB_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# V=1 shows every command.
Q = $(if $(V),,@)

SAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

.PHONY: all deps test unit integration check check-san check-valgrind check-fuzz e2e \
        demo bench fuzz install clean nixparse

all: $(B)/nixos-kexec $(B)/nixos-kexec-stub

# Installs build and test dependencies when one is missing (needs root then).
deps:
	@tests/install-deps.sh

$(B)/.deps-ok: tests/install-deps.sh
	@tests/install-deps.sh
	@mkdir -p $(B) && touch $@

$(B)/obj/%.o: %.c $(B)/.deps-ok $(wildcard common/*.h agent/*/*.h server-stub/*.h)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(B)/nixos-kexec: $(B)/obj/agent/cli/main.o $(AGENT_OBJ) $(COMMON_OBJ)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/nixos-kexec-stub: $(STUB_OBJ) $(COMMON_OBJ)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

# Unit tests link every module but main; a test that replaces system calls
# lists them in WRAP_<test> (e.g. WRAP_test_stage = memfd_create fcntl).
$(B)/tests/%: tests/unit/%.c $(AGENT_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ \
		$(foreach w,$(WRAP_$*),-Wl,--wrap=$(w)) $(LIBS) $(TEST_LIBS)

-include tests/unit/wraps.mk

unit: $(UNIT_BIN)
	@tests/unit/run.sh $(UNIT_BIN)

integration: all
	@B=$(B) tests/integration/run.sh

test: all unit integration

# The same unit and integration tests, rebuilt with ASan+UBSan.
check-san:
	$(MAKE) B=build/san CFLAGS="$(SAN_CFLAGS)" LDFLAGS="-fsanitize=address,undefined" test

check-valgrind: $(UNIT_BIN)
	@VALGRIND=1 tests/unit/run.sh $(UNIT_BIN)

# Short fuzz runs of every parser harness; `make fuzz` runs them longer.
check-fuzz:
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-10} tests/fuzz/run.sh

check: test check-san check-valgrind check-fuzz nixparse e2e
	@echo "make check: all layers passed"

nixparse:
	@tests/nixparse.sh

e2e: all
	@B=$(B) tests/e2e/run.sh

demo: all
	@B=$(B) tests/e2e/demo.sh

bench: all
	@B=$(B) tests/bench/run.sh

fuzz:
	@tests/fuzz/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(B)/nixos-kexec $(DESTDIR)$(BINDIR)/nixos-kexec
	install -m 0755 $(B)/nixos-kexec-stub $(DESTDIR)$(BINDIR)/nixos-kexec-stub

clean:
	rm -rf build
