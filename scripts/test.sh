#!/usr/bin/env bash
# test.sh: set everything up and run every test, as CI does.
#
#   bash scripts/test.sh
#
# Installs the Debian packages (scripts/setup.sh), builds and installs the
# extension, then runs all suites (scripts/run-suites.sh) as an ordinary
# user in a scratch copy of the tree, because initdb refuses root. The last
# line is "N passed, N failed"; the exit status is non-zero on any failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shared=$(cd "$repo/../shared" 2>/dev/null && pwd) || {
  echo "test: ../shared (the Ray wire vectors) must sit beside the repository" >&2; exit 2; }

"$repo/scripts/setup.sh"

echo "test: building and installing raydar"
make -C "$repo" -s -j2 >/dev/null
if [ -w "$(pg_config --pkglibdir)" ]; then
  make -C "$repo" -s install >/dev/null
else
  echo "test: $(pg_config --pkglibdir) is not writable; run as root, or install raydar first" >&2
  exit 2
fi

# The suites run as an ordinary user in a copy it owns.
runner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  runner=${RAYDAR_TEST_USER:-raydar_test}
  id -u "$runner" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$runner"
fi
run=$(mktemp -d "${TMPDIR:-/tmp}/raydar-test.XXXXXX")
mkdir -p "$run/main"
tar -C "$repo" --exclude=.git --exclude=./build --exclude=./tmp_check \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=__pycache__ \
    --exclude=./test/raysim/_gen --exclude=./src/proto/ray_gcs.pb-c.c \
    --exclude=./src/proto/ray_gcs.pb-c.h -cf - . | tar -C "$run/main" -xf -
ln -s "$shared" "$run/shared"
chmod 755 "$run"
chown -R "$runner" "$run"

status=0
if [ "$(id -u)" -eq 0 ]; then
  runuser -u "$runner" -- env HOME="$(getent passwd "$runner" | cut -d: -f6)" \
    bash "$run/main/scripts/run-suites.sh" || status=$?
else
  bash "$run/main/scripts/run-suites.sh" || status=$?
fi
if [ "$status" -eq 0 ] && [ -z "${RAYDAR_KEEP_RUN:-}" ]; then
  rm -rf "$run"
else
  echo "test: logs and outputs kept in $run/main/build/logs" >&2
fi
exit "$status"
