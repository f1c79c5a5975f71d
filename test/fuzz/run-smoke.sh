#!/usr/bin/env bash
# run-smoke.sh SECONDS TARGET...: run each libFuzzer target for a bounded
# time from a seed corpus of Ray's own wire vectors; print TAP.
#
# The corpus is copied to a scratch directory so findings never land in the
# repository. A crash makes libFuzzer exit non-zero and leaves crash-* in
# the scratch directory, whose path the failure line prints.
set -u
seconds=${1:?seconds}; shift
here=$(cd "$(dirname "$0")" && pwd)
vectors=${RAYDAR_VECTORS:-$here/../fixtures/ray-wire}
work=$(mktemp -d "${TMPDIR:-/tmp}/raydar-fuzz.XXXXXX")
n=0; failed=0
for target in "$@"; do
  target=$(realpath "$target")
  name=$(basename "$target")
  corpus="$work/$name/corpus"; mkdir -p "$corpus"
  # Seeds: each vector reply, prefixed by the version byte the target reads.
  i=0
  for p in ray-2.9 ray-2.35 ray-2.40 ray-2.49 ray-master; do
    for f in "$vectors/$p"/get_task_events_reply.bin "$vectors/$p"/check_alive_reply.bin; do
      [ -f "$f" ] || continue
      { printf "\\x$(printf %02x $i)"; cat "$f"; } > "$corpus/seed-$p-$(basename "$f")"
    done
    i=$((i + 1))
  done
  # The text-format target reads Prometheus bodies, not wire replies.
  [ "$name" = fuzz_prom ] && cp "$here"/../unit/prom_corpus/*.prom "$corpus"/
  n=$((n + 1))
  log="$work/$name/fuzz.log"
  if (cd "$work/$name" && "$target" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 corpus) > "$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    echo "ok $n - $name: ${runs:-?} runs in ${seconds}s, no crash"
  else
    failed=$((failed + 1))
    echo "not ok $n - $name: crash or sanitizer report; see $log"
    tail -30 "$log" | sed 's/^/# /'
  fi
done
echo "1..$n"
[ "$failed" -eq 0 ] && rm -rf "$work"
exit "$failed"
