#!/usr/bin/env bash
# fwupgwd end to end on paced lines: N simulated XMODEM devices at 115200 8N1
# with 1 ms turnaround, one 64 KiB image each, all in one batch. Reports each
# job's goodput over its transfer phase (from the job's own event history)
# as a fraction of the XMODEM-1K ceiling, 11 328 B/s.
#   tests/bench/daemon_xmodem.sh BUILD_DIR [DEVICES] [KIB]
set -euo pipefail
export FWUP_BINARY_DIR=$(cd "$1" && pwd)
n=${2:-8}
kib=${3:-64}
. "$(dirname "$0")/../integration/lib.sh"

start_sim "$n" --baud 115200 --bits 10 --turnaround-us 1000
write_config "$n" "max_concurrent_jobs: $n"
start_daemon
echo "manifest: 1" >"$work/m.yaml"
echo "targets:" >>"$work/m.yaml"
for ((i = 0; i < n; i++)); do
    make_image "$work/img$i.bin" $((kib * 1024))
    echo "  - {device: dev-$i, image: img$i.bin, sha256: $(sha256sum "$work/img$i.bin" | cut -c1-64), version: b}" \
        >>"$work/m.yaml"
done
t0=$(date +%s.%N)
"${ctl[@]}" apply "$work/m.yaml" --wait >/dev/null
t1=$(date +%s.%N)
for ((i = 0; i < n; i++)); do
    received_ok "$i" "$work/img$i.bin" || fail "dev$i content"
done
"${ctl[@]}" --json history --limit 1000 | jq -r --argjson bytes $((kib * 1024)) '
  .events | group_by(.job)[] |
  { job: .[0].job, device: .[0].device,
    t0: (map(select(.kind == "phase" and .phase == "transfer")) | .[0].ts),
    t1: (map(select(.kind == "succeeded")) | .[0].ts) } |
  "\(.device): \($bytes) B in \((.t1 - .t0) / 1000) s = \($bytes * 1000 / (.t1 - .t0) | floor) B/s = \($bytes * 1000 / (.t1 - .t0) / 11328 * 1000 | floor / 1000) of the ceiling"'
awk -v a="$t0" -v b="$t1" -v n="$n" -v k="$kib" 'BEGIN { printf "batch wall time: %.2f s for %d x %d KiB\n", b - a, n, k }'
# The daemon's own CPU time for the whole batch (one thread, one loop).
read -r -a st <"/proc/$daemon_pid/stat"
cpu_ms=$(((st[13] + st[14]) * 1000 / $(getconf CLK_TCK)))
echo "fwupgwd CPU time: $cpu_ms ms for $((n * kib)) KiB over $n links"
stop_daemon
