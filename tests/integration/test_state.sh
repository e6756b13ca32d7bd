#!/usr/bin/env bash
# The state directory under faults and other users: a daemon out of file
# descriptors retries a job instead of failing it for good, and says why; a
# state directory others can write is refused; a symlink planted at the
# temporary image name is not followed; temporary files a crash left are
# removed at start; a damaged stored image is replaced when queued again.
. "$(dirname "$0")/lib.sh"

images=$work/state/images
# The daemon's descriptors; under valgrind (FWUP_VALGRIND) not valgrind's own,
# which it keeps at the top of the soft limit the daemon started with.
fds() { find "/proc/$daemon_pid/fd" -mindepth 1 -maxdepth 1 -printf '%f\n' |
    awk -v top=$(($(ulimit -Sn) - 12)) '$1 < top' | wc -l; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
history_has() { "${ctl[@]}" --json history --job "$1" | jq -e --arg m "$2" \
    '[.events[] | select(.kind == "retry" and (.message | contains($m)))] | length > 0'; }
# flip_byte FILE OFFSET: same size, one bit different.
flip_byte() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
no_temps() { ! find "$images" -name '.tmp.*' -type f | grep -q .; }

write_config 2 "max_attempts: 100" "retry_backoff: {initial: 200ms, max: 300ms}"
make_image "$work/a.bin" 20000
make_image "$work/b.bin" 30000

# --- Out of descriptors at job start: transient, the real error, then done.
# The port is missing at first, so the job waits in back-off while clients
# that never send anything take every descriptor the daemon may open.
start_daemon
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
limit=$(($(fds) + 8))
prlimit --pid "$daemon_pid" --nofile="$limit:"
holders=()
for _ in $(seq 12); do
    socat -u UNIX-CONNECT:"$sock" /dev/null &
    holders+=($!)
done
full() { [ "$(fds)" -ge "$limit" ]; }
wait_for full
# Clients cannot get in now: the log tells how the next attempt ended.
wait_for grep -qE "job $j .*(Too many open files|missing from)" "$work/fwupgwd.log"
kill "${holders[@]}"
wait "${holders[@]}" 2>/dev/null || true
history_has "$j" "Too many open files" || fail "no transient attempt with the real error"
[ "$(job_field "$j" state)" != failed ] || fail "failed for good: $(job_field "$j" last_error)"
"${ctl[@]}" --json history --job "$j" | jq -r '.events[].message' | grep -q "missing" &&
    fail "a descriptor shortage reported as a missing image"
"${ctl[@]}" --json history --job "$j" | jq -r '.events[].message' |
    grep "Too many open files" | head -1 | grep -q "$images/$(sha "$work/a.bin")" ||
    fail "the error does not name the file being opened"
start_sim 2
wait_for job_state_is "$j" succeeded
received_ok 0 "$work/a.bin" || fail "content after the shortage"
stop_daemon

# --- A state directory (or images/) other users can write is refused.
for d in "$work/state" "$images"; do
    for mode in 0777 0770 01777; do
        chmod "$mode" "$d"
        if timeout $((10 * time_scale)) "${fwupgwd[@]}" -c "$work/fwupgw.yaml" 2>"$work/refused.log"; then
            fail "started with $d at mode $mode"
        fi
        grep -q "state directory $d is writable by other users.*chmod go-w $d" \
            "$work/refused.log" || fail "refusal of $d ($mode): $(cat "$work/refused.log")"
        chmod 0750 "$d"
    done
done
[ ! -e "$sock" ] || fail "a refused daemon created its socket"

# --- Crash leftovers are removed at start, nothing else is.
leftovers=(".tmp.$(sha "$work/b.bin").4242" ".tmp.$(sha "$work/a.bin").99.3")
for f in "${leftovers[@]}"; do make_image "$images/$f" 500000; done
echo keep >"$images/.tmp.not-ours"
cp "$work/a.bin" "$work/victim"
ln -s "$work/victim" "$images/.tmp.$(sha "$work/b.bin").4343"
start_daemon
for f in "${leftovers[@]}"; do [ ! -e "$images/$f" ] || fail "$f stayed"; done
[ -f "$images/.tmp.not-ours" ] || fail "a file not named like ours was removed"
rm "$images/.tmp.not-ours"
[ -L "$images/.tmp.$(sha "$work/b.bin").4343" ] || fail "a symlink was removed"
cmp -s "$work/a.bin" "$images/$(sha "$work/a.bin")" || fail "a stored image was touched"
grep -q "removed 2 temporary image file" "$work/fwupgwd.log" || fail "no log of the cleaning"

# --- A symlink planted where the daemon writes its temporary copy (the name
# it tries first) is not followed: its target is unchanged.
ln -s "$work/victim" "$images/.tmp.$(sha "$work/b.bin").$daemon_pid"
j=$("${ctl[@]}" --json queue dev-1 "$work/b.bin" | jq -r .job.id)
wait_for job_state_is "$j" succeeded
received_ok 1 "$work/b.bin" || fail "content with a planted symlink"
cmp -s "$work/a.bin" "$work/victim" || fail "the planted symlink was followed"
cmp -s "$work/b.bin" "$images/$(sha "$work/b.bin")" || fail "stored image"
no_temps || fail "temporary files left after queuing"

# --- A damaged stored image (same size) is replaced by queuing it again.
flip_byte "$images/$(sha "$work/a.bin")" 10000
j=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
wait_for job_state_is "$j" succeeded
cmp -s "$work/a.bin" "$images/$(sha "$work/a.bin")" || fail "stored image not repaired"
received_ok 0 "$work/a.bin" || fail "content after the repair"

# A job whose image is damaged after it was queued waits in back-off with a
# clear error, and runs once the image is queued again (for another device).
stop_sim
rm -rf "$work/sim"
make_image "$work/c.bin" 25000
j=$("${ctl[@]}" --json queue dev-0 "$work/c.bin" | jq -r .job.id)
flip_byte "$images/$(sha "$work/c.bin")" 20000
wait_for history_has "$j" "is corrupt"
job_state_is "$j" failed && fail "a damaged image failed the job for good"
job_field "$j" last_error | grep -q "queuing the image again" || fail "no hint: $(job_field "$j" last_error)"
j2=$("${ctl[@]}" --json queue dev-1 "$work/c.bin" | jq -r .job.id)
start_sim 2
wait_for job_state_is "$j2" succeeded
wait_for job_state_is "$j" succeeded
received_ok 0 "$work/c.bin" || fail "dev-0 content after the repair"
received_ok 1 "$work/c.bin" || fail "dev-1 content after the repair"
no_temps || fail "temporary files left"
stop_daemon
echo "PASS"
