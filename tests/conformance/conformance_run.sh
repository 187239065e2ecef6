#!/bin/sh
# conformance_run.sh EXPECT_EXIT EXPECT_FAIL -- evc-conformance ARGS...
#
# Runs evc-conformance and checks what a user would read: its exit code is
# EXPECT_EXIT; the table has a row per check with a verdict and a guarantee;
# with EXPECT_FAIL "-" no row is FAIL (and with EXPECT_EXIT 0 none is SKIP;
# with 3, every SKIP row has its reason), otherwise the check named
# EXPECT_FAIL is a FAIL row with its guarantee and a reason, and the totals
# line counts it.
set -u
expect_exit=$1
expect_fail=$2
shift 3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$@" >"$out"
rc=$?
cat "$out"
fail() { echo "conformance_run: $*" >&2; exit 1; }
[ "$rc" -eq "$expect_exit" ] || fail "exit code $rc, expected $expect_exit"
grep -q '^RESULT  *CHECK  *GUARANTEE$' "$out" || fail "no table header"
# The table: from its header to the end (progress lines come before it).
table=$(mktemp)
trap 'rm -f "$out" "$table"' EXIT
sed -n '/^RESULT  *CHECK  *GUARANTEE$/,$p' "$out" >"$table"
out=$table
rows=$(grep -cE '^(PASS|FAIL|SKIP) +[a-z_]+\.[a-z0-9_]+ +[^ ]' "$out")
total=$(sed -n 's/^\([0-9][0-9]*\) checks: .*/\1/p' "$out")
[ -n "$total" ] || fail "no totals line"
[ "$rows" -eq "$total" ] || fail "$rows rows with a guarantee for $total checks"
[ "$total" -gt 0 ] || fail "no check ran"
if [ "$expect_fail" = "-" ] && [ "$expect_exit" -eq 3 ]; then
    if grep -qE '^FAIL ' "$out"; then fail "a check failed"; fi
    skips=$(grep -cE '^SKIP ' "$out")
    [ "$skips" -gt 0 ] || fail "exit 3 without a SKIP row"
    reasons=$(grep -A1 -E '^SKIP ' "$out" | grep -cE '^ +skipped: .+')
    [ "$reasons" -eq "$skips" ] || fail "$skips SKIP rows, $reasons reasons"
    grep -qE "^$total checks: [0-9]+ passed, 0 failed, $skips skipped$" "$out" || fail "totals"
elif [ "$expect_fail" = "-" ]; then
    if grep -qE '^(FAIL|SKIP) ' "$out"; then fail "a check did not pass"; fi
    grep -q "^$total checks: $total passed, 0 failed, 0 skipped$" "$out" || fail "totals"
else
    grep -qE "^FAIL +$expect_fail +[^ ]" "$out" || fail "$expect_fail is not a FAIL row"
    # The reason follows on the next line.
    grep -A1 -E "^FAIL +$expect_fail " "$out" | grep -qE '^ +why: .+' ||
        fail "no reason under the FAIL of $expect_fail"
    grep -qE "^$total checks: [0-9]+ passed, [1-9][0-9]* failed" "$out" || fail "totals"
fi
echo "conformance_run: exit $rc and the table as expected"
