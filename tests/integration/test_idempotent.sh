#!/usr/bin/env bash
# Work is queued at most once: a request repeated under its idempotency key
# (a lost reply, a client's retry) gets the first result instead of a second
# job; the same key with other parameters is refused. An apply of a manifest
# whose batch (same name, same devices and images) is still running is
# refused, unless --force; fwupctl asks again under the same key when the
# connection is lost before the reply.
. "$(dirname "$0")/lib.sh"

write_config 2
# A paced line keeps the jobs running while the test looks at them.
start_sim 2 --baud 2400
start_daemon
make_image "$work/a.bin" 8000
make_image "$work/b.bin" 8000
data_a=$(base64 -w0 "$work/a.bin")

queue_req() { # KEY DEVICE
    local p='"format":"bin","image":{"data":"'$data_a'"}'
    printf '{"v":1,"id":1,"method":"jobs.queue","params":{"device":"%s",%s,"idempotency_key":"%s"}}' \
        "$2" "$p" "$1"
}
batch_state() { # BATCH FIELD
    rpc '{"id":1,"method":"batches.get","params":{"batch":'"$1"'}}' | jq -r ".result.batch.$2"
}
njobs() {
    rpc '{"id":1,"method":"jobs.list","params":{"limit":1000}}' | jq '.result.jobs | length'
}
batches() {
    rpc '{"id":1,"method":"jobs.list","params":{"limit":1000}}' |
        jq -r '[.result.jobs[].batch | select(. > 0)] | unique | join(" ")'
}

# The same request twice under one key: one job, the second reply is the
# first one's, marked replayed.
r1=$(rpc "$(queue_req raw-1 dev-0)")
job=$(echo "$r1" | jq -r .result.job.id)
[[ $job =~ ^[0-9]+$ ]] || fail "first queue: $r1"
echo "$r1" | jq -e '.result | has("replayed") | not' >/dev/null || fail "first reply replayed: $r1"
r2=$(rpc "$(queue_req raw-1 dev-0)")
echo "$r2" | jq -e ".result.job.id == $job and .result.replayed == true" >/dev/null ||
    fail "repeat with the same key: $r2"
[ "$(echo "$r2" | jq -c '.result | del(.replayed)')" = "$(echo "$r1" | jq -c .result)" ] ||
    fail "the repeat's result differs from the first: $r1 / $r2"
[ "$(njobs)" = 1 ] || fail "$(njobs) jobs after a repeated request, want 1"

# The same key with other parameters: refused, nothing queued.
r3=$(rpc "$(queue_req raw-1 dev-1)")
echo "$r3" | jq -e '.error.code == -32602' >/dev/null || fail "same key, other device: $r3"
echo "$r3" | jq -r .error.message | grep -q "idempotency key 'raw-1' was used by an earlier" ||
    fail "unclear refusal: $r3"
[ "$(njobs)" = 1 ] || fail "a refused key queued a job"

# Key length bounds: 128 bytes is fine, 129 is refused.
k128=$(printf 'k%.0s' $(seq 128))
rpc "$(queue_req "$k128" dev-0)" | jq -e '.result.job.id > 0' >/dev/null || fail "128-byte key"
rpc "$(queue_req "${k128}k" dev-0)" | jq -e '.error.code == -32602' >/dev/null ||
    fail "129-byte key accepted"
[ "$(njobs)" = 2 ] || fail "$(njobs) jobs after the key length checks, want 2"

# A key does not change how a bad request is answered: every problem, per
# target (here a descriptor that never came), and nothing recorded.
bad='{"id":1,"method":"manifest.apply","params":{"idempotency_key":"m-bad","targets":'
bad+='[{"device":"dev-0","image":{"fd":0},"sha256":"'$(printf '0%.0s' $(seq 64))'"}]}}'
r5=$(rpc "$bad")
echo "$r5" | jq -e '.error.data.errors[0].field == "image"' >/dev/null || fail "bad apply with a key: $r5"
[ "$(rpc "$bad")" = "$r5" ] || fail "a failed request's key was recorded"

# A lost reply: the client hangs up right after sending; the daemon still
# queues the job, and the retry under the same key gets it, not a second.
{ queue_req lost-1 dev-1 && echo; } | socat -u - UNIX-CONNECT:"$sock"
wait_for test "$(njobs)" = 3
r4=$(rpc "$(queue_req lost-1 dev-1)")
echo "$r4" | jq -e '.result.replayed == true and .result.job.device == "dev-1"' >/dev/null ||
    fail "retry after a lost reply: $r4"
[ "$(njobs)" = 3 ] || fail "$(njobs) jobs after a lost reply and its retry, want 3"

# The same manifest applied three times at once: one batch; the others are
# refused, naming the running batch and how to follow it.
sha_a=$(sha256sum "$work/a.bin" | cut -d' ' -f1)
sha_b=$(sha256sum "$work/b.bin" | cut -d' ' -f1)
manifest() { # NAME IMAGE_B_FOR_DEV1
    printf 'manifest: 1\nname: %s\ntargets:\n' "$1"
    printf '  - {device: dev-0, image: a.bin, sha256: %s, version: "1"}\n' "$sha_a"
    printf '  - {device: dev-1, image: %s, sha256: %s, version: "1"}\n' "$2" \
        "$(sha256sum "$work/$2" | cut -d' ' -f1)"
}
manifest rollout b.bin >"$work/m.yaml"
for i in 1 2 3; do
    "${ctl[@]}" apply "$work/m.yaml" >"$work/apply$i.out" 2>&1 &
    pids[i]=$!
done
ok=0 refused=0
for i in 1 2 3; do
    if wait "${pids[i]}"; then
        ok=$((ok + 1))
        first=$(sed -n 's/^batch \([0-9]*\) jobs.*/\1/p' "$work/apply$i.out")
    else
        rc=$?
        [ $rc = 1 ] || fail "refused apply exited $rc: $(cat "$work/apply$i.out")"
        refused=$((refused + 1))
    fi
done
[ $ok = 1 ] && [ $refused = 2 ] || fail "$ok applies queued, $refused refused; want 1 and 2"
[[ $first =~ ^[0-9]+$ ]] || fail "no batch id"
for i in 1 2 3; do
    grep -q "^batch $first jobs" "$work/apply$i.out" && continue
    grep -q "batch $first 'rollout' with the same devices and images is still running" \
        "$work/apply$i.out" || fail "refusal: $(cat "$work/apply$i.out")"
    grep -q "fwupctl watch --batch $first" "$work/apply$i.out" || fail "no hint to follow it"
    grep -q -- "--force" "$work/apply$i.out" || fail "no hint about --force"
done
[ "$(batches)" = "$first" ] || fail "batches after three applies: $(batches)"
"${ctl[@]}" --json apply "$work/m.yaml" 2>"$work/json.err" && fail "--json apply not refused"
jq -e '.error.code == "invalid_state"' "$work/json.err" >/dev/null ||
    fail "--json refusal: $(cat "$work/json.err")"

# Not the same: another name, or another image for a device. --force queues
# the same again.
manifest other b.bin >"$work/other.yaml"
manifest rollout a.bin >"$work/m2.yaml"
b_other=$("${ctl[@]}" --json apply "$work/other.yaml" | jq -r .batch.id)
b_m2=$("${ctl[@]}" --json apply "$work/m2.yaml" | jq -r .batch.id)
b_forced=$("${ctl[@]}" --json apply "$work/m.yaml" --force | jq -r .batch.id)
[ "$(batches)" = "$first $b_other $b_m2 $b_forced" ] ||
    fail "batches: $(batches), want $first $b_other $b_m2 $b_forced"

# Once no batch of the manifest has work left, it may be applied again.
for b in "$first" "$b_forced"; do
    for j in $(batch_state "$b" 'jobs[].id'); do
        "${ctl[@]}" cancel "$j" >/dev/null
    done
done
finished() { [ "$(batch_state "$1" state)" != running ]; }
wait_for finished "$first"
wait_for finished "$b_forced"
again=$("${ctl[@]}" --json apply "$work/m.yaml" | jq -r .batch.id)
[[ $again =~ ^[0-9]+$ ]] && [ "$again" -gt "$b_forced" ] || fail "apply after the batch ended"

# fwupctl asks again, under the same key, when the reply does not come: the
# daemon is stopped, the first attempt times out, the second connects; once
# the daemon runs again it queues the first request and answers the second
# with its result. One job.
before=$(njobs)
kill -STOP "$daemon_pid"
"${ctl[@]}" --timeout 3 queue dev-1 "$work/b.bin" --format bin >"$work/q.out" 2>"$work/q.err" &
cli=$!
wait_for grep -q "asking again with the same idempotency key" "$work/q.err"
kill -CONT "$daemon_pid"
wait $cli || fail "queue with a lost reply: $(cat "$work/q.out" "$work/q.err")"
grep -q "^queued job [0-9]*: dev-1 <- " "$work/q.out" || fail "queue output: $(cat "$work/q.out")"
[ "$(njobs)" = $((before + 1)) ] || fail "$(($(njobs) - before)) jobs from one queue, want 1"
grep -q "jobs.queue with idempotency key '[0-9a-f]\{32\}' repeated" "$work/fwupgwd.log" ||
    fail "the retry was not answered from the first request"

# Keys outlive a restart.
stop_daemon
start_daemon
rpc "$(queue_req raw-1 dev-0)" | jq -e ".result.job.id == $job and .result.replayed" >/dev/null ||
    fail "key forgotten across a restart"
echo "PASS"
