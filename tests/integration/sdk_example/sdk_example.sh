#!/bin/sh
# sdk_example.sh BUILD_DIR SOURCE_DIR: the out-of-tree plugin of
# examples/transport_memq builds from the installed SDK alone and loads.
#
# 1. `cmake --install` the components core and dev (what the -dev and runtime
#    packages hold) into a scratch prefix;
# 2. copies the example out of the source tree and builds it in a separate
#    directory with find_package(evc) (CMAKE_PREFIX_PATH=<prefix> only), then
#    again with pkg-config (PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig);
# 3. runs each build's memq_selftest (load through the core, the core refuses
#    a misspelt key, round trip ACKED);
# 4. installs the programs and asks the installed EV_CP_E to load and create
#    the plugin (--check-config with transport.plugin memq), and checks that
#    without the plugin's directory the same command is refused (exit 21).
set -eu
build=$(cd "$1" && pwd); src=$(cd "$2" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
step() { echo "== $*"; }
fail() { echo "FAIL: $*"; exit 1; }

step "install components core + dev into $prefix"
for c in core dev; do cmake --install "$build" --prefix "$prefix" --component "$c" >/dev/null; done
for f in include/evc/api.h include/evc/plugin.h include/evc/version.h; do
    [ -f "$prefix/$f" ] || fail "the dev component lacks $f"
done
pcdir=$(dirname "$(find "$prefix" -name evc.pc | head -n1)")
[ -f "$pcdir/evc.pc" ] || fail "the dev component lacks evc.pc"
cmakedir=$(dirname "$(find "$prefix" -name evcConfig.cmake | head -n1)")
[ -f "$cmakedir/EvcPlugin.cmake" ] || fail "the dev component lacks EvcPlugin.cmake"
[ -e "$(find "$prefix" -name 'libevc_core.so.*' | head -n1)" ] || fail "the core component lacks libevc_core.so.N"

# A copy, so that nothing can reach back into the source tree by a relative path.
cp -r "$src/examples/transport_memq" "$tmp/memq"

step "configure and build with find_package(evc), CMAKE_PREFIX_PATH=$prefix"
cmake -S "$tmp/memq" -B "$tmp/b-cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; fail "configuring the example against the installed SDK"; }
cmake --build "$tmp/b-cmake" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log"; fail "building the example against the installed SDK"; }
if grep -n "$src" "$tmp/b-cmake/CMakeCache.txt" "$tmp/b-cmake/CMakeFiles/"*.cmake 2>/dev/null; then
    fail "the example's build refers to the source tree $src"
fi
"$tmp/b-cmake/memq_selftest" "$tmp/b-cmake/plugins" || fail "memq_selftest (CMake build)"

step "build with pkg-config, PKG_CONFIG_PATH=$pcdir"
[ "$(PKG_CONFIG_PATH=$pcdir pkg-config --modversion evc)" = "$(cat "$build/evc_version.txt")" ] ||
    fail "evc.pc's version is not the project's"
PKG_CONFIG_PATH=$pcdir make -s -C "$tmp/memq" -f Makefile.pkgconfig OUT="$tmp/b-pkg" ||
    fail "building the example with pkg-config"
"$tmp/b-pkg/memq_selftest" "$tmp/b-pkg/plugins" || fail "memq_selftest (pkg-config build)"

step "the installed EV_CP_E loads and creates the plugin"
cmake --install "$build" --prefix "$prefix" >/dev/null
cfg=$(find "$prefix" -name evcharging.yaml | head -n1)
EVC_TRANSPORT=memq "$prefix/bin/EV_CP_E" --config "$cfg" --plugin-dir "$tmp/b-cmake/plugins" \
    --check-config || fail "EV_CP_E --check-config with transport memq"
set +e
EVC_TRANSPORT=memq "$prefix/bin/EV_CP_E" --config "$cfg" --plugin-dir "$tmp/nowhere" --check-config \
    >"$tmp/miss.log" 2>&1
rc=$?
set -e
[ $rc -eq 21 ] && grep -q "plugin 'memq'" "$tmp/miss.log" ||
    { cat "$tmp/miss.log"; fail "without its directory memq should be missing (exit 21), got $rc"; }
echo "PASS: the example built from the installed SDK (CMake and pkg-config) and loaded"
