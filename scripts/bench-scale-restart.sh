# bench-scale-restart.sh: sourced by bench-scale.sh (its variables: BIN, DIR,
# PIDS, MON_PORT, HTTP_PORT, ZMQ_PORT, DURATION, WARMUP, RATE, RESTART_AFTER,
# RESTART_JITTER, STARTUP_REPEAT).
# Issue 14's start-up and restart targets: --startup N[,N...] and rungs whose
# label contains "restart".

# The kernel's count of connections dropped because a listen queue was full
# (whole machine: other programs' overflows count too).
listen_overflows() {
    awk '/^TcpExt:/ { if (!h) { for (i = 2; i <= NF; i++) k[i] = $i; h = 1 }
                      else for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows") print $i }' \
        /proc/net/netstat 2>/dev/null || echo 0
}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# GET /api/health's cps_connected, empty while Central does not answer.
health_connected() {
    curl -s -m 1 "http://127.0.0.1:$HTTP_PORT/api/health" 2>/dev/null |
        jq -r '.cps_connected // empty' 2>/dev/null || true
}

# One start of Central with N CPs provisioned: milliseconds until the monitor
# port accepts and until /api/health answers.
startup_case() {
    local n=$1 rd="$DIR/startup-$n"
    rm -rf "$rd"; mkdir -p "$rd"
    bench_config "$rd/bench.yaml" zmq "127.0.0.1:$ZMQ_PORT" "" "$rd/central.db"
    "$BIN/EV_Central" --config "$rd/bench.yaml" --init-db >"$rd/initdb.log" 2>&1
    "$BIN/evc-loadgen" --config "$rd/bench.yaml" --provision --cps "$n" --supplying 0 \
        >"$rd/provision.log" 2>&1
    # Median of STARTUP_REPEAT starts (the machine is shared: one start is noise).
    local k ports=() healths=()
    for k in $(seq 1 "$STARTUP_REPEAT"); do
        local t0 port="" health="" central
        t0=$(date +%s%N)
        "$BIN/EV_Central" --config "$rd/bench.yaml" >"$rd/central.log" 2>&1 &
        central=$!
        PIDS+=($central)
        while [ -z "$port" ] || [ -z "$health" ]; do
            kill -0 "$central" 2>/dev/null || break
            [ "$(ms_since "$t0")" -gt 120000 ] && break
            if [ -z "$port" ] && (exec 3<>"/dev/tcp/127.0.0.1/$MON_PORT") 2>/dev/null; then
                port=$(ms_since "$t0")
            fi
            if [ -z "$health" ] && [ -n "$(health_connected)" ]; then health=$(ms_since "$t0"); fi
        done
        cleanup
        ports+=("${port:-0}") healths+=("${health:-0}")
        echo "start $k: port ${port:-failed} ms, health ${health:-failed} ms" >>"$rd/starts.txt"
    done
    local port health
    port=$(printf '%s\n' "${ports[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    health=$(printf '%s\n' "${healths[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
    local warns first
    warns=$(grep 'WARN' "$rd/central.log" | grep -c 'limit' || true)
    first=$(grep 'WARN' "$rd/central.log" | grep 'limit' | sed 's/^[^ ]* WARN  //; s/|/\\|/g' |
        cut -c1-200 | paste -sd';' - || true)
    echo "${n} ${port:-0} ${health:-0} ${warns}" >"$rd/startup.txt"
    echo "$first" >>"$rd/startup.txt"
}

startup_table() {
    local list=${1//,/ } n p0="" h0="" z=""
    echo "| CPs in the database | monitor port accepts ms | GET /api/health answers ms | /api/health minus the 0-CP row ms | ratio to the first row with CPs (port / health) | Central's WARN lines on the open-files limit |"
    echo "|---|---|---|---|---|---|"
    for n in $list; do
        startup_case "$n"
        local rd="$DIR/startup-$n" p h w first
        read -r _ p h w <"$rd/startup.txt"
        first=$(sed -n 2p "$rd/startup.txt")
        if [ "$n" = 0 ]; then z=$h; else p0=${p0:-$p} h0=${h0:-$h}; fi
        local ratio="-" above="-"
        [ "$n" != 0 ] && ratio=$(awk -v p="$p" -v h="$h" -v a="$p0" -v b="$h0" \
            'BEGIN{if (a > 0 && b > 0) printf "%.2f / %.2f", p/a, h/b; else print "-"}')
        [ -n "$z" ] && above=$((h - z))
        if [ "$p" = 0 ] || [ "$h" = 0 ]; then p="failed: see $rd/central.log"; fi
        echo "| $n | $p | $h | $above | $ratio | $w${first:+: $first} |"
    done
}

# A rung with a Central restart: the generator runs with --restart; in its
# steady phase Central is killed and started again at once, and /api/health
# is polled until cps_connected is every CP again (Central's own count).
restart_rung() {
    local rd=$1 cps=$2 supplying=$3 drivers=$4 label=$5 central=$6
    local total=$((cps + drivers)) dur=$DURATION
    [ "$dur" -ge $((RESTART_AFTER + 10)) ] || dur=$((RESTART_AFTER + 10))
    "$BIN/evc-loadgen" --config "$rd/bench.yaml" --cps "$cps" --supplying "$supplying" \
        --drivers "$drivers" --central "127.0.0.1:$MON_PORT" --central-pid "$central" \
        --rate "$RATE" --warmup "$WARMUP" --duration "$dur" --label "$label" --restart --jitter "$RESTART_JITTER" \
        --json "$rd/report.json" >"$rd/loadgen.log" 2>&1 &
    local gen=$!
    PIDS+=($gen)
    until grep -q '^steady phase:' "$rd/loadgen.log" 2>/dev/null; do
        kill -0 "$gen" 2>/dev/null || { echo '{}' >"$rd/restart.json"; return 0; }
        sleep 0.5
    done
    sleep "$RESTART_AFTER"
    local t0 answer="" all="" n="" ov0
    ov0=$(listen_overflows)
    t0=$(date +%s%N)
    kill -KILL "$central" 2>/dev/null || true
    wait "$central" 2>/dev/null || true
    "$BIN/EV_Central" --config "$rd/bench.yaml" >"$rd/central-restarted.log" 2>&1 &
    central=$!
    PIDS+=($central)
    while [ "$(ms_since "$t0")" -lt 120000 ]; do
        n=$(health_connected)
        if [ -n "$n" ]; then
            answer=${answer:-$(ms_since "$t0")}
            if [ "$n" -ge "$total" ]; then all=$(ms_since "$t0"); break; fi
        fi
        sleep 0.1
    done
    local ov=$(($(listen_overflows) - ov0))
    echo "{\"health_answers_ms\":${answer:-null},\"all_connected_ms\":${all:-null},\"last_connected\":${n:-null},\"cps\":$total,\"listen_overflows\":$ov}" \
        >"$rd/restart.json"
    wait "$gen" || true
}

restart_header() {
    echo "| restart rung | CPs (supplying) | /api/health answers s | all connected (/api/health) s | loadgen: accepting / all ACTIVATED s | relapsed / false DISC. | HB unacked | connect failures | denied / interrupted / telemetry not relayed | listen overflows (machine) |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
}

restart_row() { # run dir -> one row (times from the SIGKILL / the first link lost)
    local rd=$1
    jq -r --slurpfile h "$rd/restart.json" '
        def s(x): if x == null then "-" elif x < 0 then "-" else (x * 100 | round) / 100 end;
        def ms(x): if x == null then null else x / 1000 end;
        "| \(.transport) \(.label) | \(.cps) (\(.supplying)) | \(s(ms($h[0].health_answers_ms))) | \(s(ms($h[0].all_connected_ms))) | \(s(.restart.accepting_s)) / \(s(.restart.all_activated_s)) | \(.restart.relapsed) / \(.counts.false_disconnected) | \(.restart.hb_unacked) | \(.restart.connect_failed) | \(.restart.supply_denied) / \(.restart.interrupted) / \(.restart.tele_lost) | \($h[0].listen_overflows // "-") |"' \
        "$rd/report.json"
}
