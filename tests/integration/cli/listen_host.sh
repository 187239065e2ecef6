#!/usr/bin/env bash
# listen_host.sh: central.listen_host puts the CP monitor port on one interface
# only (issue 11 finding 11): with listen_host 127.0.0.1, a monitor reaching
# Central at 127.0.0.2 (also loopback, another address) is refused, while
# 127.0.0.1 connects. Without the key Central listens on all interfaces and
# both connect (checked too, so that the test proves the key, not the host).
#
#   BUILD=build bash tests/integration/cli/listen_host.sh
set -u

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
BIN="$BUILD/bin"
DIR=$(mktemp -d /tmp/evc-listen-host-XXXXXX)
FAILED=0
PID=
fail() { echo "FAIL: $*" >&2; FAILED=1; }
cleanup() {
    [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
connects() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

"$BIN/EV_Central" --init-db --db "$DIR/c.db" >"$DIR/init.log" 2>&1 ||
    { cat "$DIR/init.log" >&2; exit 1; }

# run HOST_LINE: starts Central with that line in its section; sets PORT.
run() {
    local base eph_lo
    # Below the kernel's ephemeral range: a port in it can be the local end
    # of anyone's outgoing connection at any moment (a listener check does
    # not see those), and the bind then fails "Address already in use".
    eph_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$eph_lo" -gt 11000 ] 2>/dev/null || eph_lo=32768
    for _ in $(seq 1 50); do
        base=$((10000 + RANDOM % (eph_lo - 10000 - 3)))
        connects 127.0.0.1 $base || connects 127.0.0.1 $((base + 1)) ||
            connects 127.0.0.1 $((base + 2)) || break
    done
    PORT=$base
    cat >"$DIR/c.yaml" <<YAML
transport:
  plugin: zmq
  endpoint: "127.0.0.1:$((base + 1))"
  zmq:
    proxy: owner
    proxy_owner: central
store:
  plugin: sqlite
  database: "$DIR/c.db"
central:
  listen_port: $base
  http_port: 0
  panel: plain
  $1
YAML
    "$BIN/EV_Central" --config "$DIR/c.yaml" >"$DIR/central.log" 2>&1 &
    PID=$!
    local until=$(($(now_ms) + 20000))
    until grep -q "Listening for CP monitors" "$DIR/central.log"; do
        if ! kill -0 "$PID" 2>/dev/null || [ "$(now_ms)" -ge "$until" ]; then
            cat "$DIR/central.log" >&2
            fail "Central did not listen ($1)"
            return 1
        fi
        sleep 0.1
    done
}
stop() {
    kill -TERM "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=
}

if run 'listen_host: "127.0.0.1"'; then
    connects 127.0.0.1 "$PORT" || fail "listen_host 127.0.0.1: 127.0.0.1:$PORT refused"
    connects 127.0.0.2 "$PORT" && fail "listen_host 127.0.0.1: 127.0.0.2:$PORT accepted"
    stop
fi
if run '# no listen_host: all interfaces'; then
    connects 127.0.0.1 "$PORT" || fail "default: 127.0.0.1:$PORT refused"
    connects 127.0.0.2 "$PORT" || fail "default: 127.0.0.2:$PORT refused (all interfaces)"
    stop
fi
[ $FAILED = 0 ] && echo "listen_host: OK"
exit $FAILED
