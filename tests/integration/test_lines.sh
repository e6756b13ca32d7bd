#!/usr/bin/env bash
# Entry/exit sequences go through the real driver (TIOCMBIS on the port,
# libgpiod for GPIO). A pseudo-terminal has no modem lines and this machine
# no GPIO chips, so here the real path must fail cleanly: the job fails with
# an error naming the sequence and the line, and the daemon keeps working.
# The sequencing itself is tested with a recording driver in test_ctrlseq.
. "$(dirname "$0")/lib.sh"

start_sim 2
write_config 2 "max_attempts: 1"
sed -i 's|^\(  - {id: dev-1, .*tags: \[t1\],\)|\1 entry: [rts=1, delay 10ms], exit: [rts=0],|' \
    "$work/fwupgw.yaml"
grep -q "entry: \[rts=1" "$work/fwupgw.yaml" || fail "config edit"
cat >>"$work/fwupgw.yaml" <<'YAML'
  - id: dev-gpio
    link: uart0
    protocol: xmodem
    control_lines: {nrst: {gpio: gpiochip7, line: 3, active_low: true}}
    entry: [nrst=1, delay 10ms, nrst=0]
YAML
start_daemon
make_image "$work/a.bin" 3000

j=$("${ctl[@]}" --json queue dev-1 "$work/a.bin" | jq -r .job.id)
wait_for job_state_is "$j" failed
err=$(job_field "$j" last_error)
echo "$err" | grep -q "entry sequence: line 'rts'" || fail "unclear error: $err"
grep -q "exit sequence: line 'rts'" "$work/fwupgwd.log" || fail "exit sequence did not run"

j=$("${ctl[@]}" --json queue dev-gpio "$work/a.bin" | jq -r .job.id)
wait_for job_state_is "$j" failed
err=$(job_field "$j" last_error)
echo "$err" | grep -q "entry sequence: line 'nrst': GPIO chip gpiochip7" || fail "unclear error: $err"

"${ctl[@]}" queue dev-0 "$work/a.bin" --wait >/dev/null || fail "daemon unusable afterwards"
received_ok 0 "$work/a.bin" || fail "dev0 content"
stop_daemon
echo "PASS"
