#!/usr/bin/env bash
# Transient failures are retried with back-off: a port that is missing at
# first (adapter unplugged) succeeds once it appears; a device that goes
# silent mid-transfer fails after max_attempts with a clear error.
. "$(dirname "$0")/lib.sh"

write_config 1 "max_attempts: 6" "retry_backoff: {initial: 300ms, max: 1s}" "stall_timeout: 2s"
start_daemon
make_image "$work/a.bin" 5000
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
retried() { [ "$(job_field "$j" attempt)" -ge 2 ]; }
wait_for retried
job_state_is "$j" queued || job_state_is "$j" running || fail "job not waiting for a retry"
"${ctl[@]}" --json status "$j" | jq -r .job.last_error | grep -q "dev0" ||
    fail "last_error does not name the port"
start_sim 1
wait_for job_state_is "$j" succeeded
received_ok 0 "$work/a.bin" || fail "content after retry"
"${ctl[@]}" --json history --job "$j" | jq -e '[.events[].kind] | index("retry")' >/dev/null ||
    fail "no retry event in the history"
stop_daemon
stop_sim

# A device that stops answering after 3 blocks, every time.
rm -rf "$work/sim"
start_sim 1 --device-options '0:silent_after=3'
sed -i 's/max_attempts: 6/max_attempts: 2/' "$work/fwupgw.yaml"
start_daemon
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
wait_for job_state_is "$j" failed
err=$(job_field "$j" last_error)
echo "$err" | grep -q "2 attempts" || fail "error does not say it gave up: $err"
[ "$(job_field "$j" attempt)" = 2 ] || fail "attempts used: $(job_field "$j" attempt)"
"${ctl[@]}" version >/dev/null || fail "daemon died"
stop_daemon
stop_sim

# Per-phase timeouts: a device that never starts its receiver keeps the job
# in "connect"; the configured phase timeout ends the run.
socat PTY,link="$work/sim/dev0",raw,echo=0 EXEC:"sleep 600" &
mute=$!
wait_for test -e "$work/sim/dev0"
sed -i 's/^daemon:/daemon:\n  phase_timeouts: {connect: 1500ms}/' "$work/fwupgw.yaml"
sed -i 's/max_attempts: 2/max_attempts: 1/' "$work/fwupgw.yaml"
start_daemon
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
wait_for job_state_is "$j" failed
err=$(job_field "$j" last_error)
echo "$err" | grep -q "phase 'connect' timed out after 1500 ms" || fail "phase timeout: $err"
kill "$mute"
stop_daemon
echo "PASS"
