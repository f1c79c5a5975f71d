# raydar: Ray cluster observability in SQL.
#
#   make              build the extension (PGXS, PostgreSQL 15)
#   make install      install it into the server's directories
#   make unit         build and run the C unit tests (no PostgreSQL needed)
#   make fuzz-smoke   build the libFuzzer target and run it for FUZZ_SECONDS
#   make installcheck pg_regress + TAP against a temporary instance
#
# scripts/test.sh runs everything as CI does; see docs/development.md.

MODULE_big = raydar
EXTENSION  = raydar
PGFILEDESC = "raydar - Ray cluster observability in SQL"
# Versions (docs/install.md, "Upgrading"). The version is written once, as
# default_version in raydar.control; the C code gets it as RAYDAR_VERSION.
# - raydar--$(EXTVERSION).sql, the current version's install script, is
#   built from src/sql/*.sql in name order (one file per purpose);
# - released versions' install scripts are frozen, byte for byte, in
#   src/released/ and installed as they are (never edit them);
# - raydar--A--B.sql is built from src/updates/A--B/*.sql in name order.
EXTVERSION := $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(dir $(abspath $(firstword $(MAKEFILE_LIST))))raydar.control)
UPDATES    := $(notdir $(wildcard src/updates/*--*))
DATA_built = raydar--$(EXTVERSION).sql $(UPDATES:%=raydar--%.sql)
DATA       = $(wildcard src/released/raydar--*.sql)
ifeq ($(EXTVERSION),)
$(error raydar.control has no default_version)
endif
ifneq ($(wildcard src/released/raydar--$(EXTVERSION).sql),)
$(error version $(EXTVERSION) is released (src/released/raydar--$(EXTVERSION).sql): raise default_version in raydar.control and add src/updates/$(EXTVERSION)--NEW/)
endif

# The PostgreSQL-free core (src/ray) and the generated protobuf code are
# linked into the extension, the unit tests and the fuzzer alike.
PROTO_SRC  = src/proto/ray_gcs.proto
PROTO_C    = src/proto/ray_gcs.pb-c.c
PROTO_H    = src/proto/ray_gcs.pb-c.h
CORE_SRCS  = $(wildcard src/ray/*.c)
PG_SRCS    = $(wildcard src/*.c)
OBJS       = $(PG_SRCS:.c=.o) $(CORE_SRCS:.c=.o) $(PROTO_C:.c=.o)

REGRESS      = extension decode fdw_options fdw_pushdown metrics maintenance access node_metrics
# pg_regress's own temporary instance, raydar preloaded; the Debian build
# (debian/rules) empties it to use pg_virtualenv's cluster instead.
REGRESS_INSTANCE ?= --temp-instance=./tmp_check --temp-config=test/regress.conf
REGRESS_OPTS = $(REGRESS_INSTANCE) --encoding=UTF8 --no-locale
TAP_TESTS    = 1
PROVE_TESTS  = test/t/*.pl

PKGS        = libprotobuf-c grpc libcurl libcjson libmicrohttpd liblz4
PG_CPPFLAGS = -Isrc/ray -Isrc/proto $(shell pkg-config --cflags $(PKGS)) \
              -DRAYDAR_VERSION='"$(EXTVERSION)"'
SHLIB_LINK  = $(shell pkg-config --libs $(PKGS)) -lm
EXTRA_CLEAN = $(PROTO_C) $(PROTO_H) build tmp_check results regression.diffs regression.out

# JIT inlining of an FDW's code buys nothing; skip the clang bitcode step.
override with_llvm = no

# The tests read Ray's wire vectors from the repository's fixtures; an
# absolute path, because pg_regress reads it with psql's \getenv.
export RAYDAR_VECTORS ?= $(dir $(abspath $(firstword $(MAKEFILE_LIST))))test/fixtures/ray-wire

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

raydar--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

# raydar--A--B.sql from the fragments in src/updates/A--B, in name order.
define update_script
raydar--$(1).sql: $$(sort $$(wildcard src/updates/$(1)/*.sql))
	cat $$^ > $$@
endef
$(foreach u,$(UPDATES),$(eval $(call update_script,$(u))))

# Objects compiled for another version would report the wrong one.
$(OBJS): raydar.control

$(PROTO_C) $(PROTO_H): $(PROTO_SRC)
	cd src/proto && protoc-c --c_out=. ray_gcs.proto

$(OBJS): $(PROTO_H) $(wildcard src/ray/*.h src/*.h)

# ---------------------------------------------------------------------------
# C unit tests and fuzzing: the core only, built with sanitizers.
# ---------------------------------------------------------------------------
BUILD       = build
UNIT_CC     ?= gcc
UNIT_CFLAGS = -std=gnu11 -O1 -g -Wall -Wextra -Wno-unused-parameter \
              -fsanitize=address,undefined -fno-omit-frame-pointer \
              -Isrc/ray -Isrc/proto -Itest/unit $(shell pkg-config --cflags libprotobuf-c)
# The unit tests and fuzzer cover the PostgreSQL- and network-free part.
UNIT_SRCS   = $(filter-out src/ray/ray_grpc.c,$(CORE_SRCS))
UNIT_LIBS   = $(shell pkg-config --libs libprotobuf-c libcjson) -lm
UNIT_TESTS  = $(patsubst test/unit/%.c,$(BUILD)/unit/%,$(wildcard test/unit/test_*.c))
CORE_DEPS   = $(CORE_SRCS) $(PROTO_C) $(wildcard src/ray/*.h) $(PROTO_H)

$(BUILD)/unit/%: test/unit/%.c $(wildcard test/unit/*.h) $(CORE_DEPS)
	@mkdir -p $(dir $@)
	$(UNIT_CC) $(UNIT_CFLAGS) -o $@ $< $(UNIT_SRCS) $(PROTO_C) $(UNIT_LIBS)

# Tests of code that runs threads, also under ThreadSanitizer (which
# cannot share a program with AddressSanitizer).
TSAN_TESTS  = $(BUILD)/unit/tsan_test_parse_ahead

$(BUILD)/unit/tsan_%: test/unit/%.c $(wildcard test/unit/*.h) $(CORE_DEPS)
	@mkdir -p $(dir $@)
	$(UNIT_CC) -std=gnu11 -O1 -g -fsanitize=thread \
		-Isrc/ray -Isrc/proto -Itest/unit $(shell pkg-config --cflags libprotobuf-c) \
		-o $@ $< $(UNIT_SRCS) $(PROTO_C) $(UNIT_LIBS)

unit-build: $(UNIT_TESTS) $(TSAN_TESTS)

unit: unit-build
	TSAN_OPTIONS=halt_on_error=1 prove -e '' $(UNIT_TESTS) $(TSAN_TESTS)

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 20
FUZZ_TARGETS = $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard test/fuzz/fuzz_*.c))

$(BUILD)/fuzz/%: test/fuzz/%.c test/unit/keys_compare.h $(CORE_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Isrc/ray -Isrc/proto -Itest/unit $(shell pkg-config --cflags libprotobuf-c) \
		-o $@ $< $(UNIT_SRCS) $(PROTO_C) $(shell pkg-config --libs libprotobuf-c libcjson) -lm

fuzz-build: $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	test/fuzz/run-smoke.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

.PHONY: unit unit-build fuzz-build fuzz-smoke
