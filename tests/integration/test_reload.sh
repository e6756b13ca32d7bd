#!/usr/bin/env bash
# SIGHUP reloads the configuration; an invalid new one is refused and the
# daemon keeps running with the old one.
. "$(dirname "$0")/lib.sh"

start_sim 2
write_config 1
start_daemon
[ "$("${ctl[@]}" --json devices | jq '.devices | length')" = 1 ] || fail "one device at start"

write_config 2
kill -HUP "$daemon_pid"
has_two() { [ "$("${ctl[@]}" --json devices | jq '.devices | length')" = 2 ]; }
wait_for has_two
make_image "$work/a.bin" 4000
"${ctl[@]}" queue dev-1 "$work/a.bin" --wait || fail "job on the device added by reload"
received_ok 1 "$work/a.bin" || fail "content on the reloaded device"

echo "devices: [ {id: broken" >>"$work/fwupgw.yaml"
kill -HUP "$daemon_pid"
wait_for grep -q "reload refused" "$work/fwupgwd.log"
grep "reload refused" "$work/fwupgwd.log" | grep -q "fwupgw.yaml:[0-9]*:[0-9]*" ||
    fail "reload error without position"
has_two || fail "the running configuration was not kept"
"${ctl[@]}" queue dev-0 "$work/a.bin" --wait || fail "daemon unusable after a refused reload"

# A new config naming one port twice (a link's pty by its own name and by
# the simulator's symlink) is refused with both link names.
write_config 2
sed -i "s|$work/sim/dev1,|$(readlink -f "$work/sim/dev0"),|" "$work/fwupgw.yaml"
kill -HUP "$daemon_pid"
wait_for grep -q "link 'uart1' uses the same port as link 'uart0' (line 6)" "$work/fwupgwd.log"
has_two || fail "the running configuration was not kept after a same-port reload"
"${ctl[@]}" queue dev-1 "$work/a.bin" --wait || fail "dev-1 after a refused same-port reload"
stop_daemon
echo "PASS"
