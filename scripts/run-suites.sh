#!/usr/bin/env bash
# run-suites.sh: run every test suite in this tree and count the results.
#
# Run by scripts/test.sh as an ordinary user, in a scratch copy it owns.
# The Ray wire vectors are the fixtures in test/fixtures/ray-wire
# (RAYDAR_VECTORS overrides, as an absolute path). Each suite is a TAP producer run by prove, or
# pg_regress; the counts of all of them make the closing line
# "N passed, N failed". A suite that dies before reporting counts as one
# failure, so a run that executes nothing can never look green.
set -uo pipefail
cd "$(dirname "$0")/.."
export RAYDAR_VECTORS=${RAYDAR_VECTORS:-$PWD/test/fixtures/ray-wire}
export PATH="$(pg_config --bindir):$PATH"
logs=build/logs
mkdir -p "$logs"
passed=0
failed=0

# count_prove LOG RC: add the subtests prove reported in LOG.
count_prove() {
  local log=$1 rc=$2 total fails
  total=$(grep -Eo 'Files=[0-9]+, Tests=[0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+$')
  fails=$(grep -Eo 'Failed: [0-9]+\)' "$log" | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')
  # A file that died without reporting failed subtests still failed.
  local dead
  dead=$(grep -E 'Wstat: [1-9]|Parse errors|No plan found' "$log" | grep -vc 'Failed: [1-9]')
  fails=$((fails + dead))
  # A suite that ran no test at all is a failure, never a pass.
  if [ -z "$total" ] || [ "$total" -eq 0 ]; then total=0; fails=$((fails > 0 ? fails : 1)); fi
  if [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then fails=1; fi
  passed=$((passed + total - (fails > total ? total : fails)))
  failed=$((failed + fails))
}

# count_regress LOG RC: add pg_regress's test results.
count_regress() {
  local log=$1 rc=$2 ok bad
  ok=$(grep -Ec '^(test| ) .* \.\.\. +ok' "$log")
  bad=$(grep -Ec '^(test| ) .* \.\.\. +FAILED' "$log")
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
  passed=$((passed + ok))
  failed=$((failed + bad))
}

run_suite() {
  local name=$1 kind=$2; shift 2
  local log="$logs/$name.log" rc
  echo "=== $name"
  "$@" > "$log" 2>&1
  rc=$?
  tail -n 25 "$log"
  "count_$kind" "$log" "$rc"
  echo "=== $name: exit $rc (running total: $passed passed, $failed failed)"
}

run_suite build-unit prove bash -c 'make -s unit-build fuzz-build >/dev/null && TSAN_OPTIONS=halt_on_error=1 prove -e "" build/unit/test_* build/unit/tsan_*'
run_suite fuzz prove prove -e bash test/fuzz/smoke.sh
# The simulator and TAP suites run RAYDAR_JOBS files at a time (default 3):
# most of their time is spent waiting on a simulated cluster or a collector
# poll, not on the CPU, and every file has its own ports, data directory and
# simulator. Their checks are exact counts, never wall-clock times (timed
# limits use the backend's own CPU time), so parallel files do not flake.
jobs=${RAYDAR_JOBS:-3}
run_suite simulator prove prove -j"$jobs" -e /usr/bin/python3 test/raysim/t/*.py
run_suite regress regress make -s installcheck TAP_TESTS=
[ -f regression.diffs ] && cp regression.diffs "$logs/" && head -c 20000 regression.diffs
# The longest TAP files start first, so that no long one starts last and
# runs alone at the end (with -j3 on the 2-core CI machine, 2026-12-07:
# 523 s in name order against about 470 s scheduled this way, by the
# files' measured times). Every other file follows in name order, new ones
# included.
slow="test/t/100_http_transport.pl test/t/174_push_job_ends.pl test/t/150_never_crash.pl
  test/t/030_fdw_pushdown.pl test/t/171_push_sim.pl test/t/173_push_maintenance.pl
  test/t/070_metrics_cron.pl test/t/081_collector_outage.pl"
tap_files=$(for f in $slow; do [ -f "$f" ] && echo "$f"; done
  for f in test/t/*.pl; do case " $(echo $slow) " in *" $f "*) ;; *) echo "$f" ;; esac; done)
run_suite tap prove make -s installcheck REGRESS= PROVE_FLAGS="--verbose -j$jobs" \
  PROVE_TESTS="$(echo $tap_files)"
# The Debian package: built with pg_buildext (its regression suite runs at
# build time) and installed on a clean copy of PostgreSQL (test/deb).
run_suite deb prove prove -e bash test/deb/deb-test.sh
# The scale suite: 100,000 varied attempts through the FDW and the collector
# with PostgreSQL under Valgrind's Memcheck (test/scale/memcheck.pl), and
# 500,000 attempts pushed by 4 nodes through the receiver, five times Ray's
# GCS cap, all in history each once (test/scale/push_500k.pl, about 2 min).
run_suite scale prove make -s installcheck REGRESS= PROVE_FLAGS=--verbose \
  PROVE_TESTS="test/scale/memcheck.pl test/scale/push_500k.pl"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
