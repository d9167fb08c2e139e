# nixos-kexec: make is the front door.
#   make            build/nixos-kexec and build/nixos-kexec-stub
#   make test       unit (cmocka) and integration tests
#   make check      test + the same tests under ASan+UBSan + valgrind on unit
#                   + fuzz + Nix parsing + e2e
#   make fuzz       longer libFuzzer runs of every parser harness
#   make e2e        QEMU end-to-end test: make e2e-busybox, make e2e-arm64,
#                   then make journey (each takes E2E="scenario...")
#   make e2e-arm64  the busybox scenarios on aarch64 (tests/e2e/arm64.sh)
#   make journey-arm64  the journey on an arm64 cloud VM (UEFI); not in make e2e
#   make demo       the whole story in a VM, for a newcomer
#   make bench      benchmark against curl and curl+minisign+sha256sum
#   make static     static musl agent and kexec for x86_64 and aarch64
#   make check-static  those checked (TLS matrix, fetch tests; aarch64 in qemu-user)
#   make release    build/release/: the static binaries, SHA256SUMS, boot.sh,
#                   nixos-kexec-anywhere-<arch>.tar.gz
#   make install    PREFIX=/usr/local DESTDIR=
# CFLAGS, CPPFLAGS, LDFLAGS and LIBS add to the project's own flags;
# warnings are errors unless WERROR= is given (the Nix build does).
# Packages are installed on first use by tools/install-deps.sh (as root):
# the build group for make, the test group for the test targets;
# INSTALL_DEPS=0 skips that (Nix, or a machine you manage yourself).

CC       ?= cc
CFLAGS   ?= -O2 -g
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
B        ?= build
PKG_CONFIG ?= pkg-config
PKGS      = libcurl openssl libsodium zlib
INSTALL_DEPS ?= 1

WERROR    = -Werror
WARN      = -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wvla -Wno-unused-parameter -Wno-format-truncation
AGENT_ROOMS = cli fetch kexec handoff fleet
NK_CPPFLAGS = -D_GNU_SOURCE -Icommon $(AGENT_ROOMS:%=-Iagent/%)
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS)

# Library flags are asked of pkg-config when a recipe runs (so a fresh
# machine has installed the packages by then); a failure stops the build
# and says what to do: $(call pkg,--cflags,PACKAGES,GROUP) in a recipe.
pkg = $$($(PKG_CONFIG) $(1) $(2)) || { echo "make: '$(PKG_CONFIG) $(1) $(2)' failed; missing -dev packages? (tools/install-deps.sh $(3), as root)" >&2; exit 1; }

COMMON_SRC := $(wildcard common/*.c)
AGENT_SRC  := $(filter-out agent/cli/main.c,$(wildcard agent/*/*.c))
STUB_SRC   := $(wildcard server-stub/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
HEADERS    := $(wildcard common/*.h agent/*/*.h server-stub/*.h)

COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
AGENT_OBJ  := $(AGENT_SRC:%.c=$(B)/obj/%.o)
STUB_OBJ   := $(STUB_SRC:%.c=$(B)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# V=1 shows every command.
Q = $(if $(V),,@)

SAN_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

.PHONY: all deps test-deps test unit integration check check-san check-valgrind check-fuzz \
        e2e e2e-busybox e2e-arm64 journey journey-images journey-arm64 demo bench fuzz static check-static release install clean nixparse

all: $(B)/nixos-kexec $(B)/nixos-kexec-stub

# The packages of a group, installed when one is missing (needs root then).
# Stamps are order-only prerequisites: editing the script rebuilds nothing.
deps: $(B)/.deps-build
test-deps: $(B)/.deps-test

$(B)/.deps-%: tools/install-deps.sh
	$(Q)$(if $(filter 1,$(INSTALL_DEPS)),tools/install-deps.sh $*)
	@mkdir -p $(B) && touch $@

$(B)/obj/%.o: %.c $(HEADERS) | $(B)/.deps-build
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)cf=$(call pkg,--cflags,$(PKGS),build); \
	$(CC) $(NK_CPPFLAGS) $(CPPFLAGS) $(ALL_CFLAGS) $$cf -c -o $@ $<

$(B)/nixos-kexec: $(B)/obj/agent/cli/main.o $(AGENT_OBJ) $(COMMON_OBJ)
	@$(if $(V),,echo "  LD      $@")
	$(Q)lf=$(call pkg,--libs,$(PKGS),build); \
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $$lf $(LIBS) -lpthread

$(B)/nixos-kexec-stub: $(STUB_OBJ) $(COMMON_OBJ)
	@$(if $(V),,echo "  LD      $@")
	$(Q)lf=$(call pkg,--libs,$(PKGS),build); \
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $$lf $(LIBS) -lpthread

# Unit tests link every module but main; a test that replaces system calls
# lists them in WRAP_<test> (e.g. WRAP_test_stage = memfd_create fcntl).
$(B)/tests/%: tests/unit/%.c $(AGENT_OBJ) $(COMMON_OBJ) | $(B)/.deps-test
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)cf=$(call pkg,--cflags,$(PKGS) cmocka,test); \
	lf=$(call pkg,--libs,$(PKGS) cmocka,test); \
	$(CC) $(NK_CPPFLAGS) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) $$cf $(LDFLAGS) -o $@ $^ \
		$(foreach w,$(WRAP_$*),-Wl,--wrap=$(w)) $$lf $(LIBS) -lpthread

-include tests/unit/wraps.mk

# The agent with its system calls replaced (tests/integration/sys_fake.c):
# boot runs to the end in the integration tests without touching the kernel.
FAKESYS_OBJ := $(filter-out $(B)/obj/agent/kexec/sys.o,$(AGENT_OBJ)) $(B)/obj/tests/integration/sys_fake.o
$(B)/tests/nixos-kexec-fakesys: $(B)/obj/agent/cli/main.o $(FAKESYS_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)lf=$(call pkg,--libs,$(PKGS),build); \
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $$lf $(LIBS) -lpthread

unit: $(UNIT_BIN)
	@tests/unit/run.sh $(UNIT_BIN)

integration: all test-deps $(B)/tests/nixos-kexec-fakesys
	@B=$(B) tests/integration/run.sh

test: all unit integration

# The same unit and integration tests, rebuilt with ASan+UBSan.
check-san: test-deps
	$(MAKE) B=build/san CFLAGS="$(SAN_CFLAGS)" LDFLAGS="-fsanitize=address,undefined" test

check-valgrind: $(UNIT_BIN)
	@VALGRIND=1 tests/unit/run.sh $(UNIT_BIN)

# Short fuzz runs of every parser harness; `make fuzz` runs them longer.
check-fuzz: test-deps
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-10} tests/fuzz/run.sh

# All layers; the journey (VMs) alongside the others, each layer's output
# in one block, then each layer's wall time (tests/check.sh).
check:
	@MAKE="$(MAKE)" B=$(B) tests/check.sh
	@echo "make check: all layers passed"

nixparse: test-deps
	@tests/nixparse.sh

# The busybox scenarios (mechanics) on x86_64 and on aarch64, then the
# user's journeys on a real cloud VM image (tests/e2e/journey); all run,
# any failing fails. Each runner takes scenario names: make e2e-busybox
# E2E="boot tampered".
e2e: all test-deps static $(B)/.deps-journey $(B)/.deps-arm64
	@rc=0; $(MAKE) --no-print-directory e2e-busybox || rc=1; \
	$(MAKE) --no-print-directory e2e-arm64 || rc=1; \
	$(MAKE) --no-print-directory journey || rc=1; exit $$rc

e2e-busybox: all test-deps static
	@B=$(B) tests/e2e/run.sh $(E2E)

journey: all test-deps static $(B)/.deps-journey
	@B=$(B) tests/e2e/journey/run.sh $(E2E)

# The journey's two VM images (tests/e2e/journey/image.sh), built or found
# in the cache; make journey does it too, make check beside the static build.
journey-images: test-deps $(B)/.deps-journey
	@rc=0; tests/e2e/journey/image.sh cloud >/dev/null & p=$$!; \
	tests/e2e/journey/image.sh second >/dev/null || rc=1; wait $$p || rc=1; exit $$rc

# The aarch64 scenarios (tests/e2e/arm64.sh): Debian's arm64 kernel on
# QEMU's arm64 virt machine, direct and UEFI boot, the static aarch64 agent.
e2e-arm64: all test-deps static $(B)/.deps-arm64
	@B=$(B) NK_E2E_ARCH=aarch64 tests/e2e/run.sh $(E2E)

# The journey on an arm64 Debian cloud VM booted through UEFI
# (tests/e2e/journey/arm64.sh): too slow under TCG for make e2e and CI
# (docs/testing.md, "journey-arm64").
journey-arm64: all test-deps static $(B)/.deps-journey $(B)/.deps-arm64
	@B=$(B) NK_E2E_ARCH=aarch64 tests/e2e/journey/run.sh $(E2E)

demo: all test-deps
	@B=$(B) tests/e2e/demo.sh

bench: all test-deps
	@B=$(B) tests/bench/run.sh

fuzz: test-deps
	@tests/fuzz/run.sh

# Static musl builds of the agent and kexec-tools for both architectures,
# from Debian's source packages (tools/static/; cached by content).
STATIC_ARCHS ?= x86_64 aarch64
static: $(B)/.deps-build
	$(Q)$(if $(filter 1,$(INSTALL_DEPS)),tools/install-deps.sh static)
	@B=$(B) tools/static/build.sh $(STATIC_ARCHS)

# The static agents checked: static, size, TLS matrix, the fetch part of the
# integration suite (aarch64 under qemu-aarch64-static).
check-static: static all
	@B=$(B) tools/static/check.sh

# build/release/: what a web server publishes for the one-liners. boot.sh and
# nixos-kexec-anywhere-<arch>.tar.gz (nixos-anywhere --kexec)
# need RELEASE_URL (where it is served, https) and RELEASE_KEY (a .pub).
release: static
	@tools/release.sh --static $(B)/static --out $(B)/release \
		$(if $(RELEASE_URL),--url $(RELEASE_URL)) $(if $(RELEASE_KEY),--key $(RELEASE_KEY))

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(B)/nixos-kexec $(DESTDIR)$(BINDIR)/nixos-kexec
	install -m 0755 $(B)/nixos-kexec-stub $(DESTDIR)$(BINDIR)/nixos-kexec-stub

clean:
	rm -rf build
