#!/usr/bin/env bash
# bench-scale.sh: one EV_Central under evc-loadgen (tools/evc_loadgen), rung by
# rung, each rung a fresh database, a fresh Central (and mock Kafka cluster),
# one row of docs/PERFORMANCE.md's table on stdout and its JSON in the run dir.
#
#   scripts/bench-scale.sh [options] [RUNG...]
#   RUNG = TRANSPORT:CPS:SUPPLYING:DRIVERS[:LABEL]   e.g. zmq:5000:5000:0  kafka:1000:1000:10
#   Without rungs: the ladder of issue 14 (see LADDER below).
# Options:
#   --build DIR      build tree with bin/ (default build-release; configured and
#                    built Release when missing)
#   --duration S     steady phase per rung (default 30)   --warmup S (default 5)
#   --rate R         CPs connected per second in the ramp (default 500)
#   --dir DIR        run directory (default BUILD/bench-run: under the ignored build tree)
#   --scale F        multiply every rung's CPs and supplying by F (e.g. 0.1 to try it)
#   --quick          the first rungs only (ZeroMQ 1,000 and 5,000)
#   --idle S         instead of rungs: idle CPU of each program (Central, one engine, one
#                    monitor, one logged-in driver) over S seconds, over ZeroMQ, and over the
#                    Kafka mock with the demo's fetch.wait.max.ms 5 and with librdkafka's
#                    default (500)
#   --startup N[,N...]  instead of rungs: Central's start-up time with N CPs in its database
#                    (fresh database, evc-loadgen --provision, no CP connecting): until its
#                    monitor port accepts and until GET /api/health answers, one row per N
#                    and each time's ratio to the first N's (linear: 50000 vs 10000 <= ~5),
#                    and the WARN lines Central printed (e.g. the open-files hard limit);
#                    each time the median of --startup-repeat K starts (default 5)
#   --restart-after S   for rungs whose LABEL contains "restart" (e.g. zmq:10000:0:0:restart):
#                    S seconds into the steady phase (default 10) Central is killed (SIGKILL)
#                    and started again at once; evc-loadgen --restart reports the recovery
#                    (its monitors reconnect with EV_CP_M's backoff), and this script polls
#                    /api/health for the time until cps_connected is back to every CP.
#                    Such a rung's steady phase lasts at least S + 10 s (give --duration
#                    S + 30 or more at thousands of CPs, so the recovery ends inside it).
#   --restart-jitter PCT  restart rungs: the generator's monitors add up to PCT % to each
#                    reconnection delay (evc-loadgen --jitter; default 0, as EV_CP_M)
# Environment: EVC_BENCH_PORT_BASE (default 27000): monitor port, +1 HTTP, +2 ZeroMQ.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=build-release
DURATION=30
WARMUP=5
RATE=500
DIR=
SCALE=1
QUICK=0
IDLE=0
STARTUP=
RESTART_AFTER=10
STARTUP_REPEAT=5
RESTART_JITTER=0
RUNGS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --idle) IDLE=$2; shift 2 ;;
    --startup) STARTUP=$2; shift 2 ;;
    --restart-after) RESTART_AFTER=$2; shift 2 ;;
    --startup-repeat) STARTUP_REPEAT=$2; shift 2 ;;
    --restart-jitter) RESTART_JITTER=$2; shift 2 ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    -*) echo "bench-scale: unknown option $1" >&2; exit 2 ;;
    *) RUNGS+=("$1"); shift ;;
    esac
done

# The ladder of issue 14: supplying CPs over ZeroMQ and Kafka (mock), heartbeats
# only, and request latency with 10 looping drivers with and without 5,000 supplying.
LADDER=(zmq:1000:1000:0 zmq:5000:5000:0 zmq:10000:10000:0 zmq:19000:19000:0
        kafka:1000:1000:0 kafka:5000:5000:0 kafka:10000:10000:0
        zmq:15000:0:0:heartbeats-only
        zmq:0:0:10:requests zmq:5000:5000:10:requests+5000
        kafka:0:0:10:requests kafka:5000:5000:10:requests+5000)
if [ ${#RUNGS[@]} -eq 0 ]; then
    if [ "$QUICK" = 1 ]; then RUNGS=(zmq:1000:1000:0 zmq:5000:5000:0); else RUNGS=("${LADDER[@]}"); fi
fi

cd "$ROOT"
if [ ! -x "$BUILD/bin/evc-loadgen" ] || [ ! -x "$BUILD/bin/EV_Central" ] ||
   { [ "$IDLE" != 0 ] && [ ! -x "$BUILD/bin/EV_Driver" ]; }; then
    # Release as measured.
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEVC_WEB=OFF -DEVC_BUILD_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j 2 --target EV_Central EV_CP_E EV_CP_M EV_Driver evc_loadgen \
        evc_transport_zmq evc_transport_kafka evc_store_sqlite evc_kafka_mock >/dev/null
fi
BIN=$(cd "$BUILD/bin" && pwd)
DIR=${DIR:-$BUILD/bench-run}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# 20,000 links need 20,000 descriptors; the hard limit here is 20,000.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

BASE=${EVC_BENCH_PORT_BASE:-27000}
MON_PORT=$BASE HTTP_PORT=$((BASE + 1)) ZMQ_PORT=$((BASE + 2))
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    PIDS=()
}
trap cleanup EXIT

# bench_config FILE TRANSPORT ENDPOINT KAFKA_CFG DATABASE [EXTRA]: the YAML every
# case runs Central (and the generator, the idle programs) with.
bench_config() {
    cat >"$1" <<YAML
log:
  level: warn
transport:
  plugin: $2
  endpoint: "$3"
  zmq:
    proxy: owner
$4
store:
  plugin: sqlite
  database: $5
central:
  listen_port: $MON_PORT
  http_port: $HTTP_PORT
  registration: closed
  panel: plain
${6:-}
YAML
}

header() {
    echo "| rung | CPs (supplying) | drivers | Central CPU | RSS MB | HB ACK p50/p99 ms | telemetry -> state p50/p99 ms | request -> authorised p50/p99 ms | CPU-s per 1k msgs | lost / false DISC. |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
}

row() { # JSON file -> one table row
    jq -r '"| \(.transport) \(.label) | \(.cps) (\(.supplying)) | \(.drivers) | \(.central.cpu_pct) % | \(.central.rss_mb) | \(.latency_ms.hb_ack.p50)/\(.latency_ms.hb_ack.p99) | \(.latency_ms.telemetry_state.p50)/\(.latency_ms.telemetry_state.p99) | \(.latency_ms.driver_request_authorised.p50)/\(.latency_ms.driver_request_authorised.p99) | \(.central.cpu_s_per_1000_msgs) | \(.counts.hb_unacked + .counts.tele_lost + .steady.supply_denied + .steady.interrupted) / \(.counts.false_disconnected) |"' "$1"
}

run_rung() {
    local spec=$1 transport cps supplying drivers label
    IFS=: read -r transport cps supplying drivers label <<<"$spec"
    cps=$(awk -v n="$cps" -v f="$SCALE" 'BEGIN{printf "%d", n*f}')
    supplying=$(awk -v n="$supplying" -v f="$SCALE" 'BEGIN{printf "%d", n*f}')
    label=${label:-$cps}
    local rd="$DIR/${transport}-${cps}-${supplying}-${drivers}"
    rm -rf "$rd"; mkdir -p "$rd"
    local endpoint="127.0.0.1:$ZMQ_PORT" kafka_cfg=""
    if [ "$transport" = kafka ]; then
        "$BIN/evc-kafka-mock" --bootstrap-file "$rd/kafka.boot" >"$rd/kafka-mock.log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 1 100); do [ -s "$rd/kafka.boot" ] && break; sleep 0.1; done
        endpoint=$(head -n 1 "$rd/kafka.boot")
        # The demo's consumer settings (mock cluster: an empty fetch waits this long).
        kafka_cfg="  kafka:
    close_timeout_ms: 2000
    properties:
      log_level: \"4\"
    consumer_properties:
      fetch.wait.max.ms: \"5\"
      session.timeout.ms: \"6000\"
      heartbeat.interval.ms: \"500\""
    fi
    bench_config "$rd/bench.yaml" "$transport" "$endpoint" "$kafka_cfg" "$rd/central.db"
    "$BIN/EV_Central" --config "$rd/bench.yaml" --init-db >"$rd/initdb.log" 2>&1
    "$BIN/evc-loadgen" --config "$rd/bench.yaml" --provision --cps "$cps" \
        --supplying "$supplying" --drivers "$drivers" >"$rd/provision.log" 2>&1
    "$BIN/EV_Central" --config "$rd/bench.yaml" >"$rd/central.log" 2>&1 &
    local central=$!
    PIDS+=($central)
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$MON_PORT") 2>/dev/null && break
        sleep 0.1
    done
    if [[ "$label" == *restart* ]]; then
        restart_rung "$rd" "$cps" "$supplying" "$drivers" "$label" "$central"
    else
    "$BIN/evc-loadgen" --config "$rd/bench.yaml" --cps "$cps" --supplying "$supplying" \
        --drivers "$drivers" --central "127.0.0.1:$MON_PORT" --central-pid "$central" \
        --rate "$RATE" --warmup "$WARMUP" --duration "$DURATION" --label "$label" \
        --json "$rd/report.json" >"$rd/loadgen.log" 2>&1 || true
    fi
    cleanup
    if [ -s "$rd/report.json" ]; then row "$rd/report.json"; else
        echo "| $transport $label | $cps ($supplying) | $drivers | failed: see $rd/loadgen.log |"; fi
    if [[ "$label" == *restart* ]] && [ -s "$rd/report.json" ]; then
        echo; restart_header; restart_row "$rd"; echo; fi
}

# shellcheck source=bench-scale-restart.sh
. "$ROOT/scripts/bench-scale-restart.sh"

cpu_ticks() { # utime+stime of a pid, in clock ticks
    awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}

# Idle CPU: the four programs with nothing to do, CPU % over $IDLE seconds.
idle_case() {
    local name=$1 transport=$2 fetch=$3 rd="$DIR/idle-$1"
    rm -rf "$rd"; mkdir -p "$rd"
    local endpoint="127.0.0.1:$ZMQ_PORT" kafka_cfg=""
    if [ "$transport" = kafka ]; then
        "$BIN/evc-kafka-mock" --bootstrap-file "$rd/kafka.boot" >"$rd/kafka-mock.log" 2>&1 &
        PIDS+=($!)
        for _ in $(seq 1 100); do [ -s "$rd/kafka.boot" ] && break; sleep 0.1; done
        endpoint=$(head -n 1 "$rd/kafka.boot")
        kafka_cfg="  kafka:
    properties:
      log_level: \"4\""
        [ -n "$fetch" ] && kafka_cfg+="
    consumer_properties:
      fetch.wait.max.ms: \"$fetch\""
    fi
    bench_config "$rd/idle.yaml" "$transport" "$endpoint" "$kafka_cfg" "$rd/central.db" \
        "cp_monitor:
  web_port: 0"
    "$BIN/EV_Central" --config "$rd/idle.yaml" --init-db --seed --password-cost min >"$rd/initdb.log" 2>&1 ||
        "$BIN/EV_Central" --config "$rd/idle.yaml" --init-db --seed >"$rd/initdb.log" 2>&1
    "$BIN/EV_Central" --config "$rd/idle.yaml" >"$rd/central.log" 2>&1 & local pc=$!; PIDS+=($pc)
    sleep 1
    "$BIN/EV_CP_E" --config "$rd/idle.yaml" --database "$rd/engine.db" "$endpoint" \
        "127.0.0.1:$((BASE + 10))" CP_001 </dev/null >"$rd/engine.log" 2>&1 & local pe=$!; PIDS+=($pe)
    "$BIN/EV_CP_M" --config "$rd/idle.yaml" "127.0.0.1:$((BASE + 10))" "127.0.0.1:$MON_PORT" \
        CP_001 </dev/null >"$rd/monitor.log" 2>&1 & local pm=$!; PIDS+=($pm)
    EVC_DRIVER_PASSWORD=pass123 "$BIN/EV_Driver" --config "$rd/idle.yaml" "$endpoint" driver1 \
        </dev/null >"$rd/driver.log" 2>&1 & local pd=$!; PIDS+=($pd)
    sleep 12 # logins, Kafka group joins
    local p t0=() t1=() i=0
    for p in $pc $pe $pm $pd; do t0+=("$(cpu_ticks "$p" 2>/dev/null || echo 0)"); done
    sleep "$IDLE"
    for p in $pc $pe $pm $pd; do t1+=("$(cpu_ticks "$p" 2>/dev/null || echo 0)"); done
    local hz; hz=$(getconf CLK_TCK)
    local cells=""
    for i in 0 1 2 3; do
        cells+=" $(awk -v a="${t0[$i]}" -v b="${t1[$i]}" -v s="$IDLE" -v hz="$hz" \
            'BEGIN{printf "%.2f %%", 100*(b-a)/hz/s}') |"
    done
    echo "| $name |$cells"
    cleanup
}

echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(date -u +%Y-%m-%d)"
if [ "$IDLE" != 0 ]; then
    echo "| idle, $IDLE s | EV_Central | EV_CP_E | EV_CP_M | EV_Driver |"
    echo "|---|---|---|---|---|"
    idle_case zmq zmq ""
    idle_case "kafka (mock), fetch.wait.max.ms 5 (demo)" kafka 5
    idle_case "kafka (mock), fetch.wait.max.ms default (500)" kafka ""
    exit 0
fi
if [ -n "$STARTUP" ]; then
    startup_table "$STARTUP"
    exit 0
fi
header
for r in "${RUNGS[@]}"; do run_rung "$r"; done
