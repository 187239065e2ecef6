#!/usr/bin/env bash
# demo_stop.sh: `make demo-kafka` as an operator runs it (issue 9, items 1, 11, 12):
# the summary's values line up, status lines show the CPs at work, the two
# drivers do not collide (no cp_busy), librdkafka does not warn about our own
# config, and a Ctrl-C to the whole process group stops everything within 10 s,
# in order (drivers and CPs, Central, the bus last), each program by SIGTERM.
#
#   BUILD=build bash tests/integration/cli/demo_stop.sh [zmq|kafka]
set -u

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BUS=${1:-kafka}
DIR=$(mktemp -d /tmp/evc-demo-stop-XXXXXX)
OUT="$DIR/demo.out"
FAILED=0
fail() {
    echo "FAIL: $*" >&2
    FAILED=1
}
now_ms() { date +%s%3N; }
wait_for() { # wait_for TIMEOUT_MS COMMAND...
    local until=$(($(now_ms) + $1))
    shift
    while ! "$@"; do
        [ "$(now_ms)" -ge "$until" ] && return 1
        sleep 0.1
    done
}
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

BASE=
# The demo's 12 ports (--port-base), below the kernel's ephemeral range: a
# port in it can be the local end of anyone's outgoing connection at any
# moment, which a listener check does not see.
eph_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$eph_lo" -gt 11000 ] 2>/dev/null || eph_lo=32768
for _ in $(seq 1 50); do
    b=$((10000 + RANDOM % (eph_lo - 10000 - 13)))
    busy=0
    for off in 0 1 2 3 4 5 6 7 8 9 10 11; do port_busy $((b + off)) && busy=1; done
    [ $busy = 0 ] && { BASE=$b; break; }
done

# As from a terminal: the demo leads its own process group with SIGINT at its
# default (a background job of a script would inherit SIGINT ignored).
python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp("bash", ["bash"] + sys.argv[1:])
' "$ROOT/scripts/demo.sh" "$BUS" --dir "$DIR/run" --port-base "$BASE" >"$OUT" 2>&1 &
DEMO=$!
cleanup() {
    kill -KILL -- -"$DEMO" 2>/dev/null
    pkill -KILL -f -- "--config $DIR/run/demo.yaml" 2>/dev/null
    pkill -KILL -f -- "--bootstrap-file $DIR/run/kafka.bootstrap" 2>/dev/null
    [ $FAILED = 0 ] && rm -rf "$DIR"
}
trap cleanup EXIT

# Supplies under way, shown on the demo's own terminal.
supplying() { grep -q "^status .*SUPPLYING driver" "$OUT"; }
if ! wait_for 120000 supplying; then
    fail "no status line showed a supply within 120 s"
    tail -20 "$OUT" >&2
fi

# The summary: every labelled row's value starts in the same column.
# A row is "  Label: value" (or a continuation indented to the values).
rows=$(sed -n '/^EVCharging demo over/,/^$/p' "$OUT" | grep -E '^  [A-Z]')
unlabelled=$(echo "$rows" | grep -v -E '^  [A-Z][A-Za-z ]*: +[^ ]')
[ -z "$unlabelled" ] || fail "summary rows without a 'Label:': $unlabelled"
cols=$(echo "$rows" | awk '{ match($0, /^  [A-Z][A-Za-z ]*: */); print RLENGTH }' | sort -u)
[ "$(echo "$cols" | wc -l)" = 1 ] || fail "summary values start in columns $(echo $cols)"

# Ctrl-C: SIGINT to the whole foreground process group, as the terminal does.
t0=$(now_ms)
kill -INT -- -"$DEMO"
if wait_for 20000 eval "! kill -0 $DEMO 2>/dev/null"; then
    wait "$DEMO" 2>/dev/null
fi
ms=$(($(now_ms) - t0))
echo "demo_stop ($BUS): stopped ${ms} ms after Ctrl-C"
[ "$ms" -le 10000 ] || fail "the demo took ${ms} ms to stop after Ctrl-C (at most 10000)"
grep -q "did not stop" "$OUT" && fail "$(grep "did not stop" "$OUT")"
order=$(grep -o "stopping the drivers and charging points\|stopping Central\|stopping the bus" "$OUT" | tr '\n' ',')
if [ "$BUS" = kafka ]; then
    want="stopping the drivers and charging points,stopping Central,stopping the bus,"
else
    want="stopping the drivers and charging points,stopping Central,"
fi
[ "$order" = "$want" ] || fail "stop order '$order', expected '$want'"
for log in "$DIR"/run/CP_*-engine.log "$DIR"/run/CP_*-monitor.log "$DIR"/run/driver*.log \
    "$DIR"/run/central.log; do
    grep -q "SIGINT received" "$log" && fail "$(basename "$log"): got the terminal's SIGINT"
    grep -q "SIGTERM received" "$log" || fail "$(basename "$log"): not stopped by the demo's SIGTERM"
done
if pgrep -f -- "--config $DIR/run/demo.yaml" >/dev/null; then
    fail "programs survived the demo: $(pgrep -a -f -- "--config $DIR/run/demo.yaml")"
fi

# Two drivers, each its own order of CPs: none asks for a CP the other holds.
busy=$(cat "$DIR"/run/driver1.log "$DIR"/run/driver2.log | grep -c "cp_busy")
[ "$busy" = 0 ] || fail "$busy cp_busy denials: the drivers collided"
warned=$(grep -l "CONFWARN" "$DIR"/run/*.log 2>/dev/null)
[ -z "$warned" ] || fail "librdkafka warned about the demo's own config: $(grep -h CONFWARN $warned | head -1)"

if [ $FAILED = 0 ]; then
    echo "demo_stop ($BUS): OK"
else
    echo "demo_stop ($BUS): FAILED (demo output and logs in $DIR)" >&2
    tail -15 "$OUT" >&2
fi
exit $FAILED
