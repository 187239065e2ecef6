#!/usr/bin/env bash
# check.sh BUILD_DIR RUN_DIR: the scale benchmark's short run (CMakeLists.txt).
# Never an absolute time as pass/fail: the machine is shared and its speed
# varies; only counts that must be exact and ratios between rungs of this run.
set -euo pipefail
BUILD=$1
RUN=$2
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
DURATION=${EVC_BENCH_SCALE_DURATION:-4}
# p99 at 300 CPs may be this many times p99 at 30 (both floored at 2 ms,
# below which a ratio is noise): generous, it catches collapse, not drift.
FACTOR=${EVC_BENCH_SCALE_FACTOR:-25}
for b in EV_Central evc-loadgen evc-kafka-mock; do
    # Never let bench-scale.sh configure the build tree under test.
    [ -x "$BUILD/bin/$b" ] || { echo "FAIL: $BUILD/bin/$b is not built"; exit 1; }
done
rm -rf "$RUN"
bash "$ROOT/scripts/bench-scale.sh" --build "$BUILD" --dir "$RUN" --duration "$DURATION" \
    --warmup 1 --rate 300 zmq:30:30:2 zmq:300:300:2 kafka:30:30:2 kafka:300:300:2
fail=0
check() { # message, jq expression over the report that must be true
    local file=$1 what=$2 expr=$3
    if ! jq -e "$expr" "$file" >/dev/null; then
        echo "FAIL ($(basename "$(dirname "$file")")): $what: $(jq -c "$4" "$file")"
        fail=1
    fi
}
for t in zmq kafka; do
    for n in 30 300; do
        f="$RUN/$t-$n-$n-2/report.json"
        if [ ! -s "$f" ]; then echo "FAIL: no report $f"; fail=1; continue; fi
        check "$f" "every CP accepted" ".counts.auth_ok == $n + 2" .counts
        check "$f" "every supply started" ".counts.supplies_started == $n" .counts
        check "$f" "every heartbeat acknowledged" \
            ".counts.hb_unacked == 0 and .counts.hb_nacked == 0 and .counts.hb_acked > 0" .counts
        check "$f" "no telemetry lost" ".counts.tele_lost == 0 and .counts.tele_relayed > 0" .counts
        check "$f" "no denial, interruption or false DISCONNECTED" \
            ".counts.supply_denied == 0 and .counts.interrupted == 0 and .counts.false_disconnected == 0" .counts
        check "$f" "looping drivers authorised" \
            ".counts.drv_authorised > 0 and .counts.drv_denied == 0" .counts
        check "$f" "no link lost" ".counts.links_lost == 0 and .counts.publish_fail == 0" .counts
        # request -> authorised in three legs (evc-loadgen): each sample's legs
        # add up to its whole, so every leg is there and none outlasts the whole.
        check "$f" "request -> authorised split in legs" \
            '.latency_ms as $l | [$l.request_to_engine, $l.engine_turn, $l.reply_to_authorised]
             | all(.n > 0 and .n <= $l.driver_request_authorised.n
                   and .max <= $l.driver_request_authorised.max + 0.002)' .latency_ms
        # Ramp and warm-up included: a Central that stops reading its monitor
        # links for a heartbeat timeout (issue 14) heals before the steady phase.
        check "$f" "no false DISCONNECTED in the whole run" \
            ".counts.false_disconnected_run == 0" .counts
    done
    small="$RUN/$t-30-30-2/report.json" big="$RUN/$t-300-300-2/report.json"
    [ -s "$small" ] && [ -s "$big" ] || continue
    for m in hb_ack telemetry_state driver_request_authorised; do
        r=$(jq -n --slurpfile a "$small" --slurpfile b "$big" \
            "([\$b[0].latency_ms.$m.p99, 2] | max) / ([\$a[0].latency_ms.$m.p99, 2] | max)")
        echo "$t: $m p99 ratio 300/30 CPs = $r (limit $FACTOR)"
        if jq -ne "$r > $FACTOR" >/dev/null; then echo "FAIL: $t $m ratio $r"; fail=1; fi
    done
done
# A Central restart (SIGKILL, started again at once) with 300 CPs supplying:
# counts only, never a time (about 20 s).
bash "$ROOT/scripts/bench-scale.sh" --build "$BUILD" --dir "$RUN/restart" --duration 6 \
    --warmup 1 --rate 300 --restart-after 2 zmq:300:300:0:restart
f="$RUN/restart/zmq-300-300-0/report.json"
if [ ! -s "$f" ]; then echo "FAIL: no report $f"; fail=1; else
    check "$f" "Central was restarted" ".restart.restarted == true" .restart
    check "$f" "every CP ACTIVATED again" ".restart.back == 300 and .restart.down == 0" .restart
    check "$f" "every engine said hello to the new Central" ".restart.hellos == 300" .restart
    check "$f" "no relapse, no false DISCONNECTED" \
        ".restart.relapsed == 0 and .counts.false_disconnected == 0 and .counts.false_disconnected_run == 0" "[.restart, .counts]"
    check "$f" "supplies resumed: none denied or interrupted" \
        ".restart.supply_denied == 0 and .restart.interrupted == 0" .restart
    check "$RUN/restart/zmq-300-300-0/restart.json" "Central counts every CP connected" \
        ".all_connected_ms != null" .
fi
exit $fail
