# msrpload - MSRP load generator and conformance tester.
#
#   make            build ./msrpload
#   make run        the main job (see README)
#   make check      build and run every test
#   make asan       the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      print the benchmark figures, one `bench <name> <value> <unit>` per line
#   make fuzz       run each libFuzzer target for FUZZ_SECONDS (default 60) seconds
#   make install    install into $(DESTDIR)$(PREFIX)
#
# Project flags live in MSRP_CFLAGS so that `make CFLAGS=...` adds to them and cannot drop the
# warnings or the sanitizers. BUILD selects the object folder (parallel builds use their own).

PREFIX ?= /usr/local
BUILD ?= build
CC ?= cc
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
PKGS := openssl jansson libmicrohttpd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
# libosip2's pkg-config name also links -losip2 (its transaction layer); src/sip/ uses only the
# parser and SDP model, libosipparser2, so that is the one library linked.
OSIP_CFLAGS = $(shell pkg-config --cflags libosip2 2>/dev/null)

OPT ?= -O2
MSRP_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wno-missing-field-initializers -fno-strict-aliasing \
              -MMD -MP -Isrc $(PKG_CFLAGS) $(OSIP_CFLAGS)
MSRP_LDLIBS = $(PKG_LIBS) -losipparser2 -lpthread -lm

LIB_SRCS := $(sort $(wildcard src/wire/*.c src/net/*.c src/msrp/*.c src/scenario/*.c src/load/*.c \
                              src/conform/*.c src/report/*.c src/sip/*.c))
CLI_SRCS := $(sort $(wildcard src/cli/*.c))
TEST_SRCS := $(sort $(wildcard tests/*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))

LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS = $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_OBJS = $(TEST_SRCS:%.c=$(BUILD)/%.o)

DEPS_STAMP = $(BUILD)/.deps-ok

.PHONY: all run check asan bench fuzz install clean deps FORCE

all: msrpload

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/install-deps.sh
	@tools/install-deps.sh
	@mkdir -p $(@D) && touch $@

# A rename replaces the binary even while a copy of it is running (cp would fail: text busy).
msrpload: $(BUILD)/msrpload
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/msrpload: $(LIB_OBJS) $(CLI_OBJS)
	$(CC) $(MSRP_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MSRP_LDLIBS) $(LDLIBS)

# The version string changes with every commit; only this object depends on it.
$(BUILD)/src/cli/version.o: FORCE
$(BUILD)/src/cli/version.o: MSRP_CFLAGS += -DMSRPLOAD_VERSION='"$(VERSION)"'

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(MSRP_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: MSRP_CFLAGS += $(CHECK_CFLAGS)

$(BUILD)/check_runner: $(LIB_OBJS) $(TEST_OBJS)
	$(CC) $(MSRP_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(MSRP_LDLIBS) $(LDLIBS)

# Tests find their data and the binary from the top of the tree. The runner ends with the
# skipped tests (and why), then "N passed, N failed, N skipped"; REQUIRE_RELAY=1 (CI) makes a
# relay test fail instead of skipping when its Kamailio relay cannot start; REQUIRE_PROMETHEUS=1
# the same for the test with a real Prometheus (tools/install-deps.sh --prometheus), and
# REQUIRE_BROWSER=1 for the tests that load pages in Chromium (--browser): the conformance
# matrix and report.html.
check: $(BUILD)/check_runner msrpload
	$(BUILD)/check_runner

# The sanitized tests also drive a sanitized msrpload binary (MSRPLOAD_BIN).
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 \
	    CFLAGS="$(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    LDFLAGS="$(LDFLAGS) -fsanitize=address,undefined" build-asan/check_runner build-asan/msrpload
	CK_FORK=no MSRPLOAD_BIN=build-asan/msrpload ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 build-asan/check_runner

bench: msrpload
	./msrpload bench

# The main job: the default scenario against msrpload's own answering endpoints on loopback.
run: msrpload
	./msrpload run scenarios/quickstart.json

# libFuzzer targets: the library compiled again with clang and the fuzzer instrumentation.
FUZZ_BUILD = build-fuzz
FUZZ_FLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -Isrc $(PKG_CFLAGS) -fno-omit-frame-pointer \
             -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS = $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(LIB_SRCS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(filter src/wire/%.c,$(LIB_SRCS)) $(PKG_LIBS)

fuzz: $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	    name=$${t##*/}; corpus=$(FUZZ_BUILD)/corpus-$$name; mkdir -p $$corpus; \
	    seeds=fuzz/seeds/$${name#fuzz_}; \
	    [ $$name = fuzz_parser ] && seeds="tests/vectors tests/malformed"; \
	    echo "fuzz: $$name for $(FUZZ_SECONDS)s (seeds: $$seeds)"; \
	    $$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/crash-$$name- $$corpus $$seeds \
	        >$(FUZZ_BUILD)/$$name.log 2>&1 || { tail -n 40 $(FUZZ_BUILD)/$$name.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units' $(FUZZ_BUILD)/$$name.log | sed "s/^/  $$name /"; \
	done

install: msrpload
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 msrpload $(DESTDIR)$(PREFIX)/bin/msrpload
	install -m 644 docs/msrpload.1 $(DESTDIR)$(PREFIX)/share/man/man1/msrpload.1

clean:
	rm -rf build build-asan build-fuzz msrpload

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
