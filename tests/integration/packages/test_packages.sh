#!/usr/bin/env bash
# integ_packages (issue 15): the Debian packages as an operator gets them.
#   1. builds them the way `make package` does (Release, prefix /usr, no tests)
#      in WORK/build, then moves that build dir away (WORK/build.moved) so that
#      nothing can be found there any more;
#   2. checks the set of packages, their versions (project(VERSION)) and Depends:
#      the ZeroMQ plugin does not pull librdkafka, the Kafka plugin not libzmq,
#      the programs neither (the plugins are dlopen'ed), every one the exact
#      libevc-core0;
#   3. lintian: no error, no warning that is not overridden with a reason;
#   4. systemd-analyze verify on the shipped units (paths pointed at the root);
#   5. unpacks every package with dpkg -x into WORK/root and runs one supply
#      there with the installed programs, plugins and /etc/evcharging config
#      only (inside a new network namespace when one can be made, so the
#      shipped config's fixed ports meet no other test): Central, CP_001's
#      engine and monitor (its secret from a 0600 file, as the units pass it),
#      a driver asking for CP_001; the driver must print the ticket, Central's
#      database must hold it, and /proc/<pid>/maps of Central must show
#      libevc_core and the plugins from WORK/root and nothing from the build
#      or source tree.
# Usage: test_packages.sh --source DIR --work DIR [--web ON|OFF]
set -euo pipefail

SRC="" WORK="" WEB=OFF PHASE=all
while [ $# -gt 0 ]; do
    case "$1" in
        --source) SRC=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        --web) WEB=$2; shift 2 ;;
        --run-phase) PHASE=run; shift ;;
        *) echo "test_packages: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$SRC" ] && [ -n "$WORK" ] || { echo "usage: $0 --source DIR --work DIR [--web ON|OFF]" >&2; exit 2; }
ROOT=$WORK/root
RUN=$WORK/run
fail() { echo "integ_packages: FAIL: $*" >&2; exit 1; }

# ---- 5. the supply (run inside the namespace by the outer invocation) ----
run_supply() {
    local etc=$ROOT/etc/evcharging bin=$ROOT/usr/bin
    pids=()  # global: the EXIT trap reads it after this function returned
    rm -rf "$RUN"; mkdir -p "$RUN"; cd "$RUN"
    # Inside a fresh network namespace only lo exists, and it is down.
    if [ "${EVC_PKG_NETNS:-0}" = 1 ]; then ip link set lo up || fail "cannot bring lo up in the namespace"; fi
    stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
    trap stop_all EXIT
    export EVC_DB=$RUN/central.db EVC_UNATTENDED=true
    "$bin/EV_Central" --config "$etc/evcharging.yaml" --init-db --seed --db "$RUN/central.db" \
        >init-db.log 2>&1 || { cat init-db.log; fail "EV_Central --init-db"; }
    (umask 077; echo "secret-CP_001" >CP_001.secret)
    echo CP_001 >services.txt
    "$bin/EV_Central" --config "$etc/evcharging.yaml" 7001 127.0.0.1:5555 "$RUN/central.db" \
        </dev/null >central.log 2>&1 & pids+=($!); local central=$!
    "$bin/EV_CP_E" --config "$etc/evcharging.yaml" --secret-file CP_001.secret \
        127.0.0.1:5555 127.0.0.1:7101 CP_001 </dev/null >engine.log 2>&1 & pids+=($!)
    "$bin/EV_CP_M" --config "$etc/evcharging.yaml" --secret-file CP_001.secret \
        127.0.0.1:7101 127.0.0.1:7001 CP_001 </dev/null >monitor.log 2>&1 & pids+=($!)
    # The driver asks once: wait (on the condition, with a deadline) until
    # Central has CP_001 activated (engine and monitor authenticated) and the
    # engine holds its bus key (before that it cannot answer a request).
    local ready=$((SECONDS + 60))
    until grep -q "CP CP_001 .*-> ACTIVATED" central.log && grep -q "bus key ready" engine.log; do
        [ $SECONDS -lt $ready ] || { tail -20 central.log; tail -5 engine.log; fail "CP_001 not ready (activated at Central, bus key at the engine) within 60 s"; }
        sleep 0.2
    done
    # The driver's exit status lands in driver.rc (kill -0 would still see it as a zombie).
    (EVC_DRIVER_PASSWORD=pass123 "$bin/EV_Driver" --config "$etc/evcharging.yaml" --web-port 0 \
        127.0.0.1:5555 driver1 services.txt </dev/null >driver.log 2>&1; echo $? >driver.rc) &
    local driver=$!; pids+=($driver)
    # The driver exits by itself after its services file (driver.exit_when_done);
    # its own request timeout bounds the wait, the deadline below only a hang.
    local deadline=$((SECONDS + 120))
    while [ ! -s driver.rc ] && [ $SECONDS -lt $deadline ]; do
        # Central's mappings, read while the supply runs: which files it really loaded.
        [ -r /proc/$central/maps ] && cp /proc/$central/maps central.maps 2>/dev/null || true
        sleep 0.5
    done
    [ -s driver.rc ] || fail "the driver did not finish within 120 s (logs in $RUN)"
    [ "$(cat driver.rc)" = 0 ] || { tail -20 driver.log; fail "EV_Driver exited with $(cat driver.rc) (logs in $RUN)"; }
    kill -0 "$central" 2>/dev/null || { tail -20 central.log; fail "EV_Central died (logs in $RUN)"; }
    grep -q "Ticket CP_001" driver.log || { tail -20 driver.log; fail "the driver printed no ticket for CP_001"; }
    local tickets
    tickets=$(sqlite3 -readonly central.db "select count(*) from tickets where cp_id='CP_001' and driver_id='driver1'")
    [ "$tickets" -ge 1 ] || fail "no ticket of driver1 at CP_001 in Central's database"
    [ -s central.maps ] || fail "could not read /proc/<pid>/maps of EV_Central"
    grep -q "$ROOT/usr/lib/.*/libevc_core.so" central.maps || fail "EV_Central did not map libevc_core from $ROOT"
    for p in evc_transport_zmq evc_store_sqlite; do
        grep -q "$ROOT/usr/lib/.*/evc/plugins/$p.so" central.maps || fail "EV_Central did not load $p from $ROOT"
    done
    # The scratch root and the run directory may lie under the source tree (build/ in a
    # checkout): theirs are the installed files and the run's database; only the rest counts.
    if grep -v -F -e "$ROOT/" -e "$WORK/run/" central.maps | grep -E "($WORK/build|$SRC/)"; then fail "EV_Central mapped files of the build or source tree"; fi
    echo "integ_packages: supply done: driver1 at CP_001, $tickets ticket(s) in the database, every library from $ROOT"
}
if [ "$PHASE" = run ]; then run_supply; exit 0; fi

for tool in dpkg-deb dpkg-shlibdeps cpack sqlite3; do
    command -v $tool >/dev/null || fail "$tool missing: run scripts/install-deps.sh"
done

# ---- 1. build ----
rm -rf "$WORK"; mkdir -p "$WORK"
echo "integ_packages: building the packages in $WORK/build (Release, prefix /usr, web $WEB)"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DEVC_BUILD_TESTS=OFF -DEVC_MAN_PAGES=ON -DEVC_WEB="$WEB" >"$WORK/configure.log" 2>&1 \
    || { tail -30 "$WORK/configure.log"; fail "configure"; }
cmake --build "$WORK/build" -j "$(nproc)" >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; fail "build"; }
(cd "$WORK/build" && cpack -G DEB) >"$WORK/cpack.log" 2>&1 || { tail -30 "$WORK/cpack.log"; fail "cpack"; }
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$WORK/build/CMakeCache.txt")
mkdir -p "$WORK/debs"; mv "$WORK/build"/*.deb "$WORK/debs/"
mv "$WORK/build" "$WORK/build.moved"

# ---- 2. packages, versions, Depends ----
want=(libevc-core0 evcharging evcharging-transport-zmq evcharging-transport-kafka
      evcharging-store-sqlite libevc-dev evcharging-tools)
[ "$WEB" = ON ] && want+=(evcharging-web)
deb_of() { ls "$WORK/debs/$1"_*.deb 2>/dev/null | head -n 1; }
for p in "${want[@]}"; do
    d=$(deb_of "$p"); [ -n "$d" ] || fail "no package $p in $WORK/debs ($(ls "$WORK/debs"))"
    v=$(dpkg-deb -f "$d" Version); [ "$v" = "$VERSION" ] || fail "$p has version $v, project(VERSION) is $VERSION"
done
depends() { dpkg-deb -f "$(deb_of "$1")" Depends; }
has() { depends "$1" | grep -Eq "(^|, )$2"; }
for p in evcharging evcharging-transport-zmq evcharging-transport-kafka evcharging-store-sqlite libevc-dev; do
    has $p "libevc-core0 \(= $VERSION\)" || fail "$p does not depend on libevc-core0 (= $VERSION): $(depends $p)"
done
has evcharging-transport-zmq libzmq5 || fail "the ZeroMQ plugin does not depend on libzmq5: $(depends evcharging-transport-zmq)"
has evcharging-transport-kafka librdkafka1 || fail "the Kafka plugin does not depend on librdkafka1"
has evcharging-store-sqlite libsqlite3 || fail "the SQLite plugin does not depend on libsqlite3"
for p in evcharging-transport-zmq evcharging-store-sqlite libevc-core0 evcharging; do
    depends $p | grep -q rdkafka && fail "$p pulls librdkafka: $(depends $p)"
done
for p in evcharging-transport-kafka evcharging-store-sqlite libevc-core0 evcharging; do
    depends $p | grep -q libzmq && fail "$p pulls libzmq: $(depends $p)"
done
depends evcharging | grep -q "evcharging-transport-zmq (= $VERSION) | evcharging-transport-kafka (= $VERSION)" \
    || fail "evcharging does not ask for one transport plugin: $(depends evcharging)"
echo "integ_packages: ${#want[@]} packages at $VERSION; Depends as expected (no librdkafka outside the Kafka plugin)"

# ---- 3. lintian ----
command -v lintian >/dev/null || fail "lintian missing: run scripts/install-deps.sh"
# Errors and warnings both fail: every accepted warning is an override with a
# reason in packaging/debian/*overrides*.
if lintian --tag-display-limit 0 "$WORK"/debs/*.deb 2>&1 | grep -E '^[EW]: ' ; then
    fail "lintian reported the lines above"
fi
echo "integ_packages: lintian: no error, no warning beyond the commented overrides"

# ---- 5 (before 4: the units are checked against the unpacked binaries) ----
for d in "$WORK"/debs/*.deb; do dpkg -x "$d" "$ROOT"; done

# Every program has its manual page, made from its own --help.
for b in "$ROOT"/usr/bin/*; do
    n=$(basename "$b")
    page="$ROOT/usr/share/man/man1/$n.1.gz"
    [ -f "$page" ] || fail "$n has no manual page ($page)"
    zcat "$page" | grep -q -- 'help' || fail "$page does not carry $n's --help"
done
echo "integ_packages: a manual page for each of the $(ls "$ROOT"/usr/bin | wc -l) programs"

# ---- 4. systemd units ----
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$WORK/units"
    for f in "$ROOT"/usr/lib/systemd/system/*.service; do
        sed "s|/usr/bin/|$ROOT/usr/bin/|" "$f" >"$WORK/units/$(basename "$f")"
    done
    out=$(cd "$WORK/units" && systemd-analyze verify evcharging-central.service \
          evcharging-cp-engine@CP_001.service evcharging-cp-monitor@CP_001.service \
          evcharging-zmq-proxy.service evcharging-ocpp-gateway.service 2>&1) ||
        { echo "$out"; fail "systemd-analyze verify"; }
    [ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify printed the lines above"; }
    echo "integ_packages: systemd-analyze verify: the five units are clean"
    # The CURVE drop-ins docs/OPERATIONS.md gives, on the units they name:
    # each ```ini block whose first line is "# UNIT.service.d/NAME.conf".
    dropins=$(awk -v dir="$WORK/units" '
        /^ *```ini/ { inblock = 1; file = ""; next }
        inblock && /^ *```/ { inblock = 0; next }
        inblock && file == "" && match($0, /# [a-z@-]+\.service\.d\/[a-z-]+\.conf/) {
            file = dir "/" substr($0, RSTART + 2, RLENGTH - 2); print file
            d = file; sub(/\/[^\/]*$/, "", d); system("mkdir -p \"" d "\""); next }
        inblock && file != "" { sub(/^  /, ""); gsub(/\/usr\/bin\//, root "/usr/bin/"); print > file }
    ' root="$ROOT" "$SRC/docs/OPERATIONS.md" | sort -u)
    [ -n "$dropins" ] || fail "docs/OPERATIONS.md: no systemd drop-in found to verify"
    for f in $dropins; do
        unit=$(basename "$(dirname "$f")" .d)
        out=$(cd "$WORK/units" && SYSTEMD_UNIT_PATH="$WORK/units:" systemd-analyze verify "$unit" 2>&1) ||
            { echo "$out"; fail "systemd-analyze verify $unit with $f"; }
        [ -z "$out" ] || { echo "$out"; fail "verify of $unit with its drop-in printed the lines above"; }
        grep -q LoadCredential "$f" || fail "$f: the drop-in lost its LoadCredential"
    done
    echo "integ_packages: systemd-analyze verify: OPERATIONS.md's drop-ins are clean ($(echo "$dropins" | wc -l))"
else
    echo "integ_packages: systemd-analyze not installed: the units' verify step is skipped"
fi

# ---- 5. the supply ----
self=$(readlink -f "$0")
if unshare -n true 2>/dev/null; then
    EVC_PKG_NETNS=1 unshare -n bash "$self" --source "$SRC" --work "$WORK" --run-phase
else
    echo "integ_packages: cannot make a network namespace (not root): the supply runs on the host's ports 5555, 7001, 7101, 8002, 8003"
    bash "$self" --source "$SRC" --work "$WORK" --run-phase
fi
echo "integ_packages: PASS"
