#!/usr/bin/env bash
# fwupctl's contract with people and scripts, through a real daemon: global
# options anywhere, --json errors and events, messages without internal
# codes, image errors naming the file, a closed pipe, exit code 5 with the
# socket's group for users without access, Ctrl-C on --wait, TERM=dumb and
# NO_COLOR, and a cancelled job's own reason.
. "$(dirname "$0")/lib.sh"

# dev-0 is a slow simulated receiver; dev-1's port does not exist, so its
# jobs fail transiently and wait for a retry.
start_sim 1 --baud 9600 --bits 10 --turnaround-us 1000
write_config 2 "socket_group: daemon" "max_attempts: 3" "retry_backoff: {initial: 60s, max: 60s}"
start_daemon
fwupctl=$build/fwupctl
cd "$work"
mkdir images
make_image images/small.bin 1500
make_image images/big.bin 40000

# --- Global options after the command and its operands.
"$fwupctl" devices --json --socket "$sock" | jq -e '.devices | length == 2' >/dev/null ||
    fail "--json/--socket after the command"
"$fwupctl" status dev-0 --timeout 5 --socket "$sock" >/dev/null || fail "--timeout/--socket after"

# --- --json errors: one object on stderr, stable code, nothing on stdout.
expect_json_error() { # EXIT CODE CMD...: runs CMD, checks exit status and error object
    local want_rc=$1 want_code=$2 rc=0
    shift 2
    "$@" >out 2>err || rc=$?
    [ "$rc" = "$want_rc" ] || fail "$* exited $rc, not $want_rc: $(cat err)"
    [ ! -s out ] || fail "$* wrote to stdout: $(cat out)"
    [ "$(wc -l <err)" = 1 ] || fail "$*: not one error line: $(cat err)"
    jq -e --arg c "$want_code" '(.error | keys) == ["code", "message"] and .error.code == $c' \
        err >/dev/null || fail "$*: error object: $(cat err)"
}
expect_json_error 1 not_found "$fwupctl" --socket "$sock" status 999 --json
jq -e '.error.message | test("999")' err >/dev/null || fail "not_found message: $(cat err)"
expect_json_error 2 usage "$fwupctl" queue --json
expect_json_error 2 usage "$fwupctl" --json no-such-command
expect_json_error 3 unreachable "$fwupctl" devices --socket "$work/nothing.sock" --json
expect_json_error 1 bad_input "$fwupctl" --socket "$sock" queue dev-0 images/missing.bin --json

# --- People: no internal codes; image errors name the file and line.
"${ctl[@]}" status 999 2>err && fail "status of an unknown job succeeded"
grep -qx "fwupctl: no job 999" err || fail "human error: $(cat err)"
objcopy -I binary -O ihex images/small.bin images/a.hex
sed -i '3s/..$/00/' images/a.hex
"${ctl[@]}" queue dev-0 images/a.hex 2>err && fail "corrupt HEX queued"
grep -q "^fwupctl: images/a.hex:3: " err || fail "image error: $(cat err)"
grep -q "(error" err && fail "internal code in: $(cat err)"
"${ctl[@]}" --json queue dev-0 images/a.hex 2>err && fail "corrupt HEX queued"
jq -e '.error.code == "bad_image" and (.error.message | startswith("images/a.hex:3: "))' err \
    >/dev/null || fail "json image error: $(cat err)"

cat >m.yaml <<YAML
manifest: 1
targets:
  - {device: dev-0, image: images/a.hex, version: "1", sha256: $(sha256sum images/a.hex | cut -d' ' -f1)}
YAML
"${ctl[@]}" apply m.yaml 2>err && fail "manifest with a corrupt HEX applied"
grep -q "^fwupctl: m.yaml:3:28: device dev-0: \(\./\)\?images/a.hex:3: " err ||
    fail "manifest image error: $(cat err)"

# --- queue --wait and watch: one event shape under --json.
"${ctl[@]}" queue dev-0 images/small.bin --wait --json >events || fail "queue --wait --json"
jq -e -s 'length >= 2 and all(.[]; (keys == ["job", "rate", "type"]) and
          (.type == "state" or .type == "progress") and (.rate | type) == "number")' events \
    >/dev/null || fail "event shapes: $(cat events)"
j=$(head -1 events | jq -r .job.id)
[ "$(tail -1 events | jq -r .job.state)" = succeeded ] || fail "last event: $(tail -1 events)"
jq -e -s --argjson j "$j" 'all(.[]; .job.id == $j)' events >/dev/null || fail "foreign job events"
"${ctl[@]}" watch "$j" --exit-when-done --json >events || fail "watch --json"
jq -e -s --argjson j "$j" 'length == 1 and (.[0] | keys == ["job", "rate", "type"] and
          .type == "state" and .job.id == $j)' events >/dev/null || fail "watch event: $(cat events)"

# --- A closed pipe is silent, whether the parent ignored SIGPIPE or not.
for disposition in DEFAULT IGNORE; do
    rc=0
    perl -e 'pipe(my $r, my $w) or die; close $r; open(STDOUT, ">&", $w) or die;
             $SIG{PIPE} = shift; exec @ARGV or die' "$disposition" "${ctl[@]}" history \
        2>err || rc=$?
    [ ! -s err ] || fail "closed pipe ($disposition) not silent: $(cat err)"
    [ "$rc" = 141 ] || fail "closed pipe ($disposition): exit $rc, not 141 (SIGPIPE)"
done

# --- TERM=dumb and NO_COLOR: no escape sequences on a terminal.
on_tty() { # ENV...: watch of the finished job on a pty, its output in tty.out
    env "$@" script -qefc "$fwupctl --socket $sock watch $j --exit-when-done" /dev/null \
        >tty.out || fail "watch on a pty ($*) failed: $(cat tty.out)"
}
on_tty TERM=xterm
grep -q $'\033' tty.out || fail "no live view on a terminal (test broken?)"
on_tty TERM=dumb
grep -q $'\033' tty.out && fail "escape sequences under TERM=dumb"
grep -q "^job $j dev-0 succeeded" tty.out || fail "plain line under TERM=dumb: $(cat tty.out)"
on_tty TERM=xterm NO_COLOR=1
grep -q $'\033' tty.out && fail "escape sequences under NO_COLOR"

# --- Ctrl-C on queue --wait: the job keeps running and we say how to find it.
"${ctl[@]}" queue dev-0 images/big.bin --wait >/dev/null 2>err &
waiter=$!
j=
started() {
    j=$("${ctl[@]}" --json status dev-0 | jq -r '.jobs[0] | select(.state == "running") | .id')
    [ -n "$j" ] && [ "$(job_field "$j" bytes_done)" -gt 0 ]
}
wait_for started
kill -INT "$waiter"
rc=0
wait "$waiter" || rc=$?
[ "$rc" = 130 ] || fail "Ctrl-C on --wait: exit $rc, not 130: $(cat err)"
grep -q "job $j keeps running" err || fail "Ctrl-C notice: $(cat err)"
grep -q "'fwupctl watch $j'" err && grep -q "'fwupctl cancel $j'" err ||
    fail "Ctrl-C notice without the commands: $(cat err)"
job_state_is "$j" running || fail "job $j did not keep running after Ctrl-C"
"${ctl[@]}" cancel "$j" >/dev/null || fail "cancel after Ctrl-C"
wait_for job_state_is "$j" cancelled

# ... and on apply --wait, the batch's.
cat >big.yaml <<YAML
manifest: 1
targets:
  - {device: dev-0, image: images/big.bin, version: "1", sha256: $(sha256sum images/big.bin | cut -d' ' -f1)}
YAML
"${ctl[@]}" apply big.yaml --wait >/dev/null 2>err &
waiter=$!
wait_for started
kill -INT "$waiter"
rc=0
wait "$waiter" || rc=$?
b=$(job_field "$j" batch)
[ "$rc" = 130 ] && grep -q "job $j keeps running: 'fwupctl watch --batch $b' follows it" err ||
    fail "Ctrl-C on apply --wait: exit $rc: $(cat err)"
"${ctl[@]}" cancel "$j" >/dev/null || fail "cancel after Ctrl-C"
wait_for job_state_is "$j" cancelled

# --- A job cancelled while waiting for its retry has its own reason.
j=$("${ctl[@]}" --json queue dev-1 images/small.bin | jq -r .job.id)
waiting_retry() { job_state_is "$j" queued && [ "$(job_field "$j" attempt)" = 1 ]; }
wait_for waiting_retry
old=$(job_field "$j" last_error)
[ -n "$old" ] || fail "no error recorded for the failed attempt"
out=$("${ctl[@]}" cancel "$j") || fail "cancel of a job waiting for its retry"
[ "$out" = "job $j dev-1 cancelled: cancelled on request" ] || fail "cancel says: $out"
[ "$(job_field "$j" last_error)" = "cancelled on request" ] || fail "reason: $(job_field "$j" last_error)"

# --- Others may read but not change; the refusal names the socket's group.
chmod 755 "$work"
chmod 644 images/small.bin
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups "$fwupctl" --socket "$sock")
[ "$(stat -c %a "$sock")" = 666 ] || fail "default socket mode $(stat -c %a "$sock")"
"${nobody[@]}" devices >/dev/null || fail "others cannot read with the default config"
rc=0
"${nobody[@]}" queue dev-0 images/small.bin 2>err || rc=$?
[ "$rc" = 5 ] || fail "read-only user queueing: exit $rc, not 5: $(cat err)"
grep -q "group 'daemon'" err || fail "no group hint: $(cat err)"
rc=0
"${nobody[@]}" --json cancel 1 2>err || rc=$?
[ "$rc" = 5 ] && jq -e '.error.code == "permission_denied"' err >/dev/null ||
    fail "json permission error: exit $rc: $(cat err)"

# unprivileged: none keeps others off the socket itself.
sed -i 's|^daemon:|daemon:\n  unprivileged: none|' fwupgw.yaml
stop_daemon
start_daemon
[ "$(stat -c %a "$sock")" = 660 ] || fail "socket mode with unprivileged: none: $(stat -c %a "$sock")"
rc=0
"${nobody[@]}" devices 2>err || rc=$?
[ "$rc" = 5 ] || fail "no access: exit $rc, not 5: $(cat err)"
grep -q "group 'daemon'" err || fail "no group hint: $(cat err)"
grep -qi "unreachable\|is fwupgwd running" err && fail "denied reported as unreachable: $(cat err)"

stop_daemon
echo "PASS"
