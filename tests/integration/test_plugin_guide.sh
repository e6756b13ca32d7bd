#!/usr/bin/env bash
# The plugin guide's example (docs/example-plugin/lineack.c) builds out of
# tree against the headers `cmake --install` puts in a DESTDIR (and nothing
# else from the source tree), loads in the daemon, and flashes its device:
# a good image lands byte for byte, a wrong sum is refused and retried.
. "$(dirname "$0")/lib.sh"
src=$(cd "$(dirname "$0")/../.." && pwd)

DESTDIR=$work/destdir cmake --install "$build" --prefix /usr >"$work/install.log" 2>&1 ||
    fail "cmake --install: $(cat "$work/install.log")"
inc=$work/destdir/usr/include
[ -f "$inc/fwupgw/protocol.h" ] && [ -f "$inc/fwupgw/link.h" ] || fail "headers not installed under $inc"
mkdir -p "$work/plugins"
# -nostdinc would drop libc too; instead the source tree's include/ must not
# be needed: compile from a copy of the example, outside the tree.
cp "$src/docs/example-plugin/lineack.c" "$work/"
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -I"$inc" \
    "$work/lineack.c" -o "$work/plugins/lineack.so" 2>"$work/cc.log" || fail "plugin build: $(cat "$work/cc.log")"
[ "$(nm -D --defined-only "$work/plugins/lineack.so" | awk '{print $3}' | grep -c .)" = 1 ] ||
    fail "the plugin exports more than its descriptor: $(nm -D --defined-only "$work/plugins/lineack.so")"

mkdir -p "$work/sim"
python3 "$src/docs/example-plugin/lineack-device.py" "$work/sim/toy" "$work/received.bin" \
    >"$work/fwupsim.log" 2>&1 &
sim_pid=$!
wait_for test -L "$work/sim/toy"
cat >"$work/fwupgw.yaml" <<YAML
daemon:
  socket: $sock
  state_dir: $work/state
  plugin_dir: $work/plugins
  retry_backoff: {initial: 100ms, max: 100ms}
links:
  - {name: bench, type: serial, path: $work/sim/toy, baud: 115200}
devices:
  - {id: toy-1, link: bench, protocol: lineack, options: {timeout_ms: 500}}
YAML
out=$("${fwupgwd[@]}" -v --check-config -c "$work/fwupgw.yaml" 2>&1) || fail "check-config: $out"
echo "$out" | grep -qF "plugin $work/plugins/lineack.so: protocol" || fail "lineack not loaded: $out"
start_daemon

make_image "$work/img.bin" 3000
"${ctl[@]}" queue toy-1 "$work/img.bin" --wait >"$work/q.out" 2>&1 || fail "job failed: $(cat "$work/q.out")"
cmp -s "$work/img.bin" "$work/received.bin" || fail "device holds something else than the image"

# A device that answers with a wrong sum: every attempt fails, none is
# called a success, the reason names both sums.
stop_daemon
kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true
rm -f "$work/sim/toy"
rm -f "$work/received.bin"
python3 "$src/docs/example-plugin/lineack-device.py" "$work/sim/toy" "$work/received.bin" --bad-sum \
    >"$work/fwupsim.log" 2>&1 &
sim_pid=$!
wait_for test -L "$work/sim/toy"
start_daemon
j=$("${ctl[@]}" --json queue toy-1 "$work/img.bin" --max-attempts 2 | jq -r .job.id)
wait_for job_state_is "$j" failed
[ "$(job_field "$j" attempt)" = 2 ] || fail "job $j ran $(job_field "$j" attempt) attempts, not 2"
job_field "$j" last_error | grep -q "device sum [0-9a-f]\{8\}, image [0-9a-f]\{8\}" ||
    fail "reason: $(job_field "$j" last_error)"
cmp -s "$work/img.bin" "$work/received.bin" || fail "the device did not get the image"
stop_daemon
echo "plugin guide example: built out of tree, flashed, wrong sum refused"
