#!/usr/bin/env bash
# The scheduler's rules, checked on the times the store records: the default
# of 3 runs, the retry back-off schedule (initial, doubling, capped), one job
# at a time per link, at most max_concurrent_jobs at once, the socket API's
# max_attempts range and the batch states.
. "$(dirname "$0")/lib.sh"

# events JOB KIND: the timestamps of a job's events of one kind, oldest first.
events() {
    "${ctl[@]}" --json history --job "$1" |
        jq -r --arg k "$2" '[.events[] | select(.kind == $k) | .ts] | sort | .[]'
}
finished() { case $(job_field "$1" state) in succeeded | failed | cancelled) ;; *) return 1 ;; esac; }
batch_field() { # BATCH JQ-PATH
    rpc '{"id":1,"method":"batches.get","params":{"batch":'"$1"'}}' | jq -r ".result.batch.$2"
}
manifest() { # FILE TARGET-DEVICES...: one image for each device
    local f=$1 d
    shift
    {
        echo "manifest: 1"
        echo "name: $(basename "$f" .yaml)"
        echo "targets:"
        for d in "$@"; do
            echo "  - {device: $d, image: a.bin, sha256: $(sha256sum "$work/a.bin" | cut -d' ' -f1), version: '1'}"
        done
    } >"$f"
}

# ---- 1. Ports that are missing: every run fails at once, as transient.
# No max_attempts in the config: the default applies.
write_config 3 "retry_backoff: {initial: 400ms, max: 1s}"
start_daemon
make_image "$work/a.bin" 20000

# check_backoff JOB WAIT_MS...: each retry's next run started no sooner than
# its back-off after the failure (the scheduler never starts a job before
# not_before), and no later than a timer's delay allows: one loop pass,
# bounded here by 300 ms (times FWUP_TIME_SCALE), below the smallest step a
# schedule error makes (400 ms).
check_backoff() {
    local job=$1 k=0 r s
    shift
    mapfile -t retries < <(events "$job" retry)
    mapfile -t starts < <(events "$job" started)
    [ "${#retries[@]}" = $# ] || fail "job $job: ${#retries[@]} retries, expected $#"
    [ "${#starts[@]}" = $(($# + 1)) ] || fail "job $job: ${#starts[@]} runs, expected $(($# + 1))"
    for want in "$@"; do
        r=${retries[$k]}
        s=${starts[$((k + 1))]}
        [ $((s - r)) -ge "$want" ] && [ $((s - r)) -lt $((want + 300 * time_scale)) ] ||
            fail "job $job: retry $((k + 1)) waited $((s - r)) ms, expected $want ms"
        k=$((k + 1))
    done
}

j0=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
j1=$("${ctl[@]}" --json queue dev-1 "$work/a.bin" --max-attempts 4 | jq -r .job.id)
wait_for job_state_is "$j0" failed
wait_for job_state_is "$j1" failed
[ "$(job_field "$j0" max_attempts)" = 3 ] || fail "default max_attempts: $(job_field "$j0" max_attempts)"
[ "$(job_field "$j0" attempt)" = 3 ] || fail "default: gave up after $(job_field "$j0" attempt) runs"
job_field "$j0" last_error | grep -q "(gave up after 3 attempts)" ||
    fail "default: $(job_field "$j0" last_error)"
check_backoff "$j0" 400 800
# Doubling stops at max: 400, 800, then 1000 rather than 1600.
[ "$(job_field "$j1" attempt)" = 4 ] || fail "--max-attempts 4: $(job_field "$j1" attempt) runs"
check_backoff "$j1" 400 800 1000

# The socket API's max_attempts: 0 is the default, 1..100 taken as given,
# anything else refused with nothing queued.
data=$(base64 -w0 "$work/a.bin")
queue_rpc() { # MAX_ATTEMPTS
    rpc '{"id":1,"method":"jobs.queue","params":{"device":"dev-2","format":"bin","image":{"data":"'"$data"'"},"max_attempts":'"$1"'}}'
}
njobs() { "${ctl[@]}" --json status | jq '.jobs | length'; }
before=$(njobs)
for bad in -1 101; do
    reply=$(queue_rpc "$bad")
    echo "$reply" | jq -e '.error.code == -32602' >/dev/null || fail "max_attempts $bad: $reply"
    echo "$reply" | jq -r .error.message | grep -q "1..100" || fail "max_attempts $bad: $reply"
done
[ "$(njobs)" = "$before" ] || fail "a refused max_attempts queued a job"
declare -A got
for m in 1 0 100; do
    reply=$(queue_rpc "$m")
    got[$m]=$(echo "$reply" | jq -r .result.job.id)
    [ "$(echo "$reply" | jq -r .result.job.max_attempts)" = "$([ "$m" = 0 ] && echo 3 || echo "$m")" ] ||
        fail "max_attempts $m: $reply"
done
# The other two would retry for long: cancelled.
for m in 0 100; do "${ctl[@]}" cancel "${got[$m]}" >/dev/null || fail "cancelling job ${got[$m]}"; done
wait_for job_state_is "${got[1]}" failed
[ "$(job_field "${got[1]}" attempt)" = 1 ] || fail "max_attempts 1 ran $(job_field "${got[1]}" attempt) times"
[ "$(events "${got[1]}" started | wc -l)" = 1 ] || fail "max_attempts 1: more than one run"

# Batches that end without success are failed, a cancelled one included.
manifest "$work/fail.yaml" dev-2
bf=$("${ctl[@]}" --json apply "$work/fail.yaml" | jq -r .batch.id)
# The batch's job waits behind a long-retrying job for its device, so the
# cancel finds it unfinished however slowly this test runs.
blocker=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" --max-attempts 100 | jq -r .job.id)
manifest "$work/cancel.yaml" dev-0
bc=$("${ctl[@]}" --json apply "$work/cancel.yaml" | jq -r .batch.id)
"${ctl[@]}" cancel "$(batch_field "$bc" 'jobs[0].id')" >/dev/null || fail "cancelling batch $bc's job"
wait_for finished "$(batch_field "$bc" 'jobs[0].id')"
"${ctl[@]}" cancel "$blocker" >/dev/null || fail "cancelling job $blocker"
wait_for finished "$(batch_field "$bf" 'jobs[0].id')"
[ "$(batch_field "$bc" 'counts | [.cancelled, .succeeded, .failed] | join(",")')" = 1,0,0 ] ||
    fail "batch $bc: $(batch_field "$bc" counts)"
[ "$(batch_field "$bc" state)" = failed ] || fail "all-cancelled batch: $(batch_field "$bc" state)"
[ "$(batch_field "$bf" 'counts.failed')" = 1 ] || fail "batch $bf: $(batch_field "$bf" counts)"
[ "$(batch_field "$bf" state)" = failed ] || fail "failed batch: $(batch_field "$bf" state)"
stop_daemon

# ---- 2. max_concurrent_jobs 2 with three devices on three links.
# overlap JOB...: the most runs in progress at one time, from each job's
# recorded start and finish (a start at a finish's millisecond follows it).
overlap() {
    local j
    for j in "$@"; do
        "${ctl[@]}" --json status "$j" | jq -r '.job | "\(.started) 1\n\(.finished) -1"'
    done | sort -k1,1n -k2,2n | awk '{ n += $2; if (n > m) m = n } END { print m }'
}
# event_kinds FILE JOB: the job's events in order, "type state/phase" each,
# a run of progress events in one phase as one line (state events never
# merge: a repeated one is an error).
event_kinds() {
    jq -r --argjson j "$2" 'select(.method == "event" and .params.job.id == $j) |
        "\(.params.type) \(.params.job.state)/\(.params.job.phase)"' "$1" |
        awk '!/^progress/ || $0 != prev { print } { prev = $0 }' | paste -sd,
}
write_config 3 "max_concurrent_jobs: 2"
# Paced (20000 bytes take about 2 s) so that the sampling sees the runs.
start_sim 3 --baud 115200
start_daemon
subscribe "$work/events.jsonl"
manifest "$work/all.yaml" dev-0 dev-1 dev-2
b=$("${ctl[@]}" --json apply "$work/all.yaml" | jq -r .batch.id)
mapfile -t jobs < <(batch_field "$b" 'jobs[].id')
peak=0
batch_done() { [ "$(batch_field "$b" state)" != running ]; }
# Also sampled while they run: what status says must agree.
until batch_done; do
    n=$("${ctl[@]}" --json status | jq '[.jobs[] | select(.state == "running")] | length')
    [ "$n" -le 2 ] || fail "$n jobs running with max_concurrent_jobs 2"
    [ "$n" -le "$peak" ] || peak=$n
    sleep 0.05
done
[ "$(batch_field "$b" state)" = succeeded ] || fail "batch $b: $(batch_field "$b" counts)"
for i in 0 1 2; do received_ok "$i" "$work/a.bin" || fail "dev$i content"; done
[ "$(overlap "${jobs[@]}")" = 2 ] || fail "runs at once: $(overlap "${jobs[@]}"), expected 2"
[ "$peak" = 2 ] || fail "status showed at most $peak running"
# Each job told subscribers of every state and phase change once, in order,
# with progress (throttled) only while transferring, its byte count never
# going back.
unsubscribe
want="state queued/,state running/,state running/connect,state running/transfer"
want+=",progress running/transfer,state running/finish,state succeeded/finish"
for j in "${jobs[@]}"; do
    [ "$(event_kinds "$work/events.jsonl" "$j")" = "$want" ] ||
        fail "job $j events: $(event_kinds "$work/events.jsonl" "$j")"
    jq -s -e --argjson j "$j" '[.[] | select(.method == "event" and .params.job.id == $j) |
        .params.job.bytes_done] | . == sort and .[-1] == 20000' "$work/events.jsonl" >/dev/null ||
        fail "job $j byte counts in events"
done
stop_daemon

# ---- 3. Two devices on one link: the second waits for the first, even as
# root, whom the port's TIOCEXCL does not stop.
sed -i 's/^  max_concurrent_jobs: 2$//; s/{id: dev-1, link: uart1,/{id: dev-1, link: uart0,/' \
    "$work/fwupgw.yaml"
grep -q "id: dev-1, link: uart0" "$work/fwupgw.yaml" || fail "config edit"
start_daemon
make_image "$work/b.bin" 20000
ja=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
# A watch that knew the second job before it was queued: it hears of it,
# and of what it waits for, from events alone.
"${ctl[@]}" watch --exit-when-done >"$work/watch.out" 2>&1 &
watch_pid=$!
wait_for grep -q "^job $ja dev-0 " "$work/watch.out"
jb=$("${ctl[@]}" --json queue dev-1 "$work/b.bin" | jq -r .job.id)
port=$(readlink -f "$work/sim/dev0") # as the scheduler names it
saw_wait=0 saw_detail=0 saw_table=0
until finished "$ja" && finished "$jb"; do
    n=$("${ctl[@]}" --json status | jq '[.jobs[] | select(.state == "running")] | length')
    [ "$n" -le 1 ] || fail "$n jobs running on one link"
    # The waiting job says what it waits for: the port, held by the other;
    # fwupctl status says so in its detail and in its table.
    case $(job_field "$jb" waiting) in "port "*": in use by job $ja") saw_wait=1 ;; esac
    grep -qx "waiting:    port $port: in use by job $ja" <<<"$("${ctl[@]}" status "$jb")" &&
        saw_detail=1
    grep -qE "^$jb +dev-1 +queued \(waiting: port $port: in use by job $ja\)  " \
        <<<"$("${ctl[@]}" status)" && saw_table=1
    sleep 0.05
done
[ "$saw_wait" = 1 ] || fail "job $jb never said it waited for job $ja's port"
[ "$saw_detail" = 1 ] || fail "fwupctl status $jb never showed what it waited for"
[ "$saw_table" = 1 ] || fail "fwupctl status never showed what job $jb waited for"
wait "$watch_pid" || fail "watch: $(cat "$work/watch.out")"
grep -qx "job $jb dev-1 queued (waiting: port $port: in use by job $ja)" "$work/watch.out" ||
    fail "watch never showed what job $jb waited for: $(cat "$work/watch.out")"
grep -qx "job $jb dev-1 succeeded" "$work/watch.out" || fail "watch: $(cat "$work/watch.out")"
[ "$(job_field "$jb" waiting)" = null ] || fail "finished job $jb: $(job_field "$jb" waiting)"
for j in "$ja" "$jb"; do
    job_state_is "$j" succeeded || fail "job $j: $(job_field "$j" last_error)"
    [ "$(job_field "$j" attempt)" = 1 ] || fail "job $j needed $(job_field "$j" attempt) runs"
done
[ "$(overlap "$ja" "$jb")" = 1 ] || fail "both devices of one link ran at once"
# The port's device holds what came last.
received_ok 0 "$work/b.bin" || fail "the link's device does not hold the second image"

# A batch with one job succeeded and one cancelled (while it waited for the
# link) is failed.
manifest "$work/mixed.yaml" dev-0 dev-1
bm=$("${ctl[@]}" --json apply "$work/mixed.yaml" | jq -r .batch.id)
"${ctl[@]}" cancel "$(batch_field "$bm" 'jobs[1].id')" >/dev/null || fail "cancelling in batch $bm"
wait_for finished "$(batch_field "$bm" 'jobs[0].id')"
wait_for finished "$(batch_field "$bm" 'jobs[1].id')"
[ "$(batch_field "$bm" 'counts | [.succeeded, .cancelled, .failed] | join(",")')" = 1,1,0 ] ||
    fail "batch $bm: $(batch_field "$bm" counts)"
[ "$(batch_field "$bm" state)" = failed ] || fail "half-cancelled batch: $(batch_field "$bm" state)"
stop_daemon

# ---- 4. A device removed from the config (reload) while its job waits for
# the link: the job ends failed, saying why, for good (a restart finds it so).
# The link is held by dev-0's job, its device keeping back the ACK of EOT.
stop_sim
start_sim 3 --complete-delay-us 60000000
start_daemon
ja=$("${ctl[@]}" --json queue dev-0 "$work/a.bin" | jq -r .job.id)
holding() { [ "$(job_field "$ja" phase)" = finish ]; }
wait_for holding
jb=$("${ctl[@]}" --json queue dev-1 "$work/b.bin" | jq -r .job.id)
job_state_is "$jb" queued || fail "job $jb did not wait for the link: $(job_field "$jb" state)"
sed -i '/{id: dev-1,/,+1d' "$work/fwupgw.yaml"
grep -q "dev-1" "$work/fwupgw.yaml" && fail "config edit"
kill -HUP "$daemon_pid"
two_devices() { [ "$("${ctl[@]}" --json devices | jq -c '[.devices[].id]')" = '["dev-0","dev-2"]' ]; }
wait_for two_devices
"${ctl[@]}" cancel "$ja" >/dev/null || fail "cancelling job $ja"
# It starts and fails in one step: no client sees it running.
left_queue() { ! job_state_is "$jb" queued; }
wait_for left_queue
gone_ok() { # JOB: failed on its first start, for the reason
    job_state_is "$1" failed && [ "$(job_field "$1" last_error)" = "device is no longer configured" ] &&
        [ "$(job_field "$1" attempt)" = 1 ]
}
gone_ok "$jb" || fail "job $jb: $(job_field "$jb" state) $(job_field "$jb" attempt) $(job_field "$jb" last_error)"
job_state_is "$ja" cancelled || fail "job $ja: $(job_field "$ja" state)"
stop_daemon
start_daemon
gone_ok "$jb" || fail "after a restart, job $jb: $(job_field "$jb" state) $(job_field "$jb" last_error)"
job_state_is "$ja" cancelled || fail "after a restart, job $ja: $(job_field "$ja" state)"
stop_daemon
echo "PASS"
