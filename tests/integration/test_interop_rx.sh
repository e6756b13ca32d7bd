#!/usr/bin/env bash
# The daemon's XMODEM path into lrzsz's receiver (a peer nobody here wrote):
# rx -c asks for CRC-16 (we answer with 1K blocks), plain rx for the
# checksum variant (128-byte blocks). The received file keeps the 0x1A
# padding, so its prefix must equal the image and the rest be padding.
. "$(dirname "$0")/lib.sh"

# rx talks over a socketpair that socat bridges to the pty the daemon opens:
# rx calls tcflush(TCIOFLUSH) as it exits, which on a pty of its own would
# discard its final ACK before anyone read it. rx runs restricted (its
# default) and refuses absolute paths and "../", so it writes a plain file
# name in its own working directory.
write_config 1
start_daemon
mkdir -p "$work/sim" "$work/rx"
for variant in "-c" ""; do
    for size in 1 1000 4096 70001; do
        rm -f "$work/rx/out.bin" "$work/sim/dev0"
        make_image "$work/img.bin" "$size"
        (cd "$work/rx" && exec socat -t 1 PTY,link="$work/sim/dev0",raw,echo=0 \
            EXEC:"rx $variant out.bin") 2>>"$work/rx.log" &
        peer=$!
        wait_for test -e "$work/sim/dev0"
        "${ctl[@]}" queue dev-0 "$work/img.bin" --format bin --wait >/dev/null ||
            fail "rx ${variant:-(checksum)} size $size: job failed"
        wait "$peer" || fail "rx exited with $?"
        cmp -s -n "$size" "$work/img.bin" "$work/rx/out.bin" || fail "rx $variant size $size: data"
        got=$(stat -c %s "$work/rx/out.bin")
        [ $((got - size)) -lt 1024 ] || fail "padding too long: $got for $size"
        [ "$(tail -c $((got - size)) "$work/rx/out.bin" | tr -d '\032' | wc -c)" = 0 ] ||
            fail "padding is not 0x1A"
        echo "rx ${variant:-(checksum)}: $size bytes ok ($got received)"
    done
done
stop_daemon
echo "PASS"
