#!/bin/sh
# check_exports.sh LIB HEADER_DIR...: libevc_core exports exactly the SDK.
#
# Every symbol in the dynamic symbol table of LIB (nm -D --defined-only) must
# be a function declared with EVC_API in one of the headers that are
# installed (HEADER_DIR/*.h), and every EVC_API declaration must be exported.
# An internal helper that leaks (visibility not hidden, or EVC_API on a
# function of core/src) or an SDK function that lost its mark fails, naming
# the symbol.
set -eu
lib=$1; shift
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

[ -f "$lib" ] || { echo "FAIL: no library $lib"; exit 1; }
# Column 3 is the name; versioned names (sym@VER) are compared without the tag.
nm -D --defined-only "$lib" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u \
    >"$tmp/exported"
[ -s "$tmp/exported" ] || { echo "FAIL: nm -D found no symbols in $lib"; exit 1; }

for d in "$@"; do cat "$d"/*.h; done >"$tmp/headers"
# The name is on the line that starts with EVC_API (evc/api.h's rule: the
# mark opens the declaration; only the arguments continue on later lines).
grep -E '^EVC_API ' "$tmp/headers" | sed -E 's/\(.*//; s/.*[ *]//' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || { echo "FAIL: no EVC_API declaration in $*"; exit 1; }

status=0
comm -23 "$tmp/exported" "$tmp/declared" >"$tmp/leaked"
comm -13 "$tmp/exported" "$tmp/declared" >"$tmp/missing"
if [ -s "$tmp/leaked" ]; then
    echo "FAIL: exported by $(basename "$lib") but not declared EVC_API in an installed header:"
    sed 's/^/  /' "$tmp/leaked"
    status=1
fi
if [ -s "$tmp/missing" ]; then
    echo "FAIL: declared EVC_API but not exported by $(basename "$lib"):"
    sed 's/^/  /' "$tmp/missing"
    status=1
fi
[ $status -eq 0 ] && echo "ok: $(wc -l <"$tmp/exported") symbols exported, all declared EVC_API"
exit $status
