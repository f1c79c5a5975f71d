#!/usr/bin/env bash
# bench/push/parse.sh: the merger's parse of a pushed body, without
# PostgreSQL: builds bench/push/parse.c against the core (-O2) and times,
# on one body of BENCH_EVENTS events from the simulator's load generator
# (test/raysim/raysim/loadgen.py, Ray's FEB26 shape, camelCase keys),
# cJSON's tree on malloc with cJSON_Delete (the road before) against the
# tree in an arena (ray_json_parse_in), alternating, BENCH_RUNS times of
# BENCH_REPS parses; and the whole ray_event_batch_parse. Prints a markdown
# row: medians in ms, the arena/malloc ratio and the whole parse's
# estimated ratio to the road before (below 1 is faster). Needs what
# `make unit` needs.
set -euo pipefail

cd "$(dirname "$0")/../.."
EVENTS=${BENCH_EVENTS:-1000}
RUNS=${BENCH_RUNS:-9}
REPS=${BENCH_REPS:-40}
OUT=build/bench
mkdir -p "$OUT"
make -s src/proto/ray_gcs.pb-c.c >/dev/null
/usr/bin/python3 - "$EVENTS" "$OUT/push_body.json" <<'PY'
import sys
sys.path.insert(0, "test/raysim")
from raysim import loadgen
n, path = int(sys.argv[1]), sys.argv[2]
g = loadgen.Generator(profile="master", nodes=4, seed=7)
events, i = [], 0
while len(events) < n:
    events += [e for _, _, e in g.fast_events(i)]
    i += 1
open(path, "w").write("[" + ",".join(events[:n]) + "]")
PY
# shellcheck disable=SC2046
gcc -std=gnu11 -O2 -g -Isrc/ray -Isrc/proto $(pkg-config --cflags libprotobuf-c libcjson) \
    -o "$OUT/push_parse" bench/push/parse.c \
    $(ls src/ray/*.c | grep -v ray_grpc.c) src/proto/ray_gcs.pb-c.c \
    $(pkg-config --libs libprotobuf-c libcjson) -lm
echo "| body bytes | tree on malloc (ms) | tree in arena (ms, min-max) | whole parse (ms) | arena / malloc | whole parse / before |"
echo "|---|---|---|---|---|---|"
"$OUT/push_parse" "$OUT/push_body.json" "$RUNS" "$REPS"
