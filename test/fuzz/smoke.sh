#!/usr/bin/env bash
# smoke.sh: the bounded fuzz run of the test suite, as one TAP producer.
# FUZZ_SECONDS (default 30) per target; run from the repository root.
cd "$(dirname "$0")/../.." || exit 1
exec test/fuzz/run-smoke.sh "${FUZZ_SECONDS:-30}" build/fuzz/fuzz_*
