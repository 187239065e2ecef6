#!/usr/bin/env bash
# Idle CPU of every program over Kafka (evc-kafka-mock), split into the
# program's own threads and librdkafka's (rdk:*), and of the mock itself.
#
#   tests/bench/transport_kafka/idle_cpu.sh BUILD_DIR PROFILE [SECONDS]
#
# PROFILE mock: the test/demo consumer settings (fetch.wait.max.ms 5,
#               heartbeat.interval.ms 500, auto.commit.interval.ms 500);
#         real: no librdkafka property at all: the plugin's defaults, what
#               config/kafka.yaml runs on a real cluster (on the mock a
#               message may then wait up to 500 ms per hop: see
#               docs/TRANSPORTS.md "Tests and demo").
# Starts Central, one CP (engine + monitor) and one driver with nothing to
# request, waits until the groups have joined, then reads utime+stime of each
# process and thread from /proc over SECONDS (default 30). Prints one line per
# program: total %, own threads %, librdkafka threads %. A measurement, not a
# test: nothing passes or fails on a number. IDLE_THREADS=1 also prints the
# ticks of each thread of EV_Central (which librdkafka thread wakes).
set -euo pipefail
BUILD=$(cd "${1:?build dir}" && pwd)
PROFILE=${2:?mock or real}
SECS=${3:-30}
BIN=$BUILD/bin
DIR=$(mktemp -d /tmp/evc-idle-kafka.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

"$BIN/evc-kafka-mock" --bootstrap-file "$DIR/boot" >"$DIR/mock.log" 2>&1 &
PIDS+=($!)
MOCK=$!
for _ in $(seq 1 100); do [ -s "$DIR/boot" ] && break; sleep 0.1; done
BUS=$(head -n 1 "$DIR/boot")

case $PROFILE in
mock) CONSUMER='    consumer_properties:
      fetch.wait.max.ms: "5"
      session.timeout.ms: "6000"
      heartbeat.interval.ms: "500"
      auto.commit.interval.ms: "500"' ;;
real) CONSUMER='    consumer_properties: {}' ;;
*) echo "profile: mock or real" >&2; exit 2 ;;
esac
CP=$(free_port); HTTP=$(free_port); ENG=$(free_port); MW=$(free_port); DW=$(free_port)
cat >"$DIR/c.yaml" <<EOF
log:
  level: warn
transport:
  plugin: kafka
  endpoint: "$BUS"
  kafka:
    close_timeout_ms: 2000
    properties:
      log_level: "4"
$CONSUMER
store:
  plugin: sqlite
  database: "$DIR/central.db"
central:
  listen_port: $CP
  http_port: $HTTP
  registration: closed
  panel: plain
driver:
  exit_when_done: false
  colour: never
EOF
: >"$DIR/services.txt"
"$BIN/EV_Central" --config "$DIR/c.yaml" --init-db --seed --force --db "$DIR/central.db" \
    >"$DIR/init.log" 2>&1
"$BIN/EV_Central" --config "$DIR/c.yaml" "$CP" "$BUS" "$DIR/central.db" \
    </dev/null >"$DIR/central.log" 2>&1 &
PIDS+=($!); CENTRAL=$!
sleep 1
"$BIN/EV_CP_E" --config "$DIR/c.yaml" "$BUS" "127.0.0.1:$ENG" CP_001 </dev/null >"$DIR/engine.log" 2>&1 &
PIDS+=($!); ENGINE=$!
"$BIN/EV_CP_M" --config "$DIR/c.yaml" --web-port "$MW" "127.0.0.1:$ENG" "127.0.0.1:$CP" CP_001 \
    </dev/null >"$DIR/monitor.log" 2>&1 &
PIDS+=($!); MONITOR=$!
EVC_DRIVER_PASSWORD=pass123 "$BIN/EV_Driver" --config "$DIR/c.yaml" --web-port "$DW" "$BUS" driver1 \
    "$DIR/services.txt" </dev/null >"$DIR/driver.log" 2>&1 &
PIDS+=($!); DRIVER=$!
sleep 10 # group joins (~3 s each on the mock) and start-up traffic over

# ticks of a pid: "total own rdk"
ticks() {
    local pid=$1 own=0 rdk=0 t c u s
    for t in /proc/"$pid"/task/*; do
        c=$(cat "$t/comm" 2>/dev/null) || continue
        read -r u s < <(sed 's/^.*) //' "$t/stat" | awk '{print $12, $13}') || continue
        if [[ $c == rdk:* ]]; then rdk=$((rdk + u + s)); else own=$((own + u + s)); fi
    done
    echo "$((own + rdk)) $own $rdk"
}
declare -A T0
NAMES=(EV_Central EV_CP_E EV_CP_M EV_Driver evc-kafka-mock)
PS=("$CENTRAL" "$ENGINE" "$MONITOR" "$DRIVER" "$MOCK")
for i in "${!PS[@]}"; do
    kill -0 "${PS[$i]}" 2>/dev/null || { echo "${NAMES[$i]} is not running; logs: $DIR" >&2; trap - EXIT; exit 1; }
    T0[$i]=$(ticks "${PS[$i]}")
done
declare -A TT
if [ "${IDLE_THREADS:-0}" = 1 ]; then
    for t in /proc/"$CENTRAL"/task/*; do TT[$t]=$(sed 's/^.*) //' "$t/stat" | awk '{print $12 + $13}'); done
fi
sleep "$SECS"
if [ "${IDLE_THREADS:-0}" = 1 ]; then
    echo "EV_Central threads (ticks of 1/$(getconf CLK_TCK) s over $SECS s):"
    for t in "${!TT[@]}"; do
        now=$(sed 's/^.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}') || continue
        printf '  %-20s %s\n' "$(cat "$t/comm")" $((now - TT[$t]))
    done | sort -k2 -n -r
fi
HZ=$(getconf CLK_TCK)
echo "idle CPU over $SECS s, profile $PROFILE (% of one core: total = own threads + librdkafka threads)"
for i in "${!PS[@]}"; do
    read -r a0 o0 r0 <<<"${T0[$i]}"
    read -r a1 o1 r1 <<<"$(ticks "${PS[$i]}")"
    awk -v n="${NAMES[$i]}" -v a=$((a1 - a0)) -v o=$((o1 - o0)) -v r=$((r1 - r0)) -v hz="$HZ" -v s="$SECS" \
        'BEGIN { f = 100 / hz / s; printf "  %-15s %6.2f %%  (own %5.2f %%, rdk %5.2f %%)\n", n, a * f, o * f, r * f }'
done
