#!/usr/bin/env bash
# The limits fwupctl and the daemon share (lib/util/defaults.h), at their
# edges and end to end: a device id of 64 characters is configured, queued
# to and shown whole, one of 65 is refused; max_attempts 100 is taken by
# fwupctl, the socket API and the config, 101 refused by each.
. "$(dirname "$0")/lib.sh"

id64=$(printf 'd%.0s' {1..63})z
id65=${id64}x
[ ${#id64} = 64 ] && [ ${#id65} = 65 ] || fail "test ids: ${#id64}, ${#id65}"

start_sim 1
write_config 1 "max_attempts: 100"
sed -i "s/id: dev-0,/id: $id64,/" "$work/fwupgw.yaml"
grep -q "id: $id64," "$work/fwupgw.yaml" || fail "config without the long id"
start_daemon
cd "$work"
make_image a.bin 1000

# --- fwupctl: 101 is a usage error before anything is sent; 100 goes out.
rc=0
"${ctl[@]}" queue "$id64" a.bin --max-attempts 101 2>err || rc=$?
[ "$rc" = 2 ] || fail "--max-attempts 101 exited $rc: $(cat err)"
grep -q "bad --max-attempts '101'" err || fail "--max-attempts 101: $(cat err)"
j=$("${ctl[@]}" --json queue "$id64" a.bin --max-attempts 100 | jq -r .job.id)
[[ $j =~ ^[0-9]+$ ]] || fail "queue with --max-attempts 100: '$j'"
[ "$(job_field "$j" max_attempts)" = 100 ] || fail "max_attempts: $(job_field "$j" max_attempts)"
[ "$(job_field "$j" device)" = "$id64" ] || fail "device: $(job_field "$j" device)"
"${ctl[@]}" status "$j" >out
grep -qx "device:     $id64" out || fail "status does not show the whole id: $(cat out)"
wait_for job_state_is "$j" succeeded

# --- The socket API itself: 100 taken, 101 refused as a bad parameter.
data=$(base64 -w0 a.bin)
queue_req() { # MAX_ATTEMPTS
    printf '{"v":1,"id":1,"method":"jobs.queue","params":{"device":"%s","format":"bin",%s%s}}' \
        "$id64" '"image":{"data":"'"$data"'"},' '"max_attempts":'"$1"
}
r=$(rpc "$(queue_req 101)")
echo "$r" | jq -e '.error.code == -32602 and (.error.message | test("1..100"))' >/dev/null ||
    fail "jobs.queue max_attempts 101: $r"
r=$(rpc "$(queue_req 100)")
echo "$r" | jq -e '.result.job.max_attempts == 100' >/dev/null || fail "jobs.queue max_attempts 100: $r"

# --- A 65-character id is unknown to the daemon and refused by the config.
"${ctl[@]}" --json queue "$id65" a.bin 2>err && fail "a job for a 65-character id was queued"
jq -e '.error.code == "not_found"' err >/dev/null || fail "65-character id: $(cat err)"
sed "s/id: $id64,/id: $id65,/" fwupgw.yaml >long.yaml
rc=0
"$build/fwupgwd" --check-config -c long.yaml 2>err || rc=$?
[ "$rc" = 1 ] || fail "--check-config with a 65-character id exited $rc"
grep -q "'id' must be 1 to 64 characters" err || fail "65-character id: $(cat err)"
sed "s/max_attempts: 100/max_attempts: 101/" fwupgw.yaml >many.yaml
rc=0
"$build/fwupgwd" --check-config -c many.yaml 2>err || rc=$?
[ "$rc" = 1 ] || fail "--check-config with max_attempts 101 exited $rc"
grep -q "'max_attempts' must be an integer from 1 to 100" err || fail "max_attempts 101: $(cat err)"
"$build/fwupgwd" --check-config -c fwupgw.yaml >/dev/null 2>err ||
    fail "the config with a 64-character id and max_attempts 100: $(cat err)"
echo ok
