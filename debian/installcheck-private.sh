#!/bin/sh
# installcheck-private.sh VERSION: the pg_regress suite against the package
# just built (debian/postgresql-VERSION-raydar), on a private copy of
# Debian's PostgreSQL VERSION from which any raydar already installed on
# this machine is removed.
#
# Why not pg_buildext installcheck alone: its cluster (pg_virtualenv) finds
# the package's files through extension_destdir, which PostgreSQL searches
# only after its own directories, so a raydar installed on the build
# machine (make install) would be the one tested. debian/rules uses this
# script only then; a clean machine gets pg_buildext installcheck.
set -eu
v=$1
pkg=debian/postgresql-$v-raydar
tmp=$(mktemp -d "${TMPDIR:-/tmp}/raydar-installcheck.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ "$(id -u)" -eq 0 ]; then
  echo "installcheck-private: initdb refuses root: build as a normal user, or with DEB_BUILD_OPTIONS=nocheck" >&2
  exit 1
fi
mkdir -p "$tmp/usr/lib/postgresql" "$tmp/usr/share/postgresql"
cp -a "/usr/lib/postgresql/$v" "$tmp/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/$v" "$tmp/usr/share/postgresql/"
rm -f "$tmp/usr/lib/postgresql/$v/lib/raydar.so" "$tmp/usr/share/postgresql/$v/extension/raydar"*
cp -a "$pkg/usr/." "$tmp/usr/"
echo "installcheck-private: PostgreSQL $v in $tmp with the files of $pkg only"
make installcheck USE_PGXS=1 TAP_TESTS= PG_CONFIG="$tmp/usr/lib/postgresql/$v/bin/pg_config" || {
  [ -r regression.diffs ] && cat regression.diffs
  exit 1
}
make clean USE_PGXS=1 PG_CONFIG="$tmp/usr/lib/postgresql/$v/bin/pg_config" >/dev/null
