#!/bin/sh
# with_kafka_mock.sh MOCK COMMAND ARGS...: starts the evc-kafka-mock program
# MOCK (with the topics the flood checks need spread over 64 partitions: the
# mock keeps only about 5 MB per partition), runs COMMAND with every argument
# "@BOOTSTRAP@" replaced by the cluster's bootstrap address, stops the mock and
# exits with COMMAND's status. How a user runs evc-conformance --endpoint
# against the mock (tools/evc_conformance/README.md).
set -u
mock=$1
shift
dir=$(mktemp -d)
"$mock" --topic conf-burst:64 --topic conf-lossy:64 --bootstrap-file "$dir/boot" >/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
# Wait for the address, with a deadline (the mock writes it once listening).
i=0
while [ ! -s "$dir/boot" ]; do
    i=$((i + 1))
    if [ "$i" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "with_kafka_mock: $mock wrote no bootstrap address within 20 s" >&2
        exit 2
    fi
    sleep 0.1
done
boot=$(cat "$dir/boot")
first=1
for a in "$@"; do
    if [ "$first" -eq 1 ]; then set --; first=0; fi
    if [ "$a" = "@BOOTSTRAP@" ]; then set -- "$@" "$boot"; else set -- "$@" "$a"; fi
done
"$@"
