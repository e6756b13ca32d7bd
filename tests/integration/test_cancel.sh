#!/usr/bin/env bash
# Cancel: a queued job is cancelled at once; a running XMODEM transfer is
# aborted with CAN CAN, the device sees the abort and takes a new job.
. "$(dirname "$0")/lib.sh"

start_sim 1 --baud 9600 --bits 10 --turnaround-us 1000
write_config 1
start_daemon

make_image "$work/big.bin" 40000
make_image "$work/small.bin" 2000
j1=$("${ctl[@]}" --json queue dev-0 "$work/big.bin" | jq -r .job.id)
j2=$("${ctl[@]}" --json queue dev-0 "$work/small.bin" | jq -r .job.id)
"${ctl[@]}" cancel "$j2" >/dev/null || fail "cancel of a queued job"
job_state_is "$j2" cancelled || fail "queued job $j2 not cancelled at once"

transferring() { [ "$(job_field "$j1" bytes_done)" -gt 1024 ]; }
wait_for transferring
"${ctl[@]}" cancel "$j1" >/dev/null || fail "cancel of a running job"
wait_for job_state_is "$j1" cancelled
wait_for grep -q "dev0 aborted" "$work/sim/events.log"
"${ctl[@]}" cancel "$j1" 2>/dev/null && fail "cancelling a finished job succeeded"

j3=$("${ctl[@]}" --json queue dev-0 "$work/small.bin" | jq -r .job.id)
"${ctl[@]}" watch "$j3" --exit-when-done >/dev/null || fail "job after cancel failed"
received_ok 0 "$work/small.bin" || fail "device content after cancel"
stop_daemon
echo "PASS"
