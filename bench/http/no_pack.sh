#!/usr/bin/env bash
# bench/http/no_pack.sh: what removing the pack-then-unpack round trip of
# the dashboard path saves, without PostgreSQL or the simulator: builds
# bench/http/no_pack.c against the core (-O2, no sanitizers) and, for every
# fixture profile, times the old roads (parse, pack into GetTaskEventsReply
# bytes, then the keys walk of count(*), or index and unpack every attempt
# as a scan of full rows did) against the current one (parse, derive in
# memory, for both) on the same body of BENCH_TASKS rows, alternating,
# BENCH_RUNS times. Prints a markdown table: medians in ms (the current
# road's min-max too) and the ratios current/old (below 1 is faster). Run
# from anywhere; needs what `make unit` needs.
set -euo pipefail

cd "$(dirname "$0")/../.."
TASKS=${BENCH_TASKS:-10000}
RUNS=${BENCH_RUNS:-7}
OUT=build/bench
mkdir -p "$OUT"
make -s src/proto/ray_gcs.pb-c.c >/dev/null
# shellcheck disable=SC2046
gcc -std=gnu11 -O2 -g -Isrc/ray -Isrc/proto $(pkg-config --cflags libprotobuf-c libcjson) \
    -o "$OUT/no_pack" bench/http/no_pack.c \
    $(ls src/ray/*.c | grep -v ray_grpc.c) src/proto/ray_gcs.pb-c.c \
    $(pkg-config --libs libprotobuf-c libcjson) -lm

echo "| profile | rows | body bytes | packed, keys (ms) | packed, streamed (ms) | in memory (ms, min-max) | in memory / packed keys | in memory / packed streamed |"
echo "|---|---|---|---|---|---|---|---|"
for p in test/fixtures/ray-wire/ray-*/; do
  "$OUT/no_pack" "${p%/}" "$TASKS" "$RUNS"
done
