#!/usr/bin/env bash
# three_hosts.sh zmq|kafka: the README's multi-host deployment on three network
# namespaces joined by a bridge (issue 15, "Three hosts"):
#
#   driver host 10.77.0.1   EV_Driver driver1, driver2
#   central host 10.77.0.2  EV_Central (+ its embedded ZeroMQ proxy, or evc-kafka-mock)
#   cp host 10.77.0.3       EV_CP_E + EV_CP_M for CP_001 and CP_002
#
# The bridge lives in a fourth namespace, so the machine's own network is never
# touched. Every program runs with the shipped config (config/zmq.yaml or
# config/kafka.yaml, unmodified) and the commands of README "Deploying on
# several hosts". Checks: two supplies in parallel end with a ticket each,
# billed once; then the CP host's link is cut (ip link set eth0 down) for four
# seconds in the middle of a supply, which is unplugged during the cut; the
# supply still ends billed exactly once, the driver gets its ticket and the CP
# is ACTIVATED again. Exit 77 (ctest: skipped) with the reason when network
# namespaces cannot be made here (not root, no CAP_NET_ADMIN).
#
#   BUILD=build bash tests/integration/three_hosts/three_hosts.sh zmq
set -u

BUS=${1:?usage: three_hosts.sh zmq|kafka}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bin"
case "$BUS" in
zmq) CONFIG="$ROOT/config/zmq.yaml" ;;
kafka) CONFIG="$ROOT/config/kafka.yaml" ;;
*) echo "three_hosts.sh: unknown bus '$BUS' (zmq or kafka)" >&2; exit 2 ;;
esac

T="evc3h$$"                      # unique per run: several runs may share the machine
NS_BR="${T}br" NS_D="${T}drv" NS_C="${T}central" NS_P="${T}cp"
IP_D=10.77.0.1 IP_C=10.77.0.2 IP_P=10.77.0.3
DIR=$(mktemp -d /tmp/evc-three-hosts-XXXXXX)
PIDS=()
BUS_PID=
FAILED=0
NETNS_MADE=()

# stop PID...: SIGTERM, then SIGKILL what still runs after 6 s (past transport.kafka's
# close_timeout_ms of 5 s in config/kafka.yaml).
stop() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    for p in "$@"; do
        for _ in $(seq 1 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
}
cleanup() {
    local ns
    # The programs first, the bus last: a Kafka client closes at once while its brokers live.
    [ ${#PIDS[@]} -gt 0 ] && stop "${PIDS[@]}"
    [ -n "$BUS_PID" ] && stop "$BUS_PID"
    wait 2>/dev/null
    exec 5>&- 6>&- 7>&- 2>/dev/null
    for ns in "${NETNS_MADE[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ "$FAILED" = 0 ] && [ -z "${EVC_IT_KEEP:-}" ]; then rm -rf "$DIR"; else
        echo "three_hosts: logs kept in $DIR" >&2; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

now_ms() { date +%s%3N; }
# wait_for TIMEOUT_MS WHAT COMMAND...: polls COMMAND every 100 ms until it succeeds.
wait_for() {
    local until=$(($(now_ms) + $1)) what=$2
    shift 2
    while ! "$@"; do
        if [ "$(now_ms)" -ge "$until" ]; then
            fail "timed out: $what"
            return 1
        fi
        sleep 0.1
    done
}
fail() {
    echo "FAIL ($BUS): $*" >&2
    if [ "$FAILED" = 0 ]; then
        local f
        for f in "$DIR"/*/*.log; do
            [ -f "$f" ] && { echo "--- ${f#"$DIR"/} (last 25 lines)"; tail -n 25 "$f"; } >&2
        done
    fi
    FAILED=1
}
die() { fail "$@"; exit 1; }
in_log() { grep -q -- "$2" "$DIR/$1"; }
# in_log_after FILE LINE PATTERN: PATTERN in FILE after its first LINE lines.
in_log_after() { tail -n "+$(($2 + 1))" "$DIR/$1" | grep -q -- "$3"; }
lines() { wc -l <"$DIR/$1"; }
count_in_log() { grep -c -- "$2" "$DIR/$1"; }

# --- the network ------------------------------------------------------------
if ! ip netns add "$NS_BR" 2>"$DIR/netns.err"; then
    why=$(tr -d '\n' <"$DIR/netns.err")
    # Skipped only where the machine forbids namespaces; any other failure is a failure.
    if grep -qi "not permitted\|permission denied" "$DIR/netns.err"; then
        echo "SKIP: cannot create a network namespace ($why);" \
            "this test needs root or CAP_NET_ADMIN (ip netns add)"
        exit 77
    fi
    die "ip netns add $NS_BR: $why"
fi
NETNS_MADE+=("$NS_BR")
net() { "$@" || die "network setup: $*"; }
net ip -n "$NS_BR" link add br0 type bridge
net ip -n "$NS_BR" link set br0 up
for host in D:$IP_D C:$IP_C P:$IP_P; do
    name=${host%%:*} ip=${host#*:}
    ns_var="NS_$name" ns=${!ns_var}
    net ip netns add "$ns"
    NETNS_MADE+=("$ns")
    net ip -n "$ns" link set lo up
    # eth0 in the host's namespace, its peer (named after the host) on the bridge.
    net ip -n "$ns" link add eth0 type veth peer name "port$name" netns "$NS_BR"
    net ip -n "$NS_BR" link set "port$name" master br0 up
    net ip -n "$ns" addr add "$ip/24" dev eth0
    net ip -n "$ns" link set eth0 up
done
on() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- the hosts' files (README: copy the config to every host) -----------------
mkdir -p "$DIR/central" "$DIR/cphost" "$DIR/driverhost"
for h in central cphost driverhost; do cp "$CONFIG" "$DIR/$h/evc.yaml"; done
DB="$DIR/central/central.db"
export EVC_LOG_FORMAT=text

# Central's database: schema, seed users (driver1 EUR 150.00, driver2 EUR 200.00, admin),
# then CP_001 and CP_002 each with a secret of its own (README).
central_cmd() { env EVC_DB="$DB" EVC_CENTRAL_KEY="$DB.central-key.pub" "$BIN/EV_Central" \
    --config "$DIR/central/evc.yaml" "$@"; }
central_cmd --init-db --seed --db "$DB" >"$DIR/central/init.log" 2>&1 || die "--init-db failed"
# EUR 200/kWh: a supply of a few seconds (a few Wh at 7.4 kW) then costs euros, so the
# balances below show whether money moved once, twice or not at all.
PRICE=20000
for cp in CP_001 CP_002; do
    # 64 hex digits: a generated secret, verified without argon2 (docs/SECURITY.md).
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/cphost/$cp.secret"
    chmod 600 "$DIR/cphost/$cp.secret"
    central_cmd --add-cp "$cp" --location "Rack $cp" --price-cents "$PRICE" \
        --secret-file "$DIR/cphost/$cp.secret" --db "$DB" >>"$DIR/central/init.log" 2>&1 ||
        die "--add-cp $cp failed"
done
# "scp" of Central's public key to the other hosts.
cp "$DB.central-key.pub" "$DIR/cphost/central.pub"
cp "$DB.central-key.pub" "$DIR/driverhost/central.pub"

# --- central host: the bus and Central ----------------------------------------
if [ "$BUS" = kafka ]; then
    # (exec ...) &: $! is then the program itself (ip netns exec execs it), which cleanup kills.
    (exec ip netns exec "$NS_C" "$BIN/evc-kafka-mock" --brokers "${EVC_IT_BROKERS:-3}" --listen "$IP_C" \
        --bootstrap-file "$DIR/central/kafka.boot" >"$DIR/central/kafka-mock.log" 2>&1) &
    BUS_PID=$!
    wait_for 10000 "evc-kafka-mock started" test -s "$DIR/central/kafka.boot" || exit 1
    BUS_CENTRAL=$(head -n 1 "$DIR/central/kafka.boot")
    BUS_OTHERS=$BUS_CENTRAL
else
    BUS_CENTRAL=0.0.0.0:5555     # the embedded proxy binds every interface of Central's host
    BUS_OTHERS=$IP_C:5555
fi
# Central reads its commands from a pipe (nothing is typed here), panel plain.
mkfifo "$DIR/central/stdin"
(exec ip netns exec "$NS_C" env EVC_DB="$DB" EVC_CENTRAL_KEY="$DB.central-key.pub" \
    "$BIN/EV_Central" --config "$DIR/central/evc.yaml" 7001 "$BUS_CENTRAL" "$DB" \
    <"$DIR/central/stdin" >"$DIR/central/central.log" 2>&1) &
PIDS+=($!)
exec 7>"$DIR/central/stdin"

# The admin API from Central's own host (README: 8002 on Central's host).
api() {
    on "$NS_C" curl -s -m 3 -b "$DIR/central/jar" "http://127.0.0.1:8002$1"
}
login() {
    on "$NS_C" curl -s -m 3 -c "$DIR/central/jar" -H 'Content-Type: application/json' \
        -d '{"user":"admin","password":"admin123"}' http://127.0.0.1:8002/api/login |
        grep -q '"ok"\|user'
}
wait_for 20000 "Central's HTTP API answers an admin login" login || exit 1
cp_state() { api /api/cps | jq -r --arg id "$1" '.. | objects | select(.id? == $id) | .state' |
    head -n 1; }
state_is() { [ "$(cp_state "$1")" = "$2" ]; }

# --- cp host: engine + monitor per CP, the engine on loopback ------------------
# Each engine reads its menu (plug, unplug) from a pipe the test writes: the shipped config
# has no unattended mode, a person plugs the car in.
port=7101 web=8003 fd=5
for cp in CP_001 CP_002; do
    mkfifo "$DIR/cphost/$cp.stdin"
    (cd "$DIR/cphost" && exec ip netns exec "$NS_P" env EVC_CENTRAL_KEY="$DIR/cphost/central.pub" \
        "$BIN/EV_CP_E" --config evc.yaml "$BUS_OTHERS" "127.0.0.1:$port" "$cp" \
        --secret-file "$DIR/cphost/$cp.secret" \
        <"$DIR/cphost/$cp.stdin" >"$DIR/cphost/$cp-engine.log" 2>&1) &
    PIDS+=($!)
    eval "exec $fd>\"$DIR/cphost/$cp.stdin\""
    (cd "$DIR/cphost" && exec ip netns exec "$NS_P" env EVC_CENTRAL_KEY="$DIR/cphost/central.pub" \
        "$BIN/EV_CP_M" --config evc.yaml "127.0.0.1:$port" "$IP_C:7001" "$cp" \
        --secret-file "$DIR/cphost/$cp.secret" --web-port "$web" \
        </dev/null >"$DIR/cphost/$cp-monitor.log" 2>&1) &
    PIDS+=($!)
    port=$((port + 1)) web=$((web + 1)) fd=$((fd + 1))
done
engine() { # engine CP LINE: a line on the engine's menu
    case "$1" in CP_001) echo "$2" >&5 ;; CP_002) echo "$2" >&6 ;; esac
}
for cp in CP_001 CP_002; do
    wait_for 30000 "$cp ACTIVATED at Central" state_is "$cp" ACTIVATED || exit 1
    # ACTIVATED at Central comes before the engine holds its bus key; an authorisation sent
    # in between is ignored ("cp.authorise ignored: no bus key yet") and the driver denied
    # cp_no_answer (reported with issue 15). Wait for the key as an operator would see it;
    # over Kafka it takes about 3 s, but in about one run in five it never comes (Central
    # answers none of the key requests; reported with issue 15): this wait then fails.
    wait_for 60000 "$cp's engine holds its bus key" in_log "cphost/$cp-engine.log" \
        "bus key ready" || exit 1
done

# --- driver host --------------------------------------------------------------
printf 'pass123\n' >"$DIR/driverhost/driver1.pw"
printf 'pass456\n' >"$DIR/driverhost/driver2.pw"
chmod 600 "$DIR/driverhost/"*.pw
DRIVER_PID=
start_driver() { # start_driver ID CP RUN WEBPORT: one supply, then the driver exits
    printf '%s\n' "$2" >"$DIR/driverhost/$1-$3.services"
    (cd "$DIR/driverhost" && exec ip netns exec "$NS_D" \
        env EVC_CENTRAL_KEY="$DIR/driverhost/central.pub" "$BIN/EV_Driver" --config evc.yaml \
        --password-file "$1.pw" --web-port "$4" "$BUS_OTHERS" "$1" "$1-$3.services" \
        </dev/null >"$DIR/driverhost/$1-$3.log" 2>&1) &
    DRIVER_PID=$!
    PIDS+=($!)
}
exited_ok() { ! kill -0 "$1" 2>/dev/null; }

# One supply at CP: authorised -> plug -> energy flows -> unplug; the ticket is checked by
# the caller. CUT=1 cuts the cp host's link while the supply runs and unplugs during the cut.
supply() {
    local cp=$1 drv=$2 log=$3 cut=${4:-0} from=$5 elog="cphost/$1-engine.log"
    wait_for 30000 "$cp authorised for $drv" in_log_after "$elog" "$from" \
        "Authorised: session .* driver $drv" || return 1
    engine "$cp" plug
    wait_for 15000 "$cp supplying" in_log_after "$elog" "$from" "Supplying: " || return 1
    wait_for 15000 "$drv sees the supply live" in_log "driverhost/$log" "Supplying at $cp" ||
        return 1
    if [ "$cut" = 1 ]; then
        ip -n "$NS_P" link set eth0 down || die "cannot cut the cp host's link"
        echo "three_hosts ($BUS): cp host link down at $(date +%T.%3N)"
        sleep 1                # deliberate: the car is unplugged while the link is down
        engine "$cp" unplug
        sleep 3                # deliberate: the rest of the outage, 4 s in all
        ip -n "$NS_P" link set eth0 up || die "cannot restore the cp host's link"
        echo "three_hosts ($BUS): cp host link up at $(date +%T.%3N)"
    else
        engine "$cp" unplug
    fi
    wait_for 5000 "$cp ended the supply" in_log_after "$elog" "$from" \
        "Supply ended: .* reason unplugged" || return 1
}

T0=$(now_ms)
# 1. Two drivers, two CPs at once. driver1 asks for CP_001 twice (its second supply is the
# one across the cut, after driver.wait_between_ms): one driver process for both, as a
# driver's services file runs.
start_driver driver1 $'CP_001\nCP_001' 1 8001; D1=$DRIVER_PID
start_driver driver2 CP_002 1 8006; D2=$DRIVER_PID
supply CP_001 driver1 driver1-1.log 0 0 || exit 1
from=$(lines cphost/CP_001-engine.log)
supply CP_002 driver2 driver2-1.log 0 0 || exit 1
wait_for 20000 "driver1's first ticket" in_log driverhost/driver1-1.log "Ticket CP_001: " || exit 1
wait_for 20000 "driver2's ticket" in_log driverhost/driver2-1.log "Ticket CP_002: " || exit 1
wait_for 20000 "driver2 exits" exited_ok "$D2" || exit 1
wait "$D2" || fail "driver2 exited $?"
echo "three_hosts ($BUS): two supplies billed in $(( $(now_ms) - T0 )) ms"

# 2. driver1's second supply at CP_001, the cp host's link cut in its middle.
T1=$(now_ms)
supply CP_001 driver1 driver1-1.log 1 "$from" || exit 1
# The cut was felt: Central lost CP_001's monitor heartbeats in the middle of the supply.
in_log central/central.log "CP CP_001 SUPPLYING -> DISCONNECTED" ||
    fail "Central never saw CP_001 disconnected: the link cut did not cut"
tickets_seen() { [ "$(count_in_log driverhost/driver1-1.log 'Ticket CP_001: ')" -ge 2 ]; }
wait_for 40000 "driver1's ticket after the cut" tickets_seen || exit 1
wait_for 20000 "driver1 exits after its two supplies" exited_ok "$D1" || exit 1
wait "$D1" || fail "driver1 exited $?"
wait_for 20000 "CP_001 ACTIVATED after the cut" state_is CP_001 ACTIVATED || exit 1
wait_for 20000 "CP_002 ACTIVATED after the cut" state_is CP_002 ACTIVATED || exit 1
echo "three_hosts ($BUS): supply across the cut billed in $(( $(now_ms) - T1 )) ms"

# --- the ledger ---------------------------------------------------------------
q() { sqlite3 -readonly "$DB" "$1"; }
expect_q() { # expect_q WHAT EXPECTED SQL
    local got
    got=$(q "$3")
    [ "$got" = "$2" ] || fail "$1: got '$got', expected '$2' ($3)"
}
# Central marks the session ended and writes the ticket in one transaction; wait for the
# last one to be readable rather than assume it already is.
tickets_are() { [ "$(q 'select count(*) from tickets')" = "$1" ]; }
wait_for 10000 "three tickets in Central's database" tickets_are 3
expect_q "open sessions" 0 \
    "select count(*) from sessions where state in ('requested','authorised','supplying')"
expect_q "ended sessions" 3 "select count(*) from sessions where state = 'ended'"
expect_q "sessions billed twice" 0 \
    "select count(*) from (select session_id from tickets group by session_id having count(*) > 1)"
expect_q "supplies with no energy or no money" 0 \
    "select count(*) from tickets where energy_wh <= 0 or amount_cents <= 0"
expect_q "tickets that disagree with their session" 0 \
    "select count(*) from tickets t join sessions s on s.id = t.session_id
     where t.energy_wh != s.energy_wh or t.amount_cents != s.amount_cents"
expect_q "tickets not at (Wh x $PRICE + 500) / 1000" 0 \
    "select count(*) from tickets where amount_cents != (energy_wh * $PRICE + 500) / 1000"
expect_q "driver1's tickets" 2 "select count(*) from tickets where driver_id = 'driver1'"
expect_q "driver2's tickets" 1 "select count(*) from tickets where driver_id = 'driver2'"
expect_q "driver1's balance = 15000 - tickets" 1 \
    "select (select balance_cents from users where id = 'driver1') =
            15000 - (select sum(amount_cents) from tickets where driver_id = 'driver1')"
expect_q "driver2's balance = 20000 - tickets" 1 \
    "select (select balance_cents from users where id = 'driver2') =
            20000 - (select sum(amount_cents) from tickets where driver_id = 'driver2')"
# What the driver saw: one ticket, for the session the database billed, at its amount.
sid=$(grep -o "Supply ended: session [^ ]*" "$DIR/cphost/CP_001-engine.log" | tail -n 1 |
    cut -d' ' -f4)
expect_q "tickets of the supply across the cut ($sid)" 1 \
    "select count(*) from tickets where session_id = '$sid'"
n=$(count_in_log driverhost/driver1-1.log 'Ticket CP_001: ')
[ "$n" = 2 ] || fail "driver1 printed $n tickets for its 2 supplies"
grep -q "Ticket CP_001: .*session $sid" "$DIR/driverhost/driver1-1.log" ||
    fail "driver1's ticket after the cut is not for session $sid"
# The engine's report of the supply waits in its outbox (re-sent every
# cp_engine.outbox_retry_ms) until Central acknowledges it: the bus must come back to it.
wait_for 20000 "CP_001's engine gets Central's acknowledgement of $sid" \
    in_log cphost/CP_001-engine.log "Acknowledged by CENTRAL: session $sid"

[ "$FAILED" = 0 ] && echo "three_hosts ($BUS): OK"
exit "$FAILED"
