#!/usr/bin/env bash
# setup.sh: install what raydar needs to build, test and demo, from
# Debian 12's own packages and nothing else. Idempotent: installed packages
# are skipped, and apt is not touched when nothing is missing.
set -euo pipefail

PACKAGES=(
  # build
  gcc make pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-client-15
  libprotobuf-c-dev protobuf-c-compiler
  libgrpc-dev libcurl4-openssl-dev libmicrohttpd-dev liblz4-dev
  # tests: C unit tests, fuzzing, TAP, the Ray cluster simulator
  libcjson-dev clang-14 libclang-rt-14-dev libipc-run-perl
  protobuf-compiler python3 python3-grpcio python3-protobuf python3-psycopg2 openssl
  # node metrics: promtool is the reference reader of the Prometheus format
  prometheus
  # collector maintenance scheduling (tests and docs)
  postgresql-15-cron
  # the Debian package (debian/, test/deb/deb-test.sh)
  debhelper postgresql-server-dev-all dpkg-dev fakeroot
  # the scale suite: PostgreSQL under Memcheck
  valgrind
  # answers: task graphs rendered by Graphviz, timelines by headless Chromium
  graphviz chromium
  # hostile-name tests: SVG checked with xmllint
  libxml2-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run this script as root (sudo $0) to install them" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# prometheus is installed for promtool only: its server must not run here.
if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled prometheus >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "setup: done"
