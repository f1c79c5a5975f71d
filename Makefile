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
# The install script is built from src/sql/*.sql in name order (one file
# per purpose); upgrade scripts raydar--A--B.sql are kept as they are.
DATA_built = raydar--0.1.sql
DATA       = $(wildcard raydar--*--*.sql)

# The PostgreSQL-free core (src/ray) and the generated protobuf code are
# linked into the extension, the unit tests and the fuzzer alike.
PROTO_SRC  = src/proto/ray_gcs.proto
PROTO_C    = src/proto/ray_gcs.pb-c.c
PROTO_H    = src/proto/ray_gcs.pb-c.h
CORE_SRCS  = $(wildcard src/ray/*.c)
PG_SRCS    = $(wildcard src/*.c)
OBJS       = $(PG_SRCS:.c=.o) $(CORE_SRCS:.c=.o) $(PROTO_C:.c=.o)

REGRESS      = extension decode fdw_options fdw_pushdown metrics maintenance access node_metrics
REGRESS_OPTS = --temp-instance=./tmp_check --temp-config=test/regress.conf \
               --encoding=UTF8 --no-locale
TAP_TESTS    = 1
PROVE_TESTS  = test/t/*.pl

PKGS        = libprotobuf-c grpc libcurl libcjson
PG_CPPFLAGS = -Isrc/ray -Isrc/proto $(shell pkg-config --cflags $(PKGS))
SHLIB_LINK  = $(shell pkg-config --libs $(PKGS)) -lm
EXTRA_CLEAN = $(PROTO_C) $(PROTO_H) build tmp_check results regression.diffs regression.out

# JIT inlining of an FDW's code buys nothing; skip the clang bitcode step.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

raydar--0.1.sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

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

unit-build: $(UNIT_TESTS)

unit: unit-build
	prove -e '' $(UNIT_TESTS)

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
