#!/usr/bin/env bash
# Jobs for one device run in the order they were queued: a later job waits
# behind an earlier one in retry back-off (also across a kill -9 of the
# daemon), and `queue --replace` cancels the earlier one instead (queued or
# running), so the device always ends on the image queued last.
. "$(dirname "$0")/lib.sh"

# A back-off long enough that a later job, if it were allowed to overtake,
# would finish well before the earlier job's retry.
# The checks made during it must also fit in: a sanitizer build on a busy
# machine takes seconds for the simulator's restart and a few fwupctl calls,
# and so does a daemon under valgrind (FWUP_TIME_SCALE).
backoff=$((4 * time_scale))
if nm -D "$build/fwupgwd" 2>/dev/null | grep -c __asan_init >/dev/null; then
    backoff=12
fi
write_config 1 "max_attempts: 3" "retry_backoff: {initial: ${backoff}s, max: ${backoff}s}" "stall_timeout: 1s"
make_image "$work/v1.bin" 5000
make_image "$work/v2.bin" 6000

queue() { "${ctl[@]}" --json queue "$@" | jq -r .job.id; }
# Receivers that ask for a transfer well within the stall timeout.
fast_start=start_interval=300

# v1's first attempt fails (the device goes silent after two blocks); v1 then
# sits in back-off on a healthy device.
v1_in_backoff() {
    [ -z "$sim_pid" ] || stop_sim
    rm -rf "$work/sim"
    start_sim 1 --options "$fast_start" --device-options '0:silent_after=2'
    v1=$(queue dev-0 "$work/v1.bin")
    in_backoff() { job_state_is "$v1" queued && [ "$(job_field "$v1" attempt)" = 1 ]; }
    wait_for in_backoff
    stop_sim
    rm -rf "$work/sim"
    start_sim 1 --options "$fast_start"
}

latest_job() { "${ctl[@]}" --json status dev-0 --limit 1 | jq -r '.jobs[0].id'; }

# Ids of the jobs whose runs started on dev-0, oldest first.
started_jobs() {
    "${ctl[@]}" --json history dev-0 --limit 1000 |
        jq -r '[.events[] | select(.kind == "started")] | sort_by(.id) | map(.job) | join(" ")'
}

# event_id JOB KIND min|max: the first or last event of KIND for JOB.
event_id() {
    "${ctl[@]}" --json history --job "$1" | jq -r "[.events[] | select(.kind == \"$2\") | .id] | $3"
}

# v2 waits for v1 in back-off and says so; v1 runs first, then v2.
start_daemon
v1_in_backoff
v2=$(queue dev-0 "$work/v2.bin")
[ "$(job_field "$v2" waiting_for)" = "$v1" ] || fail "v2 waiting_for: $(job_field "$v2" waiting_for)"
[ "$(job_field "$v1" waiting_for)" = null ] || fail "v1 waiting_for: $(job_field "$v1" waiting_for)"
"${ctl[@]}" status "$v2" | grep -q "queued (waiting for job $v1 on the same device)" ||
    fail "status does not say why v2 waits: $("${ctl[@]}" status "$v2")"
"${ctl[@]}" status dev-0 | grep -q "waiting for job $v1" || fail "status table: no reason"
wait_for job_state_is "$v2" succeeded
job_state_is "$v1" succeeded || fail "v1 ended $(job_field "$v1" state)"
[ "$(started_jobs)" = "$v1 $v1 $v2" ] || fail "run order: $(started_jobs), want $v1 $v1 $v2"
[ "$(event_id "$v1" succeeded max)" -lt "$(event_id "$v2" started min)" ] ||
    fail "v2 started before v1 finished"
received_ok 0 "$work/v2.bin" || fail "device did not end on v2"
[ "$(job_field "$v2" waiting_for)" = null ] || fail "finished job still waiting"

# The order is the store's: v1 in back-off, v2 queued, kill -9, restart.
v1_in_backoff
v2=$(queue dev-0 "$work/v2.bin")
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
start_daemon
[ "$(job_field "$v2" waiting_for)" = "$v1" ] || fail "after restart, v2 does not wait for v1"
wait_for job_state_is "$v2" succeeded
job_state_is "$v1" succeeded || fail "after restart, v1 ended $(job_field "$v1" state)"
[ "$(event_id "$v1" succeeded max)" -lt "$(event_id "$v2" started min)" ] ||
    fail "after restart, v2 started before v1 finished"
received_ok 0 "$work/v2.bin" || fail "after restart, device did not end on v2"

# --replace of a job in back-off: cancelled at once, never flashed again.
v1_in_backoff
subscribe "$work/events.jsonl"
out=$("${ctl[@]}" queue dev-0 "$work/v2.bin" --replace 2>&1) || fail "queue --replace: $out"
v2=$(latest_job)
[ "$v2" -gt "$v1" ] || fail "no new job after --replace"
echo "$out" | grep -q "job $v1 cancelled: replaced by job $v2" || fail "replace message: $out"
job_state_is "$v1" cancelled || fail "replaced job is $(job_field "$v1" state)"
[ "$(job_field "$v1" last_error)" = "replaced by job $v2" ] ||
    fail "replaced job's reason: $(job_field "$v1" last_error)"
[ "$(job_field "$v2" waiting_for)" = null ] || fail "v2 waits for a cancelled job"
wait_for job_state_is "$v2" succeeded
[ "$(job_field "$v1" attempt)" = 1 ] || fail "replaced job ran again"
[ "$(event_id "$v1" started max)" -lt "$(event_id "$v1" cancelled min)" ] ||
    fail "replaced job started after its cancel"
received_ok 0 "$work/v2.bin" || fail "after --replace, device did not end on v2"
[ "$(grep -c complete "$work/sim/events.log")" = 1 ] || fail "device flashed more than v2"
unsubscribe
# replaced_events JOB: the job's state events as "state,cancel_requested,last_error".
replaced_events() {
    jq -r --argjson j "$1" 'select(.method == "event" and .params.job.id == $j) | .params.job |
        "\(.state),\(.cancel_requested),\(.last_error)"' "$work/events.jsonl"
}
# Subscribers heard of the cancel when it happened, once.
[ "$(replaced_events "$v1" | grep -c "^cancelled,")" = 1 ] &&
    replaced_events "$v1" | grep -qx "cancelled,false,replaced by job $v2" ||
    fail "events of replaced job $v1: $(replaced_events "$v1")"
# The replaced job's end is a state event, with no transfer rate to show.
[ "$(jq -r --argjson j "$v1" 'select(.method == "event" and .params.job.id == $j and
    .params.job.state == "cancelled") | .params.rate' "$work/events.jsonl")" = 0 ] ||
    fail "rate in the replaced job's cancelled event"
# A replace with nothing to replace queues normally and says nothing more.
out=$("${ctl[@]}" queue dev-0 "$work/v2.bin" --replace 2>&1) || fail "queue --replace: $out"
echo "$out" | grep -q replaced && fail "replace of nothing: $out"
wait_for job_state_is "$(latest_job)" succeeded
res=$("${ctl[@]}" --json queue dev-0 "$work/v2.bin" --replace)
[ "$(echo "$res" | jq -c .replaced)" = "[]" ] || fail "replace of nothing: $res"
wait_for job_state_is "$(echo "$res" | jq -r .job.id)" succeeded
# A manifest applied with --replace says which jobs it replaced, as queue does.
v1_in_backoff
printf 'manifest: 1\nname: r\ntargets:\n  - {device: dev-0, image: v2.bin, sha256: %s, version: '2'}\n' \
    "$(sha256sum "$work/v2.bin" | cut -d' ' -f1)" >"$work/r.yaml"
res=$("${ctl[@]}" --json apply "$work/r.yaml" --replace)
[ "$(echo "$res" | jq -c '[.batch.replaced[] | {id, state}]')" = "[{\"id\":$v1,\"state\":\"cancelled\"}]" ] ||
    fail "apply --replace: $res"
job_state_is "$v1" cancelled || fail "job $v1 not replaced by the manifest: $(job_field "$v1" state)"
wait_for job_state_is "$(echo "$res" | jq -r '.batch.jobs[0]')" succeeded
received_ok 0 "$work/v2.bin" || fail "after apply --replace, device did not end on v2"
stop_daemon
stop_sim

# --replace of a running job: it is stopped cleanly (XMODEM CAN), v2 starts
# only once it has stopped, and the device ends on v2.
rm -rf "$work/sim"
start_sim 1 --baud 38400 --bits 10 --turnaround-us 1000 --options "$fast_start"
start_daemon
make_image "$work/big.bin" 40000
v1=$(queue dev-0 "$work/big.bin")
transferring() { [ "$(job_field "$v1" bytes_done)" -ge 4096 ]; }
wait_for transferring
subscribe "$work/events.jsonl"
res=$("${ctl[@]}" --json queue dev-0 "$work/v2.bin" --replace)
v2=$(echo "$res" | jq -r .job.id)
[ "$(echo "$res" | jq -c '[.replaced[] | {id, state, cancel_requested}]')" = \
    "[{\"id\":$v1,\"state\":\"running\",\"cancel_requested\":true}]" ] ||
    fail "replaced (running): $res"
wait_for job_state_is "$v2" succeeded
job_state_is "$v1" cancelled || fail "running replaced job ended $(job_field "$v1" state)"
[ "$(job_field "$v1" last_error)" = "replaced by job $v2" ] ||
    fail "running replaced job's reason: $(job_field "$v1" last_error)"
grep -q "dev0 aborted" "$work/sim/events.log" || fail "device did not see the abort"
[ "$(event_id "$v1" cancelled max)" -lt "$(event_id "$v2" started min)" ] ||
    fail "v2 started before the replaced job stopped"
received_ok 0 "$work/v2.bin" || fail "after replacing a running job, device did not end on v2"
unsubscribe
# Subscribers heard of the cancel request at once, then of the end.
[ "$(replaced_events "$v1" | grep -v "^running,false," | paste -sd'|')" = \
    "running,true,replaced by job $v2|cancelled,true,replaced by job $v2" ] ||
    fail "events of replaced running job $v1: $(replaced_events "$v1")"
stop_daemon
echo "PASS"
