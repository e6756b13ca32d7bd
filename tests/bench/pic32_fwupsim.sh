#!/bin/sh
# PIC32CX-BZ serial DFU over a paced pty: fwupsend (pic32cx-bz plugin) into a
# fwupsim "pic32" bootloader at 115200 8N1, 1 ms turnaround. See README.md.
# Usage: tests/bench/pic32_fwupsim.sh BUILD_DIR [KIB [MODE]]   MODE: gpio|timer
set -eu
build=$1
kib=${2:-64}
mode=${3:-gpio}
cmake --build "$build" --target fwupsim fwupsend pic32cxbz >/dev/null
tmp=$(mktemp -d /tmp/pic32bench.XXXXXX)
simpid=
cleanup() { [ -n "$simpid" ] && kill "$simpid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
head -c $((kib * 1024)) /dev/urandom >"$tmp/img.bin"
if [ "$mode" = timer ]; then
    # the application runs until a "reset" 1.5 s after fwupsim starts
    devopts="app_first=1,reset_after_ms=1500,window=400"
    engopts="--option trigger=timer"
else
    devopts="trigger=gpio"
    engopts="--option trigger=gpio"
fi
"$build/fwupsim" --dir "$tmp/sim" --count 1 --model pic32 --options "$devopts" \
    --baud 115200 --bits 10 --turnaround-us 1000 &
simpid=$!
i=0
while [ ! -f "$tmp/sim/ready" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "fwupsim did not start" >&2; exit 1; }
    sleep 0.05
done
# shellcheck disable=SC2086
"$build/fwupsend" --plugin "$build/plugins/pic32cxbz.so" --tty "$tmp/sim/dev0" --baud 115200 \
    $engopts --quiet "$tmp/img.bin"
i=0
while ! grep -q "dev0 complete" "$tmp/sim/events.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "device did not complete" >&2; exit 1; }
    sleep 0.05
done
cmp -n $((kib * 1024)) "$tmp/img.bin" "$tmp/sim/dev0.bin"
echo "content ok; ceiling 11432 B/s (4096 / (4116 bytes * 86.8 us + 1 ms))"
