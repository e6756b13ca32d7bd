#!/usr/bin/env bash
# Receivers that have been waiting before the job, as in the field: their
# repeated start bytes are queued on the tty when the daemon opens it. The
# first attempt must succeed for every one of them. fwupsim devices repeat
# theirs every second ('C' three times, then NAK); lrzsz rx every 14 s, so
# it waits until rx has sent two. Everything waits at once, in parallel.
. "$(dirname "$0")/lib.sh"

# dev0 falls back to checksum, dev1/dev2 stay with CRC (1K and 128-byte
# blocks), dev3 is a checksum-only receiver; dev4 is rx -c, dev5 plain rx.
start_sim 4 --baud 115200 --turnaround-us 1000 --options start_interval=1000 \
    --device-options 1:crc_only=1 --device-options 2:crc_only=1 --device-options 3:mode=checksum
idle_from=$SECONDS
cat >"$work/fwupgw.yaml" <<YAML
daemon: {socket: $sock, state_dir: $work/state, plugin_dir: $build/plugins, max_attempts: 3}
links:
$(for i in 0 1 2 3 4 5; do echo "  - {name: u$i, type: serial, path: $work/sim/dev$i, baud: 115200}"; done)
devices:
  - {id: fallback, link: u0, protocol: xmodem}
  - {id: crc-1k, link: u1, protocol: xmodem}
  - {id: crc-128, link: u2, protocol: xmodem, options: {block: "128"}}
  - {id: checksum, link: u3, protocol: xmodem}
  - {id: rx-crc, link: u4, protocol: xmodem}
  - {id: rx-checksum, link: u5, protocol: xmodem}
YAML
start_daemon

# rx runs restricted (it refuses absolute paths), so each writes a plain
# file name in a directory of its own. socat -x logs the traffic: a header
# line per chunk, '<' from rx, '>' to it.
rx_peers=()
for i in 4 5; do
    variant=$([ "$i" = 4 ] && echo "-c" || true)
    mkdir -p "$work/rx$i"
    (cd "$work/rx$i" && exec socat -x -t 1 PTY,link="$work/sim/dev$i",raw,echo=0 \
        EXEC:"rx $variant out.bin") 2>"$work/rx$i.log" &
    rx_peers+=($!)
done
# rx retries for minutes: on failure, do not wait for it.
trap 'rc=$?; set +e; [ ${#rx_peers[@]} = 0 ] || kill "${rx_peers[@]}" 2>/dev/null; (exit $rc); cleanup' EXIT
rx_starts() { grep -c '^< [0-9]' "$work/rx$1.log" || true; }
# bytes the daemon sent to rx I
rx_got() { grep -oE '^> .* length=[0-9]+' "$work/rx$1.log" | awk -F= '{ n += $2 } END { print n + 0 }'; }
# wire bytes of a clean XMODEM transfer of N bytes: BLOCK 128 or 1024 (1K
# while more than 896 bytes are left), TRAILER 1 (checksum) or 2 (CRC), EOT
clean_wire() {
    local left=$1 bytes=1 bs
    while [ "$left" -gt 0 ]; do
        bs=$([ "$2" = 1024 ] && [ "$left" -gt 896 ] && echo 1024 || echo 128)
        bytes=$((bytes + 3 + bs + $3))
        left=$((left - bs))
    done
    echo "$bytes"
}
waited_twice() { [ "$(rx_starts 4)" -ge 2 ] && [ "$(rx_starts 5)" -ge 2 ]; }
wait_for waited_twice
idle=$((SECONDS - idle_from))
[ "$idle" -ge 10 ] || fail "the devices waited only $idle s"

job_done() { [[ "$(job_field "$1" state)" =~ ^(succeeded|failed|cancelled)$ ]]; }
devs=(fallback crc-1k crc-128 checksum rx-crc rx-checksum)
jobs=()
for i in 0 1 2 3 4 5; do
    make_image "$work/img$i.bin" $((20000 + i * 1111))
    jobs+=("$("${ctl[@]}" --json queue "${devs[$i]}" "$work/img$i.bin" | jq -r .job.id)")
done
for i in 0 1 2 3 4 5; do
    wait_for job_done "${jobs[$i]}"
    state=$(job_field "${jobs[$i]}" state)
    attempt=$(job_field "${jobs[$i]}" attempt)
    [ "$state" = succeeded ] && [ "$attempt" = 1 ] ||
        fail "${devs[$i]} after $idle s idle: $state in attempt $attempt ($(job_field "${jobs[$i]}" last_error))"
    echo "${devs[$i]}: first attempt ok after $idle s idle"
done
for i in 0 1 2 3; do
    received_ok "$i" "$work/img$i.bin" || fail "${devs[$i]}: content"
done
for i in 4 5; do
    wait "${rx_peers[$((i - 4))]}" || fail "rx for ${devs[$i]} exited with $?"
    size=$(stat -c %s "$work/img$i.bin")
    cmp -s -n "$size" "$work/img$i.bin" "$work/rx$i/out.bin" || fail "${devs[$i]}: content"
    # one copy of every block (an EOT may go twice: rx answers it after 1 s)
    want=$([ "$i" = 4 ] && clean_wire "$size" 1024 2 || clean_wire "$size" 128 1)
    got=$(rx_got "$i")
    [ "$got" = "$want" ] || [ "$got" = $((want + 1)) ] ||
        fail "${devs[$i]}: $got bytes sent, a clean transfer is $want"
done
# The backlog was there and was dropped: every fwupsim device had queued at
# least 9 start bytes before its latest one, each rx at least one.
for i in 0 1 2 3 4 5; do
    min=$([ "$i" -lt 4 ] && echo 9 || echo 1)
    n=$(grep -oE ">${devs[$i]}: xmodem: receiver ready, [^(]*\(([0-9]+) earlier" "$work/fwupgwd.log" |
        grep -oE '[0-9]+ earlier' | cut -d' ' -f1)
    [ -n "$n" ] && [ "$n" -ge "$min" ] || fail "${devs[$i]}: stale start bytes dropped: '${n}'"
done
grep -q ">fallback: xmodem: receiver ready, checksum mode" "$work/fwupgwd.log" ||
    fail "fallback: not in checksum mode"
grep -q ">crc-1k: xmodem: receiver ready, CRC-16 mode" "$work/fwupgwd.log" ||
    fail "crc-1k: not in CRC mode"
stop_daemon
echo "PASS"
