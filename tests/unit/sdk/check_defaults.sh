#!/bin/sh
# check_defaults.sh SRCDIR: a config default is written once, in its schema
# (evc_cfg_field.default_text), and the code reads it from there with
# evc_cfg_schema_* (issue 15). This fails on any read in the roles, plugins
# and tools that writes its own default next to the schema's: an
# evc_cfg_get_int/bool/double call, or an evc_cfg_get_str call whose default
# is a non-empty literal. (NULL or "" say "absent": for keys without one.)
set -u
src=${1:?usage: check_defaults.sh SRCDIR}
bad=0
for dir in roles plugins tools; do
    [ -d "$src/$dir" ] || { echo "check_defaults: $src/$dir missing" >&2; exit 2; }
done
files=$(find "$src/roles" "$src/plugins" "$src/tools" -name '*.c' | sort)
[ -n "$files" ] || { echo "check_defaults: no sources under $src" >&2; exit 2; }
# A call may span lines: awk gathers it up to its ';' and reports the line
# where it starts.
out=$(awk '
    FNR == 1 { call = "" }
    call == "" && /evc_cfg_get_(int|bool|double|str)[ \t]*\(/ { call = $0; start = FNR }
    call != "" && FNR > start { call = call " " $0 }
    call != "" && /;/ {
        if (call ~ /evc_cfg_get_(int|bool|double)[ \t]*\(/)
            print FILENAME ":" start ": typed read with its own default (use evc_cfg_schema_*)"
        else if (call ~ /evc_cfg_get_str[ \t]*\([^;]*,[ \t]*"[^"]*",[ \t]*[^;]*"[^"]+"/)
            print FILENAME ":" start ": string read with a literal default (use evc_cfg_schema_str)"
        call = ""
    }' $files)
if [ -n "$out" ]; then
    echo "$out"
    echo "check_defaults: defaults written outside their schema (see above)"
    exit 1
fi
echo "check_defaults: $(echo "$files" | wc -l) sources read their config defaults from the schema"
