#!/usr/bin/env bash
# test.sh: set everything up and run every test, as CI does.
#
#   bash scripts/test.sh
#
# Installs the Debian packages (scripts/setup.sh), builds and installs the
# extension, then runs all suites (scripts/run-suites.sh) as an ordinary
# user in a scratch copy of the tree, because initdb refuses root. The last
# line is "N passed, N failed"; the exit status is non-zero on any failure.
#
# The tree needs nothing beside it (the Ray wire vectors are fixtures in
# test/fixtures/ray-wire) and may sit anywhere, also in a home directory
# that the test user cannot enter: the suites run in a copy under the first
# of $RAYDAR_TEST_DIR, $TMPDIR, /tmp, /var/tmp that the test user can write
# and enter, and they get a TMPDIR inside that copy.
#
#   RAYDAR_TEST_USER=name   the user the suites run as when run as root
#                           (default raydar_test, created if missing)
#   RAYDAR_TEST_DIR=dir     where the scratch copy goes (see above)
#   RAYDAR_KEEP_RUN=1       keep the scratch copy also when all pass
#   RAYDAR_TEST_DRY=1       only make the scratch copy, check that the test
#                           user can use it, print its path and remove it
#                           (no packages, no build, no install, no suites)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$repo/test/fixtures/ray-wire/README.md" ] || {
  echo "test: $repo/test/fixtures/ray-wire is missing; is this a complete clone?" >&2; exit 2; }

# The suites run as an ordinary user in a copy it owns.
runner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  runner=${RAYDAR_TEST_USER:-raydar_test}
  id -u "$runner" >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash "$runner"
fi

# as_runner CMD...: run CMD as the test user (directly when not root).
as_runner() {
  if [ "$(id -u)" -eq 0 ] && [ "$runner" != root ]; then
    runuser -u "$runner" -- "$@"
  else
    "$@"
  fi
}

# A base directory the test user can write and enter, all the way down.
base=
for d in ${RAYDAR_TEST_DIR:+"$RAYDAR_TEST_DIR"} ${TMPDIR:+"$TMPDIR"} /tmp /var/tmp; do
  if [ -d "$d" ] && as_runner test -w "$d" -a -x "$d"; then base=$(cd "$d" && pwd); break; fi
  echo "test: $d is not a directory that user $runner can write and enter; trying the next" >&2
done
[ -n "$base" ] || {
  echo "test: no directory for the scratch copy: user $runner can write none of" \
       "${RAYDAR_TEST_DIR:-} ${TMPDIR:-} /tmp /var/tmp; set RAYDAR_TEST_DIR to one it can" >&2
  exit 2; }

if [ -z "${RAYDAR_TEST_DRY:-}" ]; then
  "$repo/scripts/setup.sh"
  echo "test: building and installing raydar"
  make -C "$repo" -s -j2 >/dev/null
  if [ -w "$(pg_config --pkglibdir)" ]; then
    make -C "$repo" -s install >/dev/null
  else
    echo "test: $(pg_config --pkglibdir) is not writable; run as root, or install raydar first" >&2
    exit 2
  fi
fi

run=$(mktemp -d "$base/raydar-test.XXXXXX")
mkdir -p "$run/main" "$run/tmp"
tar -C "$repo" --exclude=.git --exclude=./build --exclude=./tmp_check \
    --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=__pycache__ \
    --exclude=./test/raysim/_gen --exclude=./src/proto/ray_gcs.pb-c.c \
    --exclude=./src/proto/ray_gcs.pb-c.h --exclude=./debian/.debhelper \
    -cf - . | tar -C "$run/main" -xf -
chmod 755 "$run"
[ "$(id -u)" -eq 0 ] && chown -R "$runner" "$run"
# Fail here, with the reason, rather than as 50 unexplained test failures.
as_runner test -r "$run/main/test/fixtures/ray-wire/ray-2.49/expected_tasks.json" -a -w "$run/tmp" || {
  echo "test: user $runner cannot read the scratch copy $run (check the mount options of $base)" >&2
  exit 2; }

if [ -n "${RAYDAR_TEST_DRY:-}" ]; then
  echo "test: dry run: user $runner can use the scratch copy $run"
  rm -rf "$run"
  exit 0
fi

status=0
home=$(getent passwd "$runner" | cut -d: -f6)
as_runner env HOME="${home:-$run}" TMPDIR="$run/tmp" \
  bash "$run/main/scripts/run-suites.sh" || status=$?
if [ "$status" -eq 0 ] && [ -z "${RAYDAR_KEEP_RUN:-}" ]; then
  rm -rf "$run"
else
  echo "test: logs and outputs kept in $run/main/build/logs" >&2
fi
exit "$status"
