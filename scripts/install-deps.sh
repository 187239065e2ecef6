#!/usr/bin/env bash
# Installs the Debian packages EVCharging needs to build, test and run.
# Idempotent: packages already present cost nothing. Runs apt-get update only
# when a package cannot be found in the current lists.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev valgrind
  libuv1-dev libyaml-dev libjansson-dev libsodium-dev
  librdkafka-dev libzmq3-dev libsqlite3-dev sqlite3
  libwebsockets-dev libwebsockets-evlib-uv libssl-dev
  libcriterion-dev kcat curl openssl jq
  lintian dpkg-dev fakeroot systemd util-linux iproute2 help2man
  # ^ make package and integ_packages: lintian, dpkg-shlibdeps (dpkg-dev),
  #   systemd-analyze (systemd), unshare (util-linux), ip (iproute2),
  #   the manual pages from --help (help2man)
  chromium
  iproute2    # ip netns/link: tests/integration/three_hosts
)
# The dashboards' build (npm ci) and browser tests (node --test): Debian's
# nodejs and npm only when no node/npm is on PATH already (a node from another
# source, e.g. NodeSource's, ships its own npm, which Debian's npm conflicts with).
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
