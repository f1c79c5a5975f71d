#!/usr/bin/env bash
# smoke.sh: the bounded fuzz run of the test suite, as one TAP producer.
# FUZZ_SECONDS (default 30) is the whole run's budget, split evenly between
# the targets so adding one does not lengthen the suite; run from the
# repository root.
cd "$(dirname "$0")/../.." || exit 1
targets=(build/fuzz/fuzz_*)
per=$(( ${FUZZ_SECONDS:-30} / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1
exec test/fuzz/run-smoke.sh "$per" "${targets[@]}"
