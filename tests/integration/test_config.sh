#!/usr/bin/env bash
# An invalid configuration stops the daemon at start with FILE:LINE:COL.
. "$(dirname "$0")/lib.sh"

write_config 2
"$build/fwupgwd" --check-config -c "$work/fwupgw.yaml" | grep -q OK || fail "valid config"

check_refused() { # PATTERN: expect the error to match
    local out
    out=$("$build/fwupgwd" -c "$work/bad.yaml" 2>&1) && fail "invalid config accepted"
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

# A plugin built for another ABI version is refused with a clear message.
mkdir -p "$work/plugins"
cp "$build/plugins/"*.so "$build/tests/abi_v0_plugin.so" "$work/plugins/"
out=$(FWUPGW_PLUGIN_DIR=$work/plugins "$build/fwupgwd" --check-config -c "$work/fwupgw.yaml" 2>&1)
echo "$out" | grep -q "abi_v0_plugin.so: ABI version 0" || fail "ABI mismatch not reported: $out"
echo "$out" | grep -q OK || fail "the good plugins stopped working: $out"
echo "PASS"
