#!/bin/sh
# expect_exit.sh CODE COMMAND...: runs COMMAND, passes only if it exits with
# exactly CODE (ctest can only tell zero from non-zero on its own).
want=$1
shift
"$@"
got=$?
if [ "$got" -ne "$want" ]; then
  echo "expected exit code $want, got $got: $*" >&2
  exit 1
fi
exit 0
