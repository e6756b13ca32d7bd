#!/usr/bin/env bash
# Engines learn the link they run on. A PIC32CX-BZ on a 19200-baud line with
# no baud option of its own times its commands from the link (at the
# 115200 default a 4 KiB cluster's 2.1 s on the wire outlasts every answer
# timeout). An STM32 ROM loader's implied 8E1, which a pseudo-terminal
# refuses (EINVAL) or drops (depending on the kernel), is reported with where the parity came from and how to override
# it, and fails the job at once (a retry cannot help: only a config change
# does), while the same device on a link that says parity: none is updated.
. "$(dirname "$0")/lib.sh"

start_sim 3 --baud 19200 --bits 10 --turnaround-us 1000 --device-model 0:pic32 \
    --device-options 0:trigger=gpio --device-model 1:stm32 --device-model 2:stm32
cat >"$work/fwupgw.yaml" <<YAML
daemon: {socket: $sock, state_dir: $work/state, plugin_dir: $build/plugins, max_attempts: 3,
         retry_backoff: {initial: 100ms, max: 100ms}}
links:
  - {name: slow, type: serial, path: $work/sim/dev0, baud: 19200}
  - {name: u1, type: serial, path: $work/sim/dev1, baud: 19200}
  - {name: u2, type: serial, path: $work/sim/dev2, baud: 19200, parity: none}
devices:
  - {id: pic, link: slow, protocol: pic32cx-bz, flash: {base: 0x01080000, size: 512K},
     options: {trigger: gpio}}
  - {id: stm-implied, link: u1, protocol: stm32-uart, flash: {base: 0x08000000, size: 128K}}
  - {id: stm-none, link: u2, protocol: stm32-uart, flash: {base: 0x08000000, size: 128K}}
YAML
start_daemon

make_image "$work/pic.bin" 9000
make_image "$work/stm.bin" 3000
jp=$("${ctl[@]}" --json queue pic "$work/pic.bin" | jq -r .job.id)
ji=$("${ctl[@]}" --json queue stm-implied "$work/stm.bin" --address 0x08000000 | jq -r .job.id)
jn=$("${ctl[@]}" --json queue stm-none "$work/stm.bin" --address 0x08000000 | jq -r .job.id)
wait_for job_state_is "$ji" failed
wait_for job_state_is "$jn" succeeded
wait_for job_state_is "$jp" succeeded
received_ok 0 "$work/pic.bin" || fail "pic32 slot content"

err=$(job_field "$ji" last_error)
for want in "u1: cannot set 8E1 on $work/sim/dev1" "parity even, implied by protocol stm32-uart" \
    "set parity: none on the link to override"; do
    echo "$err" | grep -qF "$want" || fail "framing error lacks '$want': $err"
done

[ "$(job_field "$ji" attempt)" = 1 ] ||
    fail "a framing the port refuses was retried (attempt $(job_field "$ji" attempt))"

received_ok 2 "$work/stm.bin" || fail "stm32 flash content"
stop_daemon
echo "PASS"
