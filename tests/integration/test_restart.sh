#!/usr/bin/env bash
# kill -9 mid-transfer: the restarted daemon requeues the job (counting the
# lost attempt), completes it, and neither loses nor duplicates it. SIGTERM
# mid-transfer: the job is interrupted cleanly and stays queued, uncounted.
. "$(dirname "$0")/lib.sh"

start_sim 1 --baud 38400 --bits 10 --turnaround-us 1000 --device-options '0:block_timeout=1000'
write_config 1 "max_attempts: 5" "retry_backoff: {initial: 200ms, max: 1s}"
start_daemon
make_image "$work/a.bin" 30000
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
transferring() { [ "$(job_field "$j" bytes_done)" -ge 4096 ]; }
wait_for transferring
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
db=$work/state/fwupgw.db
[ "$(sqlite3 "$db" "select state from jobs where id=$j")" = running ] ||
    fail "store does not show the job running after kill -9"
start_daemon
wait_for job_state_is "$j" succeeded
[ "$(job_field "$j" attempt)" -ge 2 ] || fail "the killed attempt was not counted"
received_ok 0 "$work/a.bin" || fail "content after restart"
[ "$(sqlite3 "$db" "select count(*) from jobs")" = 1 ] || fail "jobs lost or duplicated"
"${ctl[@]}" --json history --job "$j" | jq -e '[.events[].kind] | index("recovered")' \
    >/dev/null || fail "no recovered event"

# SIGTERM: clean interrupt, stays queued, attempt not counted.
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
wait_for transferring
stop_daemon
[ "$(sqlite3 "$db" "select state || ':' || attempt from jobs where id=$j")" = queued:0 ] ||
    fail "after SIGTERM: $(sqlite3 "$db" "select state, attempt from jobs where id=$j")"
wait_for grep -q "dev0 aborted" "$work/sim/events.log"
# Nothing starts while the daemon stops: the interrupted run was the only one.
[ "$(sqlite3 "$db" "select count(*) from job_events where job_id=$j and kind='started'")" = 1 ] ||
    fail "a run started during shutdown: $(sqlite3 "$db" "select kind from job_events where job_id=$j")"
start_daemon
wait_for job_state_is "$j" succeeded
[ "$(job_field "$j" attempt)" = 1 ] || fail "interrupted run was counted"

# Loop breaker: a job whose every run dies with the daemon is failed. The
# device here never answers, so each run is still connecting when killed.
stop_daemon
stop_sim
socat PTY,link="$work/sim/dev0",raw,echo=0 EXEC:"sleep 600" &
mute=$!
wait_for test -e "$work/sim/dev0"
sed -i 's/max_attempts: 5/max_attempts: 2/' "$work/fwupgw.yaml"
start_daemon
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
for n in 1 2; do
    started() { [ "$(job_field "$j" attempt)" = "$n" ] && job_state_is "$j" running; }
    wait_for started
    kill -9 "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
    start_daemon
done
job_state_is "$j" failed || fail "job not failed by the loop breaker: $(job_field "$j" state)"
job_field "$j" last_error | grep -q "loop breaker" || fail "loop breaker message"
kill "$mute"
stop_daemon
echo "PASS"
