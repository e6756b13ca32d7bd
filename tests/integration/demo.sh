#!/usr/bin/env bash
# The demo: 8 simulated XMODEM devices on pseudo-terminals, fwupgwd driving
# them in parallel from a batch manifest, fwupctl watching, and a final check
# that every device received exactly its own image.
#   demo.sh BUILD_DIR [WORK_DIR]
set -euo pipefail
build=$(cd "$1" && pwd)
work=${2:-$build/demo}
count=${FWUP_DEMO_DEVICES:-8}
baud=${FWUP_DEMO_BAUD:-115200}

rm -rf "$work"
mkdir -p "$work/images"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# Images: random payloads of different sizes; odd devices get Intel HEX.
for ((i = 0; i < count; i++)); do
    head -c $(((24 + 8 * i) * 1024 + 17 * i)) /dev/urandom >"$work/images/node-$i.bin"
    if ((i % 2)); then
        objcopy -I binary -O ihex --change-addresses 0x08000000 \
            "$work/images/node-$i.bin" "$work/images/node-$i.hex"
    fi
done

"$build/fwupsim" --dir "$work/sim" --count "$count" --model xmodem \
    --baud "$baud" --bits 10 --turnaround-us 1000 >"$work/fwupsim.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -e "$work/sim/ready" ] && break; sleep 0.1; done
[ -e "$work/sim/ready" ] || { echo "fwupsim did not start:"; cat "$work/fwupsim.log"; exit 1; }

{
    echo "daemon:"
    echo "  socket: $work/fwupgw.sock"
    echo "  state_dir: $work/state"
    echo "  plugin_dir: $build/plugins"
    echo "  max_concurrent_jobs: $count"
    echo "links:"
    for ((i = 0; i < count; i++)); do
        echo "  - {name: uart$i, type: serial, path: $work/sim/dev$i, baud: $baud}"
    done
    echo "devices:"
    for ((i = 0; i < count; i++)); do
        echo "  - id: node-$i"
        echo "    link: uart$i"
        echo "    protocol: xmodem"
        echo "    flash: {base: 0x08000000, size: 256K}"
        echo "    tags: [demo, $( ((i % 2)) && echo odd || echo even)]"
    done
} >"$work/fwupgw.yaml"

"$build/fwupgwd" -c "$work/fwupgw.yaml" 2>"$work/fwupgwd.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/fwupgw.sock" ] && break; sleep 0.1; done
[ -S "$work/fwupgw.sock" ] || { echo "fwupgwd did not start:"; cat "$work/fwupgwd.log"; exit 1; }

{
    echo "manifest: 1"
    echo "name: demo-rollout"
    echo "targets:"
    for ((i = 0; i < count; i++)); do
        img=images/node-$i.bin
        ((i % 2)) && img=images/node-$i.hex
        echo "  - device: node-$i"
        echo "    image: $img"
        echo "    sha256: $(sha256sum "$work/$img" | cut -d' ' -f1)"
        echo "    version: \"1.$i.0\""
    done
} >"$work/demo.yaml"

ctl=("$build/fwupctl" --socket "$work/fwupgw.sock")
echo "== devices"
"${ctl[@]}" devices
echo "== applying $work/demo.yaml"
"${ctl[@]}" apply "$work/demo.yaml" --wait
echo "== history of node-0"
"${ctl[@]}" history node-0 --limit 6

echo "== checking what every device received"
bad=0
for ((i = 0; i < count; i++)); do
    img=$work/images/node-$i.bin
    got=$work/sim/dev$i.bin
    size=$(stat -c %s "$img")
    if [ -f "$got" ] && cmp -s -n "$size" "$img" "$got"; then
        echo "node-$i: received exactly its image ($size bytes)"
    else
        echo "node-$i: MISMATCH (expected $size bytes of $img)"
        bad=1
    fi
done
[ $bad -eq 0 ] && echo "demo OK: $count devices updated in parallel" || exit 1
