# spotwatch: a Redis-backed scheduler that watches many users' Spotify playback.
#
#   make                 build bin/spotwatch and bin/spotify-sim
#   make test            the whole suite (unit + integration); ends "N passed, N failed"
#   make test SANITIZER=address,undefined
#   make demo            a live demo: private redis, simulator, two workers
#   make bench           benchmarks (print figures; write bench-results.json)
#   make parse-bench     cost of reading a currently-playing answer (product parsers)
#   make smart-bench     smart polling's calls and detection delays, light to heavy load
#   make soak MINUTES=30 3 workers, 2,000 users under churn; fails if the heap or fds grow
#   make fuzz            libFuzzer targets, FUZZ_SECONDS (60) each
#   make deps            install the Debian packages the build, tests and demo need
#   make install         PREFIX=/usr/local DESTDIR= sysconfdir= (README, "Installing")

# The version: `spotwatch --version`, the worker's start line, spotwatch_build_info
# (all through build/build_info.h).
VERSION ?= 0.9.0
PREFIX  ?= /usr/local
DESTDIR ?=
# sysconfdir: where install puts spotwatch.conf, and the second place the
# binary looks for it (after $SPOTWATCH_CONF): compiled in. /etc for
# PREFIX=/usr (a distribution's layout), else $(PREFIX)/etc.
sysconfdir ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
bindir     ?= $(PREFIX)/bin
mandir     ?= $(PREFIX)/share/man
unitdir    ?= $(PREFIX)/lib/systemd/system
bashcompdir ?= $(PREFIX)/share/bash-completion/completions
CC      ?= cc
PKGS    := libcurl hiredis libcjson openssl libmicrohttpd

# pkg-config runs only when a recipe first needs the flags (each is then
# kept: the $(eval) replaces the variable with its value), so `make deps` /
# `make demo` on a bare machine installs the packages before anything asks
# pkg-config about them.
pkg_cflags = $(eval pkg_cflags := $$(shell pkg-config --cflags $$(PKGS)))$(pkg_cflags)
pkg_libs   = $(eval pkg_libs := $$(shell pkg-config --libs $$(PKGS)))$(pkg_libs)
CFLAGS  ?= -g -O2
CFLAGS  += -std=c11 -Wall -Wextra -Wstrict-prototypes -Wformat=2 -Werror -MMD -MP \
           -D_GNU_SOURCE -Iinclude -Ibuild $(pkg_cflags)
LDLIBS  += $(pkg_libs) -lev -lm

ifneq ($(SANITIZER),)
CFLAGS  += -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZER)
endif

# The product's modules (main.c holds only the command dispatch).
# One folder per concern (README.md, "Source map"); basenames are unique, so
# every object lands in build/<folder>/<name>.o.
SRC := src/base/errbuf.c src/base/config.c src/base/log.c src/base/crypto.c src/base/nodump.c \
       src/base/keyring_file.c src/base/histogram.c src/base/codec.c src/base/secret_input.c \
       src/base/sdnotify.c src/base/proc_stats.c src/base/seal_pack.c \
       src/redis/key_schema.c src/redis/scripts.c src/redis/script_contract.c src/redis/redis_async.c src/redis/redis_sync.c \
       src/redis/redis_tls.c src/redis/redis_conn.c src/redis/redis_sentinel.c src/redis/repl_info.c src/redis/cluster_map.c src/redis/cluster_async.c \
       src/redis/resp.c src/redis/reply_arena.c \
       src/redis/redis_cluster_sync.c src/redis/user_dir.c src/redis/cluster_topo.c \
       src/http/http_recv.c src/http/httpc.c src/http/httpc_origin.c src/http/http_sync.c src/http/http_server.c src/http/metrics.c \
       src/spotify/json_scan.c src/spotify/json_read.c src/spotify/events.c src/spotify/playback.c src/spotify/playback_state.c \
       src/spotify/recently_played.c src/spotify/history_scan.c \
       src/spotify/playback_flap.c src/spotify/playback_forms.c \
       src/spotify/answer.c src/spotify/token.c src/spotify/webapi.c \
       src/worker/worker.c src/worker/claim.c src/worker/job.c src/worker/refresh.c src/worker/gate.c src/worker/outcome.c \
       src/worker/complete.c src/worker/jobs.c src/worker/decide.c src/worker/fake_transport.c src/worker/worker_metrics.c \
       src/worker/app_gauges.c \
       src/worker/quota.c \
       src/worker/token_cache.c \
       src/serve/serve.c src/serve/serve_ctx.c src/serve/login.c src/serve/login_cookie.c \
       src/serve/login_spotify.c \
       src/serve/oauth.c src/serve/connect_link.c src/serve/iplimit.c \
       src/serve/admin.c src/serve/admin_html.c src/serve/admin_model.c src/serve/admin_pages.c \
       src/serve/admin_actions.c src/serve/admin_live.c src/serve/admin_series.c \
       src/cli/cli_common.c src/cli/app.c src/cli/user.c src/cli/user_import.c src/cli/watch.c \
       src/cli/status.c src/cli/tail.c src/cli/keygen.c src/cli/commands.c src/cli/help.c src/cli/out.c
LUA := lua/claim.lua lua/complete.lua lua/token_store.lua lua/refresh_begin.lua \
       lua/oauth_slot.lua lua/oauth_store.lua lua/grant.lua lua/user_put.lua \
       lua/allowance.lua
LUA_LIB := $(wildcard lua/lib/*.lua)

OBJ := $(SRC:src/%.c=build/%.o) build/scripts_gen.o
OBJ += build/admin_assets_gen.o

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/test_%.c=build/tests/unit_%)

all: bin/spotwatch bin/spotify-sim man

# spotwatch(1) and the bash completion, printed by the binary itself from
# the command table (src/cli/commands.c), the source of --help too; `make
# install` installs them.
MAN1       := build/man/spotwatch.1
COMPLETION := build/completion/spotwatch.bash

$(MAN1): bin/spotwatch
	@mkdir -p $(dir $@)
	bin/spotwatch --help-man > $@.tmp && mv $@.tmp $@

$(COMPLETION): bin/spotwatch
	@mkdir -p $(dir $@)
	bin/spotwatch --help-completion > $@.tmp && mv $@.tmp $@

bin/spotwatch: build/main.o $(OBJ)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# Lua scripts are embedded so an installed binary needs no files beside it.
# A line "--@include <name>.lua" is replaced by lua/<name>.lua, or else by
# build/lua/<script>/<name>.lua (generated: contract.lua, the script's part of
# include/redis/script_contract.h). Redis scripts cannot load modules;
# tests/integration/harness.py's lua_source does the same.
build/script_contract_lua: src/redis/script_contract_lua.c include/redis/script_contract.h
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $<

# Each script gets only its own section: build/lua/<script>/contract.lua.
LUA_CONTRACTS := $(LUA:lua/%.lua=build/lua/%/contract.lua)
build/lua/%/contract.lua: build/script_contract_lua
	@mkdir -p $(dir $@)
	build/script_contract_lua $* > $@

build/scripts_gen.c: $(LUA) $(LUA_LIB) $(LUA_CONTRACTS) Makefile
	@mkdir -p build
	@{ echo '/* generated from lua/ by the Makefile: do not edit */'; \
	  for f in $(LUA); do \
	    n=$$(basename $$f .lua); \
	    echo "const char script_src_$$n[] ="; \
	    awk -v n=$$n '/^--@include /{ f = "lua/" $$2; if ((getline l < f) <= 0) f = "build/lua/" n "/" $$2; else print l; \
	                         while ((getline l < f) > 0) print l; close(f); next } { print }' $$f | \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/'; \
	    echo ';'; \
	  done; } > $@

build/scripts_gen.o: build/scripts_gen.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

# The dashboard's stylesheet and script are embedded too (serve needs no
# file beside it, and the page no CDN): admin_asset_<ext>[] per file.
ADMIN_ASSETS := src/serve/admin/admin.css src/serve/admin/admin.js
build/admin_assets_gen.c: $(ADMIN_ASSETS) Makefile
	@mkdir -p build
	@{ echo '/* generated from src/serve/admin/ by the Makefile: do not edit */'; \
	  for f in $(ADMIN_ASSETS); do \
	    echo "extern const char admin_asset_$${f##*.}[];"; \
	    echo "const char admin_asset_$${f##*.}[] ="; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $$f; \
	    echo ';'; \
	  done; } > $@

build/admin_assets_gen.o: build/admin_assets_gen.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

build/tests/unit_%: tests/unit/test_%.c $(OBJ)
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

-include tests/sim/sim.mk

test: deps
	$(MAKE) all unit
	SW_SANITIZER=$(SANITIZER) python3 tests/run.py $(TESTS)

unit: $(UNIT_BINS)

demo: deps
	$(MAKE) all
	tests/demo.sh

bench: all build/bench/curl_floor
	python3 tests/bench/bench.py

# the bare-libcurl floor of scenario 1 (bench only, not part of the product)
build/bench/curl_floor: tests/bench/curl_floor.c
	@mkdir -p build/bench
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs libcurl) -lev

# pb_parse + pb_state_decode + pb_state_encode (json_scan) on simulator answers
build/tests/parse_bench: tests/bench/parse_bench.c src/spotify/json_scan.c src/spotify/json_read.c \
                         src/spotify/playback.c src/spotify/playback_state.c src/spotify/events.c src/base/errbuf.c \
                         src/spotify/playback_forms.c
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

parse-bench: build/tests/parse_bench bin/spotify-sim
	python3 tests/bench/parse_bench.py

# smart polling against fixed 2 s polling, and its speed-up within the
# budget, under a light, a medium and a heavy load (about 5 minutes)
smart-bench: all
	python3 tests/bench/smart_polling.py
.PHONY: smart-bench

# a long run under churn; fails if a worker's live heap keeps growing or its fd count grows
soak: all
	python3 tests/bench/soak.py --minutes $(or $(MINUTES),30)

# Fuzzing (clang's libFuzzer, with ASan+UBSan): `make fuzz [FUZZ_SECONDS=60]`
# builds each target into build/fuzz/ (whatever SANITIZER says) and runs it
# that long, starting from its checked-in corpus tests/fuzz/corpus/<name>/
# (replayed first: the regression tests). New inputs go to
# build/fuzz/corpus/<name>/, a crash's input to build/fuzz/<name>-crash-*.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CFLAGS  = -g -O1 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Ibuild \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                $(shell pkg-config --cflags libcjson libcrypto)
FUZZ_LIBS    = $(shell pkg-config --libs libcjson libcrypto) -lm
FUZZ_NAMES   := playback token config state history pbdiff

build/fuzz/fuzz_playback: tests/fuzz/fuzz_playback.c src/spotify/playback.c src/spotify/playback_state.c src/spotify/events.c src/spotify/json_scan.c src/spotify/json_read.c \
                           src/base/errbuf.c src/spotify/playback_forms.c
build/fuzz/fuzz_token: tests/fuzz/fuzz_token.c src/spotify/token.c src/spotify/webapi.c src/spotify/answer.c \
                        src/base/codec.c src/base/errbuf.c
build/fuzz/fuzz_config: tests/fuzz/fuzz_config.c src/base/config.c src/base/errbuf.c build/build_info.h
build/fuzz/fuzz_state: tests/fuzz/fuzz_state.c src/serve/oauth.c src/redis/key_schema.c
build/fuzz/fuzz_history: tests/fuzz/fuzz_history.c src/spotify/recently_played.c src/spotify/playback.c src/spotify/playback_state.c src/spotify/events.c \
                          src/spotify/json_scan.c src/spotify/json_read.c src/base/errbuf.c src/spotify/playback_forms.c
# the three json_scan readers on one input (their goldens: tests/fuzz/golden/, test_pbcompat)
build/fuzz/fuzz_pbdiff: tests/fuzz/fuzz_pbdiff.c src/spotify/recently_played.c src/spotify/playback.c src/spotify/playback_state.c \
                        src/spotify/playback_flap.c src/spotify/events.c src/spotify/json_scan.c src/spotify/json_read.c src/base/errbuf.c \
                        src/spotify/playback_forms.c
build/fuzz/fuzz_%:
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(FUZZ_LIBS)

fuzz: $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

deps:
	.ci/deps.sh

# build/build_info.h: the version and the compiled-in sysconfdir. Rewritten
# only when a value changes, so a plain `make` rebuilds nothing, and
# `make sysconfdir=/x` rebuilds what reads it.
build/build_info.h: FORCE
	@mkdir -p build
	@printf '/* generated by the Makefile: do not edit */\n#define SW_BUILD_VERSION "%s"\n#define SW_BUILD_SYSCONFDIR "%s"\n' \
	    '$(VERSION)' '$(sysconfdir)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
build/main.o build/base/config.o build/worker/worker.o build/worker/worker_metrics.o build/serve/serve.o: build/build_info.h

# spotwatch.conf(5): generated from the directive table (src/base/config.c:
# names, defaults, bounds, what SIGHUP reloads) and the prose above each
# directive in conf/spotwatch.conf; the generator fails when a directive of
# the table has no entry in the file.
build/conf_man: src/base/conf_man.c build/base/config.o build/base/errbuf.o
	@mkdir -p build
	$(CC) $(CFLAGS) -o $@ $(filter %.c %.o,$^)
build/man/spotwatch.conf.5: build/conf_man conf/spotwatch.conf
	@mkdir -p build/man
	build/conf_man conf/spotwatch.conf '$(VERSION)' '$(sysconfdir)' > $@.tmp && mv $@.tmp $@

# man: every generated page and the completion; the CLI's generators add
# their outputs (build/man/spotwatch.1, build/completion/spotwatch.bash) as
# prerequisites here, and install copies whatever exists when it runs.
man: build/man/spotwatch.conf.5 $(MAN1) $(COMPLETION)

# install: the binary, the man pages (spotwatch(1) and the bash completion
# are the CLI's, generated from its command table when that exists), the
# systemd units (paths rewritten to bindir/sysconfdir) and the config, which
# is never overwritten: an edited one stays, the new one lands beside it as
# spotwatch.conf.default.
install: bin/spotwatch man
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(sysconfdir) $(DESTDIR)$(mandir)/man5 \
	    $(DESTDIR)$(unitdir)
	install -m 0755 bin/spotwatch $(DESTDIR)$(bindir)/spotwatch
	install -m 0644 build/man/spotwatch.conf.5 $(DESTDIR)$(mandir)/man5/spotwatch.conf.5
	@for m in build/man/*.1; do [ -f "$$m" ] || continue; \
	    install -d $(DESTDIR)$(mandir)/man1 && \
	    echo "install -m 0644 $$m $(DESTDIR)$(mandir)/man1/" && \
	    install -m 0644 $$m $(DESTDIR)$(mandir)/man1/ || exit 1; done
	@if [ -f build/completion/spotwatch.bash ]; then \
	    install -d $(DESTDIR)$(bashcompdir) && \
	    install -m 0644 build/completion/spotwatch.bash $(DESTDIR)$(bashcompdir)/spotwatch && \
	    echo "installed $(DESTDIR)$(bashcompdir)/spotwatch"; fi
	@for u in conf/systemd/*.service; do \
	    sed -e 's|@bindir@|$(bindir)|g' -e 's|@sysconfdir@|$(sysconfdir)|g' $$u > build/$$(basename $$u).tmp && \
	    install -m 0644 build/$$(basename $$u).tmp $(DESTDIR)$(unitdir)/$$(basename $$u) && \
	    rm -f build/$$(basename $$u).tmp && echo "installed $(DESTDIR)$(unitdir)/$$(basename $$u)" || exit 1; done
	@if [ -e $(DESTDIR)$(sysconfdir)/spotwatch.conf ]; then \
	    install -m 0644 conf/spotwatch.conf $(DESTDIR)$(sysconfdir)/spotwatch.conf.default; \
	    echo "kept $(DESTDIR)$(sysconfdir)/spotwatch.conf; the shipped one is spotwatch.conf.default beside it"; \
	else \
	    install -m 0644 conf/spotwatch.conf $(DESTDIR)$(sysconfdir)/spotwatch.conf; \
	    echo "installed $(DESTDIR)$(sysconfdir)/spotwatch.conf"; fi

clean:
	rm -rf build bin

.PHONY: all test unit demo bench parse-bench soak fuzz deps install man clean FORCE

-include $(wildcard build/*.d build/*/*.d)
