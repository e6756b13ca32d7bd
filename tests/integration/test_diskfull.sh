#!/usr/bin/env bash
# A full disk under the daemon (its state directory on a small real tmpfs):
# a job whose outcome the store refuses keeps it pending and retries until
# the store takes it, the daemon says it is degraded (replies, fwupctl
# status, sd_notify STATUS), and the device is never flashed twice, not even
# when the daemon is killed while the outcome is pending. Queuing on a full
# disk is refused as temporary with nothing half-stored. A kill -9 between
# the last byte and the end of the run fails the job as needing attention.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || fail "needs root to mount a tmpfs as the state directory"
state=$work/state
mkdir -m 0700 "$state"
mount -t tmpfs -o size=4m,mode=0700 fwupgw-test "$state"
notify_pid=
# The daemon must be gone before the unmount; then lib.sh's cleanup.
# Nothing in it may fail under set -e, or the cleanup never runs.
trap 'rc=$?; [ -n "$daemon_pid" ] && { kill -9 "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" || true; }
      daemon_pid=
      kill "$notify_pid" 2>/dev/null || true; wait "$notify_pid" || true
      umount "$state" 2>/dev/null || umount -l "$state"; (exit $rc); cleanup' EXIT

# sd_notify's datagrams, as systemd would get them.
export NOTIFY_SOCKET=$work/notify.sock
socat -u UNIX-RECV:"$NOTIFY_SOCKET" OPEN:"$work/notify.log",creat,append &
notify_pid=$!
wait_for test -S "$NOTIFY_SOCKET"

# fill: take every free page of the tmpfs (cat stops at ENOSPC).
fill() { cat /dev/zero >"$state/filler" 2>/dev/null || true; }
unfill() { rm -f "$state/filler" "$state/filler.keep"; }
degraded() { "${ctl[@]}" --json status | jq -e '.degraded | test("database or disk is full")'; }
not_degraded() { "${ctl[@]}" --json status | jq -e 'has("degraded") | not'; }
transfers() { grep -c "^dev0 complete" "$work/sim/events.log" || true; }
pending() { [ "$(job_field "$1" phase)" = "outcome pending commit" ] && job_state_is "$1" running; }
db=$state/fwupgw.db
# statuses: every STATUS sent so far, one a line (datagrams keep their order).
statuses() { sed 's/STATUS=/\nSTATUS=/g' "$work/notify.log" | grep '^STATUS='; }
last_status() { statuses | tail -1; }

start_sim 2 --baud 38400 --bits 10 --turnaround-us 1000
write_config 2 "retry_backoff: {initial: 200ms, max: 1s}"
start_daemon
make_image "$work/a.bin" 40000
make_image "$work/b.bin" 40000

# 0. With room to spare a job never makes the daemon degraded, not even for
# a moment: neither its log nor systemd hears of it, and the log has no
# error at all. The status sent once the job ended has come, so any sent
# while it ran has too.
make_image "$work/s.bin" 4000
"${ctl[@]}" queue dev-1 "$work/s.bin" --wait >/dev/null || fail "job on dev-1"
received_ok 1 "$work/s.bin" || fail "content of dev-1's job"
ended() { statuses | sed -n '/^STATUS=1 job/,$p' | tail -1 | grep -qx 'STATUS=0 job(s) running on 2 device(s)'; }
wait_for ended
! grep degraded "$work/fwupgwd.log" "$work/notify.log" || fail "degraded with room to spare"
! grep '^<[0-3]>' "$work/fwupgwd.log" || fail "errors logged with room to spare"

# 1. The disk fills mid-transfer: the transfer goes on, its outcome waits
# for space and is recorded once there is some.
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
transferring() { [ "$(job_field "$j" bytes_done)" -ge 4096 ]; }
wait_for transferring
fill
wait_for degraded
# Captured whole: with grep -q in a pipe, fwupctl's stdout written after the
# matching stderr line would meet a closed pipe (SIGPIPE, a failed pipeline).
out=$("${ctl[@]}" status 2>&1)
grep -q "the daemon is degraded: cannot write the state database: database or disk is full" <<<"$out" ||
    fail "fwupctl status does not say the daemon is degraded: $out"
wait_for grep -q "STATUS=.*degraded: cannot write the state database: database or disk is full" \
    "$work/notify.log"
wait_for pending "$j"
[ "$(transfers)" = 1 ] || fail "transfers: $(transfers)"
# The pending outcome holds its own device, and no other.
busy=$("${ctl[@]}" --json devices | jq -c '[.devices[] | [.id, .busy, .job]]')
[ "$busy" = '[["dev-0",true,'"$j"'],["dev-1",false,null]]' ] || fail "devices while pending: $busy"
unfill
wait_for job_state_is "$j" succeeded
wait_for not_degraded
[ "$(job_field "$j" attempt)" = 1 ] || fail "attempt $(job_field "$j" attempt)"
last_status | grep -q "^STATUS=0 job(s) running on 2 device(s)$" || fail "STATUS: $(last_status)"
received_ok 0 "$work/a.bin" || fail "content of job 1"

# 2. kill -9 while the outcome is pending: the restart records the success
# (from the outcome record) instead of flashing the device again.
j=$("${ctl[@]}" --json queue dev-0 "$work/b.bin" | jq -r .job.id)
wait_for transferring
fill
wait_for degraded
wait_for pending "$j"
[ "$(transfers)" = 2 ] || fail "transfers: $(transfers)"
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
[ "$(sqlite3 "$db" "select state from jobs where id=$j")" = running ] ||
    fail "the store had the outcome after all: $(sqlite3 "$db" "select state from jobs where id=$j")"
unfill
start_daemon
job_state_is "$j" succeeded || fail "after the restart: $(job_field "$j" state) $(job_field "$j" last_error)"
job_field "$j" last_error | grep -q "completed before a daemon restart" || fail "no note"
[ "$(job_field "$j" attempt)" = 1 ] || fail "attempt $(job_field "$j" attempt)"
"${ctl[@]}" --json status | jq -e '[.jobs[] | select(.state != "succeeded")] | length == 0' >/dev/null ||
    fail "a job is not final"
[ "$(transfers)" = 2 ] || fail "flashed again after the restart: $(transfers) transfers"
received_ok 0 "$work/b.bin" || fail "content of job 2"

# 3. Queuing on a full disk: a temporary error, nothing stored, still serving.
jobs_before=$(sqlite3 "$db" "select count(*) from jobs")
make_image "$work/c.bin" 16384
c_sha=$(sha256sum "$work/c.bin" | cut -d' ' -f1)
nothing_stored() {
    [ ! -e "$state/images/$c_sha" ] && [ -z "$(ls -A "$state/images" | grep '^\.tmp' || true)" ] &&
        [ "$(sqlite3 "$db" "select count(*) from jobs")" = "$jobs_before" ] &&
        [ "$(sqlite3 "$db" "select count(*) from images where sha256='$c_sha'")" = 0 ]
}
fill
rc=0
"${ctl[@]}" --json queue dev-0 "$work/c.bin" 2>"$work/err.json" || rc=$?
[ "$rc" = 1 ] || fail "queue on a full disk exited $rc"
jq -e '.error.code == "unavailable" and (.error.message | test("No space left on device"))
       and (.error.message | test("nothing was queued"))' "$work/err.json" >/dev/null ||
    fail "queue error: $(cat "$work/err.json")"
nothing_stored || fail "image half-stored after a failed write"
# Room for the image file but not for the store's commit: the file goes.
unfill
head -c 20480 /dev/zero >"$state/filler.keep"
fill
rm "$state/filler.keep"
rc=0
"${ctl[@]}" --json queue dev-0 "$work/c.bin" 2>"$work/err.json" || rc=$?
[ "$rc" = 1 ] || fail "queue with no room for the store exited $rc"
jq -e '.error.code == "unavailable" and (.error.message | test("database or disk is full"))' \
    "$work/err.json" >/dev/null || fail "queue error: $(cat "$work/err.json")"
nothing_stored || fail "image file left without its job"
degraded || fail "not degraded after the store refused a queue"
"${ctl[@]}" version >/dev/null || fail "daemon not serving"
unfill
j=$("${ctl[@]}" --json queue dev-0 "$work/c.bin" | jq -r .job.id)
wait_for job_state_is "$j" succeeded
received_ok 0 "$work/c.bin" || fail "content of job 3"
wait_for not_degraded
[ "$(transfers)" = 3 ] || fail "transfers: $(transfers)"

# 4. kill -9 after the device acknowledged the last byte but before the run
# ended (disk not full; the device holds back its ACK of EOT): the restart
# does not flash it again but fails the job as needing attention.
stop_daemon
stop_sim
start_sim 1 --baud 38400 --bits 10 --turnaround-us 1000 --complete-delay-us 5000000
start_daemon
done_before=$(transfers)
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
finishing() { [ "$(job_field "$j" phase)" = finish ] && [ "$(transfers)" = $((done_before + 1)) ]; }
wait_for finishing
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
start_daemon
job_state_is "$j" failed || fail "after the restart: $(job_field "$j" state)"
job_field "$j" last_error | grep -q "^needs attention: .* not flashed again" ||
    fail "reason: $(job_field "$j" last_error)"
[ "$(transfers)" = $((done_before + 1)) ] || fail "flashed again after the restart"
received_ok 0 "$work/a.bin" || fail "content of job 4"

stop_daemon
[ "$(sqlite3 "$db" "pragma integrity_check")" = ok ] || fail "integrity_check"
echo "PASS"
