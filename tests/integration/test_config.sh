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

# A plugin built for an ABI this daemon cannot host is refused with a clear
# message; one built for an older ABI it still hosts is loaded.
mkdir -p "$work/plugins"
cp "$build/plugins/"*.so "$build/tests/"abi_v[013]_plugin.so "$work/plugins/"
out=$(FWUPGW_PLUGIN_DIR=$work/plugins "${fwupgwd[@]}" -v --check-config -c "$work/fwupgw.yaml" 2>&1)
for v in 0 3; do
    echo "$out" | grep -q "abi_v${v}_plugin.so: ABI version $v, this daemon loads 1 to 2" ||
        fail "ABI $v not refused: $out"
done
echo "$out" | grep -q "abi_v1_plugin.so: protocol 'abi-v1' loaded" || fail "ABI 1 not loaded: $out"
echo "$out" | grep -q "OK (.*, 4 protocol(s))" || fail "the good plugins stopped working: $out"
echo "PASS"
