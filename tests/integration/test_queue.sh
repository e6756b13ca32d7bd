#!/usr/bin/env bash
# End to end: queue images of each format through fwupctl into simulated
# devices; bad input is refused with a clear error and queues nothing.
. "$(dirname "$0")/lib.sh"

start_sim 2
write_config 2
start_daemon

[ "$("${ctl[@]}" --json devices | jq '.devices | length')" = 2 ] || fail "devices.list"

make_image "$work/a.bin" 3001
"${ctl[@]}" queue dev-0 "$work/a.bin" --wait || fail "queue --wait of a raw binary"
received_ok 0 "$work/a.bin" || fail "dev0 did not receive a.bin"

make_image "$work/b.bin" 70000
objcopy -I binary -O srec --change-addresses 0x08000000 "$work/b.bin" "$work/b.srec"
"${ctl[@]}" queue dev-1 "$work/b.srec" --wait || fail "queue --wait of an S-record image"
received_ok 1 "$work/b.bin" || fail "dev1 did not receive b.srec's bytes"

job=$("${ctl[@]}" --json status dev-1 | jq -r '.jobs[0].id')
job_state_is "$job" succeeded || fail "job $job not succeeded"
[ "$(job_field "$job" attempt)" = 1 ] || fail "attempt should be 1"
[ -z "$(job_field "$job" last_error)" ] || fail "succeeded job has an error: $(job_field "$job" last_error)"
[ "$(job_field "$job" bytes_done)" = 70000 ] || fail "bytes_done should be 70000"
[ "$(job_field "$job" image.format)" = srec ] || fail "format should be detected as srec"
kinds=$("${ctl[@]}" --json history --job "$job" | jq -r '[.events[].kind] | reverse | join(",")')
case "$kinds" in queued,started,*succeeded) ;; *) fail "history of job $job: $kinds" ;; esac

njobs() { "${ctl[@]}" --json status | jq '.jobs | length'; }
before=$(njobs)

# Unknown device, image too large for the flash, corrupt HEX, wrong sha.
out=$("${ctl[@]}" queue no-such-dev "$work/a.bin" 2>&1) && fail "unknown device accepted"
echo "$out" | grep -qF "no device 'no-such-dev' in the configuration" ||
    fail "unclear unknown-device error: $out"
make_image "$work/big.bin" $((600 * 1024))
out=$("${ctl[@]}" queue dev-0 "$work/big.bin" 2>&1) && fail "oversized image accepted"
# 600 KiB from the flash base: one byte past the 512 KiB flash is enough.
echo "$out" | grep -qF "segment 0x08000000-0x08095FFF lies outside flash 0x08000000-0x0807FFFF" ||
    fail "unclear oversize error: $out"
objcopy -I binary -O ihex "$work/a.bin" "$work/a.hex"
sed -i '3s/..$/00/' "$work/a.hex"
out=$("${ctl[@]}" queue dev-0 "$work/a.hex" --format ihex 2>&1) && fail "corrupt HEX accepted"
echo "$out" | grep -q "a.hex:3: " || fail "HEX error without the file and line number: $out"
out=$("${ctl[@]}" queue dev-0 "$work/a.bin" --sha256 "$(printf '0%.0s' {1..64})" 2>&1) &&
    fail "wrong checksum accepted"
[ "$(njobs)" = "$before" ] || fail "a refused request queued a job"

# Manifests: malformed YAML, wrong checksum, one bad target -> nothing queued.
printf 'manifest: 1\ntargets: [\n' >"$work/bad.yaml"
out=$("${ctl[@]}" apply "$work/bad.yaml" 2>&1) && fail "malformed manifest accepted"
echo "$out" | grep -q "bad.yaml:" || fail "manifest error without position: $out"
sha_a=$(sha256sum "$work/a.bin" | cut -d' ' -f1)
cat >"$work/m.yaml" <<YAML
manifest: 1
name: mixed
targets:
  - {device: dev-0, image: a.bin, sha256: $sha_a, version: "1"}
  - {device: dev-1, image: big.bin, sha256: $(sha256sum "$work/big.bin" | cut -d' ' -f1), version: "2"}
YAML
out=$("${ctl[@]}" apply "$work/m.yaml" 2>&1) && fail "manifest with an oversized image accepted"
echo "$out" | grep -q "dev-1" || fail "manifest error does not name the device: $out"
[ "$(njobs)" = "$before" ] || fail "a refused manifest queued a job"

# A good manifest with a tag selector: both devices, one batch.
cat >"$work/ok.yaml" <<YAML
manifest: 1
name: tagged
targets:
  - {tags: [t0], image: a.bin, sha256: $sha_a, version: "1.0"}
  - {device: dev-1, image: a.bin, sha256: $sha_a, version: "1.0"}
YAML
"${ctl[@]}" apply "$work/ok.yaml" --dry-run | grep -q dev-1 || fail "dry run plan"
[ "$(njobs)" = "$before" ] || fail "a dry run queued a job"
"${ctl[@]}" apply "$work/ok.yaml" --wait || fail "apply --wait"
received_ok 0 "$work/a.bin" && received_ok 1 "$work/a.bin" || fail "batch content"

# Malformed socket traffic gets error replies; the daemon keeps serving.
reply=$(printf 'this is not json\n' | socat -t 2 - UNIX-CONNECT:"$sock")
echo "$reply" | jq -e '.error.code == -32700' >/dev/null || fail "parse error reply: $reply"
reply=$(printf '{"id":1,"method":"no.such"}\n' | socat -t 2 - UNIX-CONNECT:"$sock")
echo "$reply" | jq -e '.id == 1 and .error.code == -32601' >/dev/null || fail "unknown method: $reply"
reply=$(printf '{"id":2,"method":"jobs.get","params":{"job":"x"}}\n' | socat -t 2 - UNIX-CONNECT:"$sock")
echo "$reply" | jq -e '.error.code == -32602' >/dev/null || fail "wrong type: $reply"
head -c $((1100 * 1024)) /dev/zero | tr '\0' 'a' | socat -t 2 - UNIX-CONNECT:"$sock" >/dev/null || true
"${ctl[@]}" version >/dev/null || fail "daemon stopped answering after bad input"

# Boolean parameters of every method take true or false only: any other JSON
# value (numbers and strings that read as booleans included) is invalid
# params naming it, and nothing is queued, on otherwise valid requests.
data=$(base64 -w0 "$work/a.bin")
queue_params='"device":"dev-0","format":"bin","image":{"data":"'"$data"'"}'
apply_params='"targets":[{"device":"dev-0","format":"bin","image":{"data":"'"$data"'"},"sha256":"'"$sha_a"'"}]'
before=$(njobs)
for param in jobs.queue:replace manifest.apply:replace manifest.apply:force manifest.apply:dry_run; do
    method=${param%%:*} key=${param#*:}
    params=$([ "$method" = jobs.queue ] && echo "$queue_params" || echo "$apply_params")
    for v in 1 0 '"true"' '"false"' null '[]' '{}'; do
        reply=$(rpc '{"id":1,"method":"'"$method"'","params":{'"$params"',"'"$key"'":'"$v"'}}')
        echo "$reply" | jq -e --arg m "parameter '$key' must be a boolean" \
            '.error.code == -32602 and .error.message == $m' >/dev/null ||
            fail "$method with $key $v: $reply"
    done
done
[ "$(njobs)" = "$before" ] || fail "a request with a non-boolean flag queued a job"
# A raw binary's address is any 32-bit unsigned integer: both ends are taken
# (the image then lies outside the flash, or past the address space: image
# errors naming the address), one past either end or another type is
# invalid params.
for a in -1 4294967296 '"0x08000000"' 1.5 null; do
    reply=$(rpc '{"id":1,"method":"jobs.queue","params":{'"$queue_params"',"address":'"$a"'}}')
    echo "$reply" | jq -e '.error.code == -32602 and
        .error.message == "'\''address'\'' must be a 32-bit unsigned integer"' >/dev/null ||
        fail "address $a: $reply"
done
for a in 0:0x00000000 4294967295:0xFFFFFFFF; do
    reply=$(rpc '{"id":1,"method":"jobs.queue","params":{'"$queue_params"',"address":'"${a%:*}"'}}')
    echo "$reply" | jq -e --arg at "${a#*:}" '.error.code == 3 and (.error.message | contains($at))' \
        >/dev/null || fail "address ${a%:*}: $reply"
done
[ "$(njobs)" = "$before" ] || fail "a request with a refused address queued a job"
# An image is exactly one of {"fd": K} and {"data": BASE64}: neither, both,
# or not an object is invalid params, in jobs.queue and in a manifest.
for img in '{}' '{"fd":0,"data":"'"$data"'"}' '"'"$data"'"' '[]'; do
    p='"device":"dev-0","format":"bin","image":'"$img"
    for req in '{"id":1,"method":"jobs.queue","params":{'"$p"'}}' \
        '{"id":1,"method":"manifest.apply","params":{"targets":[{'"$p"',"sha256":"'"$sha_a"'"}]}}'; do
        reply=$(rpc "$req")
        echo "$reply" | jq -e '.error.code == -32602 and
            (.error.message | contains("'\''image'\'' must be {\"fd\": K} or {\"data\": BASE64}"))' \
            >/dev/null || fail "image $img: $reply"
    done
done
[ "$(njobs)" = "$before" ] || fail "a request with a malformed image queued a job"
# ... while true and false are taken.
reply=$(rpc '{"id":1,"method":"manifest.apply","params":{'"$apply_params"',"dry_run":true,"replace":true,"force":false}}')
echo "$reply" | jq -e '.result.plan | length == 1' >/dev/null || fail "dry run with flags: $reply"
[ "$(njobs)" = "$before" ] || fail "a dry run with flags queued a job"
reply=$(rpc '{"id":1,"method":"jobs.queue","params":{'"$queue_params"',"replace":false}}')
j=$(echo "$reply" | jq -e .result.job.id) || fail "queue with replace false: $reply"
wait_for job_state_is "$j" succeeded
received_ok 0 "$work/a.bin" || fail "dev0 content after a queue with replace false"

# Others than root/the daemon's uid/the group may read but not change.
chmod 755 "$work"
sed -i "s|^daemon:|daemon:\n  socket_mode: 0666|" "$work/fwupgw.yaml"
stop_daemon
start_daemon
chmod 644 "$work/a.bin"
setpriv --reuid=65534 --regid=65534 --clear-groups "$build/fwupctl" --socket "$sock" devices \
    >/dev/null || fail "an unprivileged user cannot read"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$build/fwupctl" --socket "$sock" \
    queue dev-0 "$work/a.bin" 2>&1) && fail "an unprivileged user queued a job"
echo "$out" | grep -qF "permission denied: jobs.queue needs root or the socket's group" ||
    fail "unclear permission error: $out"

stop_daemon
echo "PASS"
