#!/usr/bin/env bash
# deb-test.sh: build the Debian package and install it on a clean PostgreSQL.
#
#   bash test/deb/deb-test.sh        (from the repository root; prints TAP)
#
# 1. Copies the tree to a scratch directory (dpkg-buildpackage writes the
#    .deb beside the tree it builds, which must not be the clone's parent)
#    and runs `dpkg-buildpackage -us -uc -b` there: pg_buildext builds
#    postgresql-15-raydar and runs the pg_regress suite against the built
#    package (debian/rules).
# 2. Installs the .deb into a clean PostgreSQL: a fresh copy of Debian's
#    PostgreSQL 15 (binaries, share, no raydar) in the scratch directory,
#    with the package's files unpacked into it by dpkg -x. Root is not
#    needed and the system's PostgreSQL is never touched; the files and
#    paths are the ones `apt install ./postgresql-15-raydar_*.deb` puts in
#    /usr.
# 3. Starts that PostgreSQL with raydar preloaded, starts the Ray simulator,
#    and checks CREATE EXTENSION raydar, its version, and a scan.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
pgv=15
work=$(mktemp -d "${TMPDIR:-/tmp}/raydar-deb.XXXXXX")
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
pg=
sim=
cleanup() {
  [ -n "$pg" ] && [ -f "$work/data/postmaster.pid" ] && "$pg/bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1
  [ -n "$sim" ] && kill "$sim" 2>/dev/null
  if [ "$failed" -eq 0 ] && [ -z "${RAYDAR_KEEP_RUN:-}" ]; then rm -rf "$work"; else echo "# kept $work"; fi
}
trap cleanup EXIT

# 1. Build.
mkdir -p "$work/src"
tar -C "$repo" --exclude=.git --exclude=./build --exclude=./tmp_check --exclude='*.o' \
    --exclude='*.so' --exclude='*.bc' --exclude=__pycache__ --exclude=./test/raysim/_gen \
    --exclude='./raydar--*.sql' --exclude=./src/proto/ray_gcs.pb-c.c --exclude=./src/proto/ray_gcs.pb-c.h \
    -cf - . | tar -C "$work/src" -xf -
if (cd "$work/src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1; then
  ok "dpkg-buildpackage -us -uc -b builds the package"
else
  not_ok "dpkg-buildpackage -us -uc -b builds the package"
  tail -n 40 "$work/build.log" | sed 's/^/# /'
  echo "1..$n"; exit 1
fi
check "the build ran the regression suite against the package (debian/rules: dh_pgxs_test)" \
  grep -qE 'All [0-9]+ tests passed' "$work/build.log"
deb=$(ls "$work"/postgresql-$pgv-raydar_*.deb 2>/dev/null | head -1)
check "it produced postgresql-$pgv-raydar_*.deb" test -n "$deb"
[ -n "$deb" ] || { echo "1..$n"; exit 1; }
ver=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" "$repo/raydar.control")
contents=$(dpkg-deb -c "$deb")
has() { grep -q "$1" <<<"$contents"; }
check "the package holds the library, the control file and every install and upgrade script" \
  eval 'has "usr/lib/postgresql/$pgv/lib/raydar.so" && has extension/raydar.control &&
        has extension/raydar--0.1.sql && has extension/raydar--0.1--0.2.sql && has "extension/raydar--$ver.sql"'

# 2. A clean PostgreSQL, then the package's files.
root="$work/root"
mkdir -p "$root/usr/lib" "$root/usr/share"
cp -a /usr/lib/postgresql "$root/usr/lib/"
cp -a /usr/share/postgresql "$root/usr/share/"
rm -f "$root/usr/lib/postgresql/$pgv/lib/raydar.so" "$root/usr/share/postgresql/$pgv/extension/raydar"*
dpkg -x "$deb" "$root"
pg="$root/usr/lib/postgresql/$pgv"
check "dpkg -x put raydar.so where PostgreSQL looks" test -f "$("$pg/bin/pg_config" --pkglibdir)/raydar.so"

# 3. Run it.
port=$((20000 + RANDOM % 20000))
"$pg/bin/initdb" -D "$work/data" -A trust --no-locale -E UTF8 >/dev/null
cat >> "$work/data/postgresql.conf" <<EOF
shared_preload_libraries = 'raydar'
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
timezone = 'UTC'
EOF
check "PostgreSQL starts with the packaged raydar preloaded" \
  "$pg/bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w start
/usr/bin/python3 "$repo/test/raysim/raysim.py" --port 0 --admin-port 0 --port-file "$work/sim.json" \
  --scenario mixed --speed 0 > "$work/sim.log" 2>&1 &
sim=$!
for _ in $(seq 100); do [ -s "$work/sim.json" ] && break; sleep 0.1; done
gport=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc_port"])' "$work/sim.json")
psql_() { "$pg/bin/psql" -X -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d postgres -Atq "$@"; }
check "CREATE EXTENSION raydar" psql_ -c 'CREATE EXTENSION raydar'
check "the installed version is $ver" test "$(psql_ -c "SELECT extversion FROM pg_extension WHERE extname = 'raydar'")" = "$ver"
check "a scan against the simulator returns its tasks" bash -c "
  out=\$(\"$pg/bin/psql\" -X -v ON_ERROR_STOP=1 -h '$work' -p $port -d postgres -Atq \
    -c \"CREATE SERVER ray FOREIGN DATA WRAPPER raydar OPTIONS (address '127.0.0.1:$gport')\" \
    -c 'CREATE SCHEMA ray_live' -c 'IMPORT FOREIGN SCHEMA ray FROM SERVER ray INTO ray_live' \
    -c 'SELECT count(*) > 0 AND count(*) = count(DISTINCT (task_id, attempt_number)) FROM ray_live.tasks')
  [ \"\$out\" = t ]"
check "the collector (its launcher) from the package runs" bash -c "
  for i in \$(seq 50); do
    [ \"\$(\"$pg/bin/psql\" -X -h '$work' -p $port -d postgres -Atq -c \"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'raydar collector launcher'\")\" = 1 ] && exit 0
    sleep 0.2
  done; exit 1"

echo "1..$n"
[ "$failed" -eq 0 ]
