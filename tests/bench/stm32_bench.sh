#!/bin/sh
# STM32 AN3155 benchmark: see README.md, section "STM32 ROM UART bootloader".
# Usage: tests/bench/stm32_bench.sh [BUILD_DIR [KIB [RUNS]]]
#
# fwupsim serves the simulated bootloader (PID 0x410) on a paced line:
# 115200 baud with 11 bits a byte (8E1 timing; the pty itself carries 8N1)
# and 1 ms device turnaround. The same image goes in with fwupsend (our
# engine) and with stm32flash, once write-only and once with per-block
# read-back verify (stm32flash -v), RUNS times each. Wall time of each
# process, goodput against the protocol ceilings, and the time ratio.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build-bench}
kib=${2:-64}
runs=${3:-3}
if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target fwupsend fwupsim stm32uart -j"$(nproc)" >/dev/null
find_exe() {
    for p in "$build/$1" "$build/tests/$1"; do
        if [ -x "$p" ]; then echo "$p"; return; fi
    done
    echo "cannot find $1 under $build" >&2
    exit 1
}
fwupsend=$(find_exe fwupsend)
fwupsim=$(find_exe fwupsim)
plugin=$build/plugins/stm32uart.so
command -v stm32flash >/dev/null || { echo "stm32flash not installed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/fwup-stm32-bench-XXXXXX)
simpid=
cleanup() {
    [ -n "$simpid" ] && kill "$simpid" 2>/dev/null && wait "$simpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

bytes=$((kib * 1024))
head -c "$bytes" /dev/urandom >"$tmp/img.bin"
"$fwupsim" --dir "$tmp/sim" --count 1 --model stm32 --options pid=0x410 \
    --baud 115200 --bits 11 --turnaround-us 1000 2>"$tmp/sim.log" &
simpid=$!
i=0
while [ ! -e "$tmp/sim/ready" ]; do
    i=$((i + 1))
    [ $i -lt 500 ] || { echo "fwupsim did not start" >&2; exit 1; }
    sleep 0.01
done

now() { date +%s%N; }
completions=0
# run NAME CMD...: time one transfer, check the flash the device published.
run() {
    name=$1
    shift
    t0=$(now)
    "$@" >"$tmp/$name.out" 2>&1 || { echo "$name failed:" >&2; cat "$tmp/$name.out" >&2; exit 1; }
    t1=$(now)
    completions=$((completions + 1))
    i=0
    while [ "$(grep -c complete "$tmp/sim/events.log" 2>/dev/null || echo 0)" -lt $completions ]; do
        i=$((i + 1))
        [ $i -lt 500 ] || { echo "$name: device did not complete" >&2; exit 1; }
        sleep 0.01
    done
    cmp -n "$bytes" "$tmp/img.bin" "$tmp/sim/dev0.bin" >/dev/null ||
        { echo "$name: flash differs from the image" >&2; exit 1; }
    echo $(((t1 - t0) / 1000))
}

ours() {
    run fwupsend "$fwupsend" --plugin "$plugin" --tty "$tmp/sim/dev0" --address 0x08000000 \
        --quiet --option verify="$1" "$tmp/img.bin"
}
theirs() {
    if [ "$1" = block ]; then v=-v; else v=; fi
    run stm32flash stm32flash -b 115200 -m 8n1 -w "$tmp/img.bin" $v -g 0x08000000 "$tmp/sim/dev0"
}

echo "== AN3155 on fwupsim, PID 0x410, 115200 baud, 11 bits/byte, 1 ms turnaround, $bytes bytes =="
printf '%-7s %-4s %10s %10s %9s %10s %10s %8s\n' verify run "ours s" "B/s" "ceiling" \
    "stm32fl s" "B/s" "ratio"
for verify in none block; do
    if [ $verify = none ]; then ceiling=9000; else ceiling=4500; fi
    r=1
    while [ $r -le "$runs" ]; do
        a=$(ours $verify)
        b=$(theirs $verify)
        awk -v v=$verify -v r=$r -v a="$a" -v b="$b" -v n="$bytes" -v c=$ceiling 'BEGIN {
            printf "%-7s %-4d %10.3f %10.0f %9.3f %10.3f %10.0f %8.3f\n", v, r, a / 1e6,
                n / (a / 1e6), n / (a / 1e6) / c, b / 1e6, n / (b / 1e6), a / b }'
        r=$((r + 1))
    done
done
echo "(ceiling: fraction of 9.0 kB/s write-only, 4.5 kB/s with read-back verify;"
echo " ratio: our wall time / stm32flash's, target <= 1.0)"
