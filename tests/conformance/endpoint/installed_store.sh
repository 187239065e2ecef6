#!/bin/sh
# installed_store.sh BUILD_DIR SOURCE_DIR: installs the build (component dev,
# then the rest) into a scratch prefix and runs the installed evc-conformance
# against the installed SQLite plugin, with sections a plugin author would
# write and no fixture -- nothing from the build or source tree but those
# section files. Expected: no FAIL; the checks needing the database's own
# tools SKIP with their reason (exit 3); conformance_run.sh checks the table.
set -u
build=$1
src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" --component dev >/dev/null || exit 2
cmake --install "$build" --prefix "$prefix" >/dev/null || exit 2
[ -x "$prefix/bin/evc-conformance" ] || { echo "installed_store: no bin/evc-conformance" >&2; exit 2; }
[ -f "$prefix/include/evc/conformance_fixture.h" ] ||
    { echo "installed_store: no include/evc/conformance_fixture.h" >&2; exit 2; }
plugins=$(dirname "$(find "$prefix" -name evc_store_sqlite.so | head -n 1)")
ex=$src/tools/evc_conformance/examples/sqlite
cd "$prefix" && exec "$prefix/bin/evc-conformance" store --plugin sqlite --plugin-dir "$plugins" \
    --section "$ex/default.yaml" --section "batch=$ex/batch.yaml" \
    --section "batch_rows=$ex/batch_rows.yaml" --section "read_only=$ex/read_only.yaml" \
    --jobs 2
