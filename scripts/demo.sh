#!/usr/bin/env bash
# demo.sh: the whole EVCharging system on one machine (make demo / make demo-kafka).
#
#   bash scripts/demo.sh zmq|kafka [--for SECONDS] [--dir DIR] [--port-base N]
#
# Starts, from the programs already built in ${BUILD:-build}/bin:
#   - the bus: ZeroMQ (the proxy inside EV_Central, `transport.zmq.proxy: owner`)
#     or Kafka (librdkafka's mock cluster, evc-kafka-mock);
#   - EV_Central on a fresh demo database (seeded: driver1, driver2, CP_001..CP_010);
#   - three charging points CP_001..CP_003 (EV_CP_E + EV_CP_M each) in unattended mode:
#     they plug in 2 s after an authorisation and unplug 10 s later (50 kW);
#   - two drivers, driver1 and driver2, each running the CPs of config/services.txt
#     in its own order (DIR/services-driverN.txt), round after round, so that
#     supplies go on for as long as the demo runs (about a day of rounds).
# Every program's output goes to its own log in DIR (default demo-run/). After the
# summary, one status line every EVC_DEMO_STATUS_EVERY seconds (default 5; 0: none):
# each CP's state (from Central's /api/cps) and the tickets so far. It runs until
# Ctrl-C, then stops everything it started in order: drivers and CPs, Central, the
# bus last. Each program runs in its own session (setsid), so the terminal's Ctrl-C
# reaches this script only; the stop is bounded (5 s per step, then SIGKILL), and
# a second Ctrl-C while stopping kills what is left at once.
#
# --for SECONDS: non-interactive check (CI, tests): runs at most that long, stops
# everything, and exits 0 only if every driver printed a ticket, the database holds
# tickets, and no program died on its own. It stops early once both conditions hold.
# --port-base N: Central N, HTTP N+1, bus N+2 (and N+3), engines N+4..N+6, driver
# pages N+7 and N+8, monitor pages N+9..N+11. Default: Central 7001, admin page 8002,
# bus 5555/5556, engines 7101..7103, driver pages 8001 (driver1) and 8006 (driver2),
# monitor pages 8003..8005; with --for, free ports chosen at random.
set -u

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

BUS_KIND=${1:-}
case "$BUS_KIND" in
zmq | kafka) shift ;;
*) usage ;;
esac
CHECK_SECONDS=${EVC_DEMO_FOR:-}
DIR=${EVC_DEMO_DIR:-demo-run}
PORT_BASE=${EVC_DEMO_PORT_BASE:-}
while [ $# -gt 0 ]; do
    case "$1" in
    --for) CHECK_SECONDS=${2:-}; shift 2 || usage ;;
    --dir) DIR=${2:-}; shift 2 || usage ;;
    --port-base) PORT_BASE=${2:-}; shift 2 || usage ;;
    *) usage ;;
    esac
done
case "$CHECK_SECONDS" in '' | *[!0-9]*) [ -n "$CHECK_SECONDS" ] && usage ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bin"
SERVICES="$ROOT/config/services.txt"
for prog in EV_Central EV_CP_E EV_CP_M EV_Driver; do
    if [ ! -x "$BIN/$prog" ]; then
        echo "demo: $BIN/$prog is missing: build first (make build)" >&2
        exit 1
    fi
done
if [ "$BUS_KIND" = kafka ] && [ ! -x "$BIN/evc-kafka-mock" ]; then
    echo "demo: $BIN/evc-kafka-mock is missing: build first (make build)" >&2
    exit 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "$PORT_BASE" ] && [ -n "$CHECK_SECONDS" ]; then
    # Below the kernel's ephemeral range: a port in it can be taken at any
    # moment as the local end of someone's outgoing connection (a free-port
    # check sees only listeners), and Central's HTTP bind then fails
    # "Address already in use" (seen under the sanitizer build).
    eph_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$eph_lo" -gt 11000 ] 2>/dev/null || eph_lo=32768
    for _ in $(seq 1 50); do
        base=$((10000 + RANDOM % (eph_lo - 10000 - 13)))
        busy=0
        for off in 0 1 2 3 4 5 6 7 8 9 10 11; do
            if port_busy $((base + off)); then busy=1; break; fi
        done
        if [ $busy = 0 ]; then PORT_BASE=$base; break; fi
    done
fi
if [ -n "$PORT_BASE" ]; then
    CENTRAL_PORT=$PORT_BASE HTTP_PORT=$((PORT_BASE + 1)) BUS_PORT=$((PORT_BASE + 2))
    ENGINE_PORTS="$((PORT_BASE + 4)) $((PORT_BASE + 5)) $((PORT_BASE + 6))"
    DRIVER_WEB_PORTS="$((PORT_BASE + 7)) $((PORT_BASE + 8))"
    MONITOR_WEB_PORTS="$((PORT_BASE + 9)) $((PORT_BASE + 10)) $((PORT_BASE + 11))"
else
    CENTRAL_PORT=7001 HTTP_PORT=8002 BUS_PORT=5555 ENGINE_PORTS="7101 7102 7103"
    DRIVER_WEB_PORTS="8001 8006" MONITOR_WEB_PORTS="8003 8004 8005"
fi
read -r DRIVER1_WEB DRIVER2_WEB <<<"$DRIVER_WEB_PORTS"
read -r -a MONITOR_WEB <<<"$MONITOR_WEB_PORTS"
BUS_PORTS=""
[ "$BUS_KIND" = zmq ] && BUS_PORTS="$BUS_PORT $((BUS_PORT + 1))"
for p in $CENTRAL_PORT $HTTP_PORT $ENGINE_PORTS $BUS_PORTS $DRIVER_WEB_PORTS $MONITOR_WEB_PORTS; do
    if port_busy "$p"; then
        echo "demo: port $p is already in use (another demo running?); try --port-base N" >&2
        exit 1
    fi
done

mkdir -p "$DIR" || exit 1
DIR=$(cd "$DIR" && pwd)
rm -f "$DIR"/*.log "$DIR"/*.db "$DIR"/*.db-wal "$DIR"/*.db-shm "$DIR"/kafka.bootstrap

# ---- processes -------------------------------------------------------------------
PIDS=()
NAMES=()
STOPPING=0

start() { # start NAME PROGRAM ARGS... (cwd: DIR; stdin /dev/null; output NAME.log)
    local name=$1
    shift
    # setsid: its own session and process group, so a Ctrl-C on the terminal
    # (sent to the whole foreground group) reaches only this script, which then
    # stops the programs in order. The subshell is not a group leader, so
    # setsid execs in place and $! is the program itself.
    (cd "$DIR" && exec setsid "$@" </dev/null >"$DIR/$name.log" 2>&1) &
    PIDS+=($!)
    NAMES+=("$name")
}

term_and_wait() { # term_and_wait INDEX...: SIGTERM, up to 5 s, then SIGKILL
    local i alive
    for i in "$@"; do kill -TERM "${PIDS[i]}" 2>/dev/null; done
    for _ in $(seq 1 50); do
        alive=0
        for i in "$@"; do kill -0 "${PIDS[i]}" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && return
        sleep 0.1
    done
    for i in "$@"; do
        if kill -0 "${PIDS[i]}" 2>/dev/null; then
            echo "demo: ${NAMES[i]} did not stop within 5 s of SIGTERM: killed" >&2
            kill -KILL "${PIDS[i]}" 2>/dev/null
        fi
    done
}

kill_now() { # a second Ctrl-C while stopping: no more waiting
    local pid
    trap '' INT TERM HUP
    echo
    echo "demo: second Ctrl-C: killing everything now (SIGKILL)" >&2
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    exit 130
}

stop_all() {
    [ $STOPPING = 1 ] && return
    STOPPING=1
    trap kill_now INT TERM HUP
    # Drivers and CPs first, then Central, the bus last: nobody waits on a
    # bus that is already gone.
    local i clients=() central=() bus=()
    for ((i = 0; i < ${#PIDS[@]}; i++)); do
        case "${NAMES[i]}" in
        central) central+=("$i") ;;
        kafka-mock) bus+=("$i") ;;
        *) clients+=("$i") ;;
        esac
    done
    local t0=$SECONDS
    if [ ${#clients[@]} -gt 0 ]; then
        echo "demo: stopping the drivers and charging points"
        term_and_wait "${clients[@]}"
    fi
    if [ ${#central[@]} -gt 0 ]; then
        echo "demo: stopping Central"
        term_and_wait "${central[@]}"
    fi
    if [ ${#bus[@]} -gt 0 ]; then
        echo "demo: stopping the bus (evc-kafka-mock)"
        term_and_wait "${bus[@]}"
    fi
    wait 2>/dev/null
    echo "demo: everything stopped in $((SECONDS - t0)) s"
}

on_signal() {
    echo
    echo "demo: stopping everything..."
    stop_all
    echo "demo: stopped. Logs in $DIR/"
    exit 0
}
trap on_signal INT TERM HUP
trap stop_all EXIT

# ---- bus and configuration -----------------------------------------------------------
if [ "$BUS_KIND" = kafka ]; then
    start kafka-mock "$BIN/evc-kafka-mock" --bootstrap-file "$DIR/kafka.bootstrap"
    for _ in $(seq 1 100); do
        [ -s "$DIR/kafka.bootstrap" ] && break
        sleep 0.1
    done
    if [ ! -s "$DIR/kafka.bootstrap" ]; then
        echo "demo: evc-kafka-mock did not start; see $DIR/kafka-mock.log" >&2
        exit 1
    fi
    BUS=$(head -n 1 "$DIR/kafka.bootstrap")
    TRANSPORT="transport:
  plugin: kafka
  endpoint: \"$BUS\"
  kafka:
    close_timeout_ms: 2000     # the demo's stop: 2 s per program at most
    properties:
      log_level: \"4\"
    consumer_properties:       # consumer-only properties here, or librdkafka warns (CONFWARN)
      fetch.wait.max.ms: \"5\"
      session.timeout.ms: \"6000\"
      heartbeat.interval.ms: \"500\"
      auto.commit.interval.ms: \"500\"
    retry_delay_ms: 100"
else
    BUS="127.0.0.1:$BUS_PORT"
    TRANSPORT="transport:
  plugin: zmq
  endpoint: \"$BUS\"
  zmq:
    proxy: owner          # EV_Central (client id \"central\") hosts the XSUB/XPUB proxy
    proxy_owner: central"
fi

CONFIG="$DIR/demo.yaml"
cat >"$CONFIG" <<EOF
# Written by scripts/demo.sh ($BUS_KIND): every program of the demo reads this file.
log:
  level: info
$TRANSPORT
store:
  plugin: sqlite
  database: "$DIR/central.db"
central:
  listen_port: $CENTRAL_PORT
  http_port: $HTTP_PORT
  registration: closed     # the demo's CPs come from --seed, with their secrets
  panel: plain
cp_engine:
  power_w: 50000
  unattended:
    enabled: true
    plug_after_ms: 2000
    unplug_after_ms: 10000
driver:
  wait_between_ms: 4000
  exit_when_done: false
  colour: never
EOF

if ! "$BIN/EV_Central" --config "$CONFIG" --init-db --seed --force --db "$DIR/central.db" \
    >"$DIR/init-db.log" 2>&1; then
    echo "demo: cannot initialise the demo database; see $DIR/init-db.log" >&2
    cat "$DIR/init-db.log" >&2
    exit 1
fi

start central "$BIN/EV_Central" --config "$CONFIG" "$CENTRAL_PORT" "$BUS" "$DIR/central.db"
# Central answers HTTP once its loop runs (and, on ZeroMQ, its proxy is bound).
for _ in $(seq 1 100); do
    port_busy "$HTTP_PORT" && break
    sleep 0.1
done

i=0
for port in $ENGINE_PORTS; do
    i=$((i + 1))
    cp=$(printf 'CP_%03d' $i)
    # Engine and monitor each get the CP's id and, by default, its seeded
    # secret "secret-<cp_id>": they prove it to each other and to Central.
    start "$cp-engine" "$BIN/EV_CP_E" --config "$CONFIG" "$BUS" "127.0.0.1:$port" "$cp"
    # Each monitor its own page port (8003, 8004, ...).
    start "$cp-monitor" "$BIN/EV_CP_M" --config "$CONFIG" --web-port "${MONITOR_WEB[i - 1]}" \
        "127.0.0.1:$port" "127.0.0.1:$CENTRAL_PORT" "$cp"
done
# Each driver its own order of the CPs in config/services.txt (driver2 starts
# one CP further on), so that two drivers in step do not ask for the same CP at
# once; rounds repeated for about a day of supplies (~17 s each).
mapfile -t CP_ORDER < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$SERVICES" | awk 'NF && !seen[$0]++')
ROUNDS=${EVC_DEMO_ROUNDS:-1700}
write_services() { # write_services FILE OFFSET
    local n=${#CP_ORDER[@]} r k
    {
        echo "# Written by scripts/demo.sh from $SERVICES: $ROUNDS rounds, from CP $(($2 + 1)) of $n"
        for ((r = 0; r < ROUNDS; r++)); do
            for ((k = 0; k < n; k++)); do echo "${CP_ORDER[(k + $2) % n]}"; done
        done
    } >"$1"
}
write_services "$DIR/services-driver1.txt" 0
write_services "$DIR/services-driver2.txt" 1
EVC_DRIVER_PASSWORD=pass123 start driver1 "$BIN/EV_Driver" --config "$CONFIG" --web-port "$DRIVER1_WEB" \
    "$BUS" driver1 "$DIR/services-driver1.txt"
EVC_DRIVER_PASSWORD=pass456 start driver2 "$BIN/EV_Driver" --config "$CONFIG" --web-port "$DRIVER2_WEB" \
    "$BUS" driver2 "$DIR/services-driver2.txt"

# Labels padded to one width, so that the values start in one column.
row() { printf '  %-17s %s\n' "$1" "$2"; }
echo
echo "EVCharging demo over $([ "$BUS_KIND" = kafka ] && echo "Kafka (mock cluster at $BUS)" || echo "ZeroMQ (proxy in EV_Central at $BUS)") + SQLite"
row "Admin dashboard:" "http://127.0.0.1:$HTTP_PORT/   log in as admin / admin123 (docs/WEB.md)"
row "Driver pages:" "http://127.0.0.1:$DRIVER1_WEB/ (driver1, password pass123)   http://127.0.0.1:$DRIVER2_WEB/ (driver2, pass456)"
row "Monitor pages:" "CP_001 http://127.0.0.1:${MONITOR_WEB[0]}/   CP_002 http://127.0.0.1:${MONITOR_WEB[1]}/   CP_003 http://127.0.0.1:${MONITOR_WEB[2]}/"
row "Central:" "CP monitors on port $CENTRAL_PORT; JSON API http://127.0.0.1:$HTTP_PORT/api/cps and /api/sessions"
row "Charging points:" "CP_001..CP_003 (engines on ports ${ENGINE_PORTS// /, }), unattended"
row "Drivers:" "driver1, driver2: the CPs of config/services.txt, each in its own order, round after round"
row "Logs:" "$DIR/<program>.log   (central.log is Central's panel: tail -f $DIR/central.log)"
row "" "tail -f $DIR/driver1.log shows a driver's steps and tickets"
row "Database:" "sqlite3 -readonly $DIR/central.db \"select * from tickets\""
row "Config:" "$CONFIG"

# One status line: each demo CP's state, its supply if any, the tickets so far.
# Central's JSON is flat, one object per CP: awk reads the few fields it needs
# (no jq needed).
STATUS_EVERY=${EVC_DEMO_STATUS_EVERY:-5}
case "$STATUS_EVERY" in '' | *[!0-9]*) STATUS_EVERY=5 ;; esac
status_line() {
    local json cps tickets
    tickets=$(sqlite3 -readonly "$DIR/central.db" "select count(*) from tickets" 2>/dev/null || echo "?")
    # The API needs an admin session (docs/OPERATIONS.md "Admin login"): log
    # in with the seed's admin into a cookie jar, again when it is refused.
    json=$(curl -s --max-time 2 -b "$DIR/admin.cookies" "http://127.0.0.1:$HTTP_PORT/api/cps" 2>/dev/null)
    case "$json" in
    '{"cps"'*) ;;
    *)
        curl -s --max-time 5 -c "$DIR/admin.cookies" -H 'Content-Type: application/json' \
            -d '{"user":"admin","password":"admin123"}' "http://127.0.0.1:$HTTP_PORT/api/login" >/dev/null 2>&1
        json=$(curl -s --max-time 2 -b "$DIR/admin.cookies" "http://127.0.0.1:$HTTP_PORT/api/cps" 2>/dev/null)
        ;;
    esac
    cps=$(printf '%s\n' "$json" | sed 's/},{/}\n{/g' | awk -v want=" CP_001 CP_002 CP_003 " '
        function field(obj, k,   m) {
            if (!match(obj, "\"" k "\":(\"[^\"]*\"|[0-9.]+)"))
                return ""
            m = substr(obj, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
            gsub(/"/, "", m)
            return m
        }
        {
            id = field($0, "id")
            if (id == "" || index(want, " " id " ") == 0)
                next
            s = id " " field($0, "state")
            d = field($0, "driver_id")
            if (d != "") {
                det = field($0, "state_detail")
                if (det != "")
                    s = s " " d " (" det ")"
                else
                    s = s sprintf(" %s %.1f kW %.2f kWh", d, field($0, "w") / 1000, field($0, "wh") / 1000)
            }
            out = out (out == "" ? "" : " | ") s
        }
        END { print out }')
    [ -n "$cps" ] || cps="(Central does not answer on http://127.0.0.1:$HTTP_PORT)"
    echo "status $(date +%H:%M:%S)  $cps | tickets $tickets"
}

alive_check() { # prints the names of programs that stopped on their own
    local i
    for ((i = 0; i < ${#PIDS[@]}; i++)); do
        kill -0 "${PIDS[i]}" 2>/dev/null || echo "${NAMES[i]}"
    done
}

if [ -z "$CHECK_SECONDS" ]; then
    row "Stop:" "Ctrl-C (stops everything the demo started: drivers and CPs, Central, the bus)"
    echo
    reported=" "
    next_status=$((SECONDS + STATUS_EVERY))
    while :; do
        sleep 1
        if [ "$STATUS_EVERY" -gt 0 ] && [ $SECONDS -ge $next_status ]; then
            status_line
            next_status=$((SECONDS + STATUS_EVERY))
        fi
        for name in $(alive_check); do
            case "$reported" in *" $name "*) continue ;; esac
            echo "demo: $name stopped on its own (see $DIR/$name.log)" >&2
            reported="$reported$name "
        done
    done
fi

# ---- check mode ------------------------------------------------------------------------
row "Check:" "running for at most $CHECK_SECONDS s"
tickets_printed() { grep -c "Ticket CP_" "$DIR/$1.log" 2>/dev/null || true; }
deadline=$((SECONDS + CHECK_SECONDS))
next_status=$((SECONDS + STATUS_EVERY))
while [ $SECONDS -lt $deadline ]; do
    if [ "$STATUS_EVERY" -gt 0 ] && [ $SECONDS -ge $next_status ]; then
        status_line
        next_status=$((SECONDS + STATUS_EVERY))
    fi
    t1=$(tickets_printed driver1)
    t2=$(tickets_printed driver2)
    [ "${t1:-0}" -ge 1 ] && [ "${t2:-0}" -ge 1 ] && break
    [ -n "$(alive_check)" ] && break
    sleep 0.5
done
dead=$(alive_check)
stop_all
t1=$(tickets_printed driver1)
t2=$(tickets_printed driver2)
db_tickets=$(sqlite3 -readonly "$DIR/central.db" "select count(*) from tickets" 2>/dev/null || echo "?")
leftover=0
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && leftover=1; done
echo "demo check ($BUS_KIND): tickets printed driver1=$t1 driver2=$t2, tickets in the database=$db_tickets, after $((SECONDS)) s"
status=0
if [ -n "$dead" ]; then
    echo "demo check: FAILED: stopped on their own: $dead" >&2
    for name in $dead; do
        echo "----- $DIR/$name.log (last 20 lines)" >&2
        tail -n 20 "$DIR/$name.log" >&2
    done
    status=1
fi
if [ "${t1:-0}" -lt 1 ] || [ "${t2:-0}" -lt 1 ]; then
    echo "demo check: FAILED: a driver printed no ticket within $CHECK_SECONDS s" >&2
    for name in central driver1 driver2; do
        echo "----- $DIR/$name.log (last 15 lines)" >&2
        tail -n 15 "$DIR/$name.log" >&2
    done
    status=1
fi
case "$db_tickets" in '' | *[!0-9]* | 0)
    echo "demo check: FAILED: no ticket in $DIR/central.db" >&2
    status=1
    ;;
esac
# Our own shipped config must not make librdkafka warn (a consumer property
# given to the producer, or the reverse).
confwarn=$(grep -l "CONFWARN" "$DIR"/*.log 2>/dev/null)
if [ -n "$confwarn" ]; then
    echo "demo check: FAILED: librdkafka warned about the demo's config in:" $confwarn >&2
    grep -h "CONFWARN" $confwarn | head -3 >&2
    status=1
fi
if [ $leftover = 1 ]; then
    echo "demo check: FAILED: a process survived the stop" >&2
    status=1
fi
[ $status = 0 ] && echo "demo check: OK"
exit $status
