#!/usr/bin/env bash
# An invalid configuration stops the daemon at start with FILE:LINE:COL.
. "$(dirname "$0")/lib.sh"

write_config 2
"${fwupgwd[@]}" --check-config -c "$work/fwupgw.yaml" | grep -q OK || fail "valid config"

check_refused() { # PATTERN: expect the error to match
    local out
    # An accepted config would start a daemon that never exits: bound it.
    out=$(timeout $((30 * time_scale)) "${fwupgwd[@]}" -c "$work/bad.yaml" 2>&1) && fail "invalid config accepted"
    echo "$out" | grep -q "$1" || fail "expected '$1' in: $out"
}
sed 's/protocol: xmodem/protocol: nosuch/' "$work/fwupgw.yaml" >"$work/bad.yaml"
check_refused "bad.yaml:[0-9]*:[0-9]*: .*nosuch"
sed 's/tags: \[t0\],/tags: [t0], options: {mode: fast},/' "$work/fwupgw.yaml" >"$work/bad.yaml"
check_refused "bad.yaml:[0-9]*:[0-9]*: .*mode"
sed 's/link: uart1/link: uart9/' "$work/fwupgw.yaml" >"$work/bad.yaml"
check_refused "bad.yaml:[0-9]*:[0-9]*: .*uart9"
printf 'daemon:\n  max_concurrent_jobs: [1\n' >"$work/bad.yaml"
check_refused "bad.yaml:[0-9]*:[0-9]*:"

# Two links on one port, the second through a by-id style symlink: refused
# at start and by --check-config, naming both links and the first's line.
mkdir -p "$work/sim"
touch "$work/sim/dev0" "$work/sim/dev1"
ln -s dev0 "$work/sim/usb-FTDI-if00"
sed 's|sim/dev1,|sim/usb-FTDI-if00,|' "$work/fwupgw.yaml" >"$work/bad.yaml"
same="bad.yaml:7:[0-9]*: link 'uart1' uses the same port as link 'uart0' (line 6): "
same+="$work/sim/usb-FTDI-if00 and $work/sim/dev0 are both $(realpath "$work/sim/dev0")"
check_refused "$same"
out=$("${fwupgwd[@]}" --check-config -c "$work/bad.yaml" 2>&1) && fail "--check-config passed"
echo "$out" | grep -q "$same" || fail "--check-config: expected '$same' in: $out"
"${fwupgwd[@]}" --check-config -c "$work/fwupgw.yaml" | grep -q OK || fail "distinct ports refused"

# Typed links: can and usb links load (their modules come later); a device
# whose protocol cannot run on its link's kind is refused, naming both.
sed 's|^devices:|  - {name: bus0, type: can, interface: vcan0, bitrate: 500000}\n  - {name: dfu0, type: usb, port: 1-1.4}\ndevices:|' \
    "$work/fwupgw.yaml" >"$work/typed.yaml"
"${fwupgwd[@]}" --check-config -c "$work/typed.yaml" | grep -q "OK (4 link(s)" || fail "typed links refused"
sed 's|link: uart1,|link: bus0,|' "$work/typed.yaml" >"$work/bad.yaml"
check_refused "bad.yaml:[0-9]*:[0-9]*: device 'dev-1': protocol 'xmodem' cannot run on can link 'bus0' (it runs on: serial)"

# Plugins of another ABI are refused, each with a clear message, and the
# good ones keep working: ABI 3 only (ABI 1 and 2 could only be adapted
# to byte streams), a newer ABI, a descriptor shorter than ABI 3's, and a
# plugin built before typed links, found by its old symbol.
mkdir -p "$work/plugins"
cp "$build/plugins/"*.so "$build/tests/"abi_{v2,v3,v4,short,old}_plugin.so "$work/plugins/"
out=$(FWUPGW_PLUGIN_DIR=$work/plugins "${fwupgwd[@]}" -v --check-config -c "$work/fwupgw.yaml" 2>&1)
for v in 2 4; do
    echo "$out" | grep -q "abi_v${v}_plugin.so: ABI version $v, this daemon loads 3 to 3: rebuild the plugin" ||
        fail "ABI $v not refused: $out"
done
echo "$out" | grep -q "abi_short_plugin.so: protocol descriptor of [0-9]* bytes, ABI 3's has [0-9]*: rebuild the plugin" ||
    fail "short descriptor not refused: $out"
echo "$out" | grep -q "abi_old_plugin.so: built for plugin ABI 2 (symbol fwup_protocol_v1); this daemon loads ABI 3 to 3: rebuild the plugin against the ABI 3 headers" ||
    fail "old plugin not refused: $out"
echo "$out" | grep -q "abi_v3_plugin.so: protocol 'abi-v3' loaded" || fail "ABI 3 not loaded: $out"
if echo "$out" | grep -q "protocol 'abi-\(v2\|v4\|short\|old\)' loaded"; then fail "a refused plugin loaded: $out"; fi
echo "$out" | grep -q "OK (.*, 4 protocol(s))" || fail "the good plugins stopped working: $out"
echo "PASS"
