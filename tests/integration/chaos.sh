#!/usr/bin/env bash
# Chaos: kill -9 the daemon at random moments while it updates a batch of
# paced fwupsim XMODEM devices, restart it each time, then check what a
# crash must never do:
#   - every job ends with exactly one final event, succeeded (or failed as
#     "needs attention" when the daemon died after the device had
#     acknowledged every byte);
#   - every image a client was told is queued is one job, no more; an image
#     whose request was cut by the kill is one job or none; an apply is all
#     of its jobs or none;
#   - a device's jobs ran in the order they were queued, and every device
#     holds exactly the image of its last job (after one that needs
#     attention, possibly that of an earlier job);
#   - a job's attempts are the runs it started; no device received a job's
#     image more than once (nor more often than its attempts say), and every
#     succeeded job's image did arrive;
#   - PRAGMA integrity_check is ok, and no images/.tmp.* is left behind.
# Kills land during queue requests, manifest applies, transfers, just after
# a start (recovery), and right after a device received the last block of
# an image, before the daemon has committed the outcome (fwupsim logs a
# completion when it receives EOT, about a millisecond before the daemon
# reads the ACK): how often that window was hit is reported.
#
#   chaos.sh [--kills N] [--devices N] [--seed S]    (FWUP_BINARY_DIR set)
#
# Every choice (kill kind, delay, devices) comes from bash's RANDOM seeded
# with S (default: FWUP_CHAOS_SEED, else random; printed), so a seed repeats
# the same sequence of actions; the timing of the processes is not repeated.
. "$(dirname "$0")/lib.sh"

kills=20
devices=16
seed=${FWUP_CHAOS_SEED:-}
while [ $# -gt 0 ]; do
    case $1 in
    --kills) kills=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) fail "usage: chaos.sh [--kills N] [--devices N] [--seed S]" ;;
    esac
done
[ -n "$seed" ] || seed=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
[[ $kills =~ ^[0-9]+$ && $devices =~ ^[0-9]+$ && $seed =~ ^[0-9]+$ ]] ||
    fail "--kills, --devices and --seed take numbers"
((devices >= 1 && devices <= 64)) || fail "--devices: 1..64 (fwupsim's limit)"
RANDOM=$seed
echo "chaos: seed $seed (FWUP_CHAOS_SEED=$seed repeats it), $kills kills, $devices devices"
t_start=$(date +%s)

db=$work/state/fwupgw.db
sql() { sqlite3 -cmd '.timeout 5000' "$db" "$@"; }
# rnd N: R = a seeded random number in 0..N-1 (not in a subshell: bash
# reseeds RANDOM there).
rnd() { R=$(((RANDOM << 15 | RANDOM) % $1)); }
# sleep_ms MS without a fork (read times out on a FIFO nobody writes), so
# kills land within a few milliseconds of what was chosen.
mkfifo "$work/never"
exec {never}<>"$work/never"
sleep_ms() {
    local t
    printf -v t '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
    read -r -t "$t" -u "$never" _ || true
}

# Paced like the demo (115200 8N1, 1 ms turnaround): an 8-16 KiB image takes
# about a second. A receiver cut mid-image NAKs after 500 ms of silence
# (200 ms inside a block), so it resynchronises with the next daemon soon.
# A device that has the whole image holds back its ACK of EOT for 150 ms, as
# a bootloader finishing its last page would: the daemon cannot know of the
# success yet, and the outcome kills below land in that window.
# Before that, it takes EOT only after 100 ms of silence (as lrzsz rx does,
# for 1 s): the daemon has sent every byte, the device has not taken the
# image yet; the eot kills land there.
start_sim "$devices" --baud 115200 --bits 10 --turnaround-us 1000 --complete-delay-us 150000 \
    --options block_timeout=500,char_timeout=200,eot_silence=100
# Every kill costs the running jobs an attempt: allow the most there are.
write_config "$devices" "max_concurrent_jobs: $devices" "max_attempts: 100" \
    "retry_backoff: {initial: 100ms, max: 1s}"
events=$work/sim/events.log
touch "$events"
exec {evfd}<"$events"
# wait_complete: GOT = "devI SIZE" of the next transfer fwupsim completes,
# within a few ms (tail -f may poll once a second).
wait_complete() {
    local line t
    while read -r -u "$evfd" line; do :; done
    for ((t = 0; t < 5000; t++)); do
        if read -r -u "$evfd" line; then
            [[ $line =~ ^(dev[0-9]+)\ complete\ ([0-9]+) ]] || continue
            GOT="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
            return 0
        fi
        sleep_ms 2
    done
    return 1
}
mkdir -p "$work/img"

# images.tsv: sha device k size file — device I's K-th image is (8+K) KiB,
# so fwupsim's "devI complete SIZE bytes" lines tell the jobs apart.
# sent.tsv: sha ack|cut — the client was told it is queued, or was killed.
declare -a nimg
for ((i = 0; i < devices; i++)); do nimg[i]=0; done
new_image() {
    local i=$1 k=${nimg[$1]}
    IMG=$work/img/dev$i-$k.bin
    make_image "$IMG" $(((8 + k) * 1024))
    SHA=$(sha256sum "$IMG" | cut -c1-64)
    echo "$SHA $i $k $(((8 + k) * 1024)) $IMG" >>"$work/images.tsv"
    nimg[i]=$((k + 1))
}

declare -A nkill=()
kill_daemon() {
    kill -0 "$daemon_pid" 2>/dev/null || fail "fwupgwd died before kill $n ($1): see its log"
    kill -9 "$daemon_pid"
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
    nkill[$1]=$((${nkill[$1]:-0} + 1))
}

# queue_one I [KILL_AFTER_MS|blob]: queue a new image for dev-I; with a
# delay, kill the daemon that long after the request starts; with "blob",
# as soon as the daemon's temporary file for the image appears (or the
# request ends first).
queue_one() {
    new_image "$1"
    if [ $# -eq 1 ]; then
        "${ctl[@]}" queue "dev-$1" "$IMG" >/dev/null || fail "queue dev-$1 $IMG"
        echo "$SHA ack" >>"$work/sent.tsv"
        return
    fi
    "${ctl[@]}" queue "dev-$1" "$IMG" >/dev/null 2>&1 &
    local q=$! kind=queue
    if [ "$2" = blob ]; then
        kind=blob-write
        # compgen is a builtin: the loop forks nothing while it watches.
        while kill -0 "$q" 2>/dev/null && ! compgen -G "$work/state/images/.tmp.*" >/dev/null; do :; done
    else
        sleep_ms "$2"
    fi
    kill_daemon "$kind"
    if wait "$q"; then echo "$SHA ack"; else echo "$SHA cut"; fi >>"$work/sent.tsv"
}

# apply_some N [KILL_AFTER_MS]: one manifest for N distinct random devices.
napply=0
apply_some() {
    local n=$1 m=$work/m$napply.yaml picked=" " shas=()
    napply=$((napply + 1))
    echo "manifest: 1" >"$m"
    echo "targets:" >>"$m"
    while ((${#shas[@]} < n)); do
        rnd "$devices"
        [[ $picked == *" $R "* ]] && continue
        picked+="$R "
        new_image "$R"
        shas+=("$SHA")
        echo "  - {device: dev-$R, image: $IMG, sha256: $SHA, version: v${nimg[R]}}" >>"$m"
    done
    if [ $# -eq 1 ]; then
        "${ctl[@]}" apply "$m" >/dev/null || fail "apply $m"
        printf '%s ack\n' "${shas[@]}" >>"$work/sent.tsv"
        return
    fi
    "${ctl[@]}" apply "$m" >/dev/null 2>&1 &
    local a=$! how=cut
    sleep_ms "$2"
    kill_daemon apply
    wait "$a" && how=ack
    printf "%s $how\n" "${shas[@]}" >>"$work/sent.tsv"
    echo "${shas[*]}" >>"$work/applies.txt"
}

pending() { sql "select count(*) from jobs where state in ('queued','running')"; }

start_daemon
apply_some "$devices"
window_hits=0
for ((n = 1; n <= kills; n++)); do
    # Keep the devices busy: one more image each round.
    rnd "$devices"
    queue_one "$R"
    rnd 12
    case $R in
    0 | 1)
        rnd "$devices"
        i=$R
        rnd 24
        ((R < 12)) || R=blob
        queue_one "$i" "$R"
        ;;
    2)
        rnd 4
        n_ap=$((R + 2))
        rnd 25
        apply_some "$n_ap" "$R"
        ;;
    3 | 4 | 5)
        # A device has its whole image, its ACK not yet sent: kill 0-50 ms
        # into that 150 ms window; the job must still be running in the store.
        rnd 51
        d=$R
        wait_complete || fail "no transfer completed within 10 s"
        sleep_ms "$d"
        kill_daemon outcome
        read -r dev size <<<"$GOT"
        sha=$(awk -v i="${dev#dev}" -v s="$size" '$2 == i && $4 == s { print $1 }' "$work/images.tsv")
        [ "$(sql "select state from jobs where image_sha256 = '$sha'")" != running ] ||
            window_hits=$((window_hits + 1))
        ;;
    6 | 7)
        # A job's phase is "finish" (EOT sent) and its device has not ACKed:
        # the device does not hold the image yet.
        for ((t = 0; t < 2000; t++)); do
            [ "$(sql "select count(*) from jobs where state = 'running' and phase = 'finish'")" = 0 ] ||
                break
        done
        kill_daemon eot
        ;;
    *)
        rnd 1500
        sleep_ms "$R"
        kill_daemon random
        ;;
    esac
    start_daemon
done

# Let everything finish, then look at the store with the daemon stopped.
for ((t = 0; t < 3000; t++)); do
    [ "$(pending)" = 0 ] && break
    sleep 0.1
done
[ "$(pending)" = 0 ] || fail "jobs still unfinished after 300 s: $(sql "select id, state, last_error from jobs where state in ('queued','running')")"
stop_daemon

errors=0
bad() {
    echo "FAIL: $*" >&2
    errors=$((errors + 1))
}

! grep -E "Sanitizer|runtime error" "$work/fwupgwd.log" || bad "sanitizer reports in fwupgwd's log"
[ "$(sql 'pragma integrity_check')" = ok ] || bad "integrity_check: $(sql 'pragma integrity_check')"
tmp=$(find "$work/state" -name '.tmp.*')
[ -z "$tmp" ] || bad "temporary files left: $tmp"
# A job the daemon was killed in after the device had acknowledged every
# byte may end failed, "needs attention", not flashed again blindly (the
# device may or may not have taken the image: XMODEM's EOT was in flight).
while IFS='|' read -r id state err; do
    bad "job $id ended $state: $err"
done < <(sql "select id, state, last_error from jobs where state != 'succeeded'
                and not (state = 'failed' and last_error like 'needs attention:%')")
while IFS='|' read -r id a c; do
    bad "job $id counts $a attempts and started $c runs"
done < <(sql "select j.id, j.attempt, count(e.id) from jobs j left join job_events e on e.job_id = j.id
                and e.kind = 'started' group by j.id having j.attempt != count(e.id)")
while IFS='|' read -r id c; do
    bad "job $id has $c final events"
done < <(sql "select j.id, count(e.id) from jobs j left join job_events e on e.job_id = j.id
                and e.kind in ('succeeded','failed','cancelled') group by j.id having count(e.id) != 1")

# Jobs against what the clients were told.
sql "select image_sha256, id, device, attempt, state from jobs order by id" | tr '|' ' ' >"$work/jobs.txt"
while read -r sha how; do
    c=$(grep -c "^$sha " "$work/jobs.txt" || true)
    case $how in
    ack) [ "$c" = 1 ] || bad "image $sha was acknowledged and is $c jobs" ;;
    cut) [ "$c" -le 1 ] || bad "image $sha (request cut by a kill) is $c jobs" ;;
    esac
done <"$work/sent.tsv"
while read -r sha _; do
    grep -q "^$sha " "$work/sent.tsv" || bad "job for $sha that no client sent"
done <"$work/jobs.txt"
if [ -e "$work/applies.txt" ]; then
    while read -r -a shas; do
        c=0
        for sha in "${shas[@]}"; do grep -q "^$sha " "$work/jobs.txt" && c=$((c + 1)); done
        ((c == 0 || c == ${#shas[@]})) || bad "an apply cut by a kill queued $c of its ${#shas[@]} jobs"
    done <"$work/applies.txt"
fi

# holds I FILE: device I's content is exactly FILE.
holds() {
    [ -f "$work/sim/dev$1.bin" ] && [ "$(stat -c %s "$work/sim/dev$1.bin")" = "$(stat -c %s "$2")" ] &&
        cmp -s "$2" "$work/sim/dev$1.bin"
}

# Per device: queue order, transfers per job, final content: the image of
# the last job, or after a last job that needs attention, the image of an
# earlier one (or none if there is none).
reflashed=0
attempts=0
attention=0
attention_without=0
for ((i = 0; i < devices; i++)); do
    last_k=-1
    last_file=
    earlier=()
    while read -r sha id _ attempt state; do
        read -r _ _ k size file < <(grep "^$sha " "$work/images.tsv")
        ((k > last_k)) || bad "dev-$i: job $id (image $k) ran after image $last_k"
        [ -z "$last_file" ] || earlier+=("$last_file")
        last_k=$k
        last_file=$file
        last_state=$state
        got=$(grep -c "^dev$i complete $size bytes" "$events" || true)
        ((got <= attempt)) || bad "dev-$i: job $id received $got times in $attempt attempts"
        # The last byte is recorded before EOT goes out, so a restart never
        # sends an image again that the device may already hold.
        ((got <= 1)) || bad "dev-$i: job $id sent its image again after the device had it ($got times)"
        if [ "$state" = succeeded ]; then
            ((got >= 1)) || bad "dev-$i: job $id succeeded but the device never received its image"
        else
            attention=$((attention + 1))
            ((got >= 1)) || attention_without=$((attention_without + 1))
        fi
        if ((got > 1)); then reflashed=$((reflashed + 1)); fi
        attempts=$((attempts + attempt))
    done < <(grep " dev-$i " "$work/jobs.txt")
    [ -n "$last_file" ] || continue
    holds "$i" "$last_file" && continue
    ok=0
    if [ "$last_state" != succeeded ]; then
        [ -e "$work/sim/dev$i.bin" ] || ok=1
        for f in "${earlier[@]}"; do holds "$i" "$f" && ok=1; done
    fi
    ((ok)) || bad "dev-$i does not hold the image of its last job ($last_file, $last_state)"
done

njobs=$(wc -l <"$work/jobs.txt")
summary=""
for k in "${!nkill[@]}"; do summary+=" $k ${nkill[$k]}"; done
echo "chaos: seed $seed: $((n - 1)) kills (${summary# }), $njobs jobs on $devices devices," \
    "$attempts attempts, $(grep -c ' complete ' "$events") transfers completed"
echo "chaos: ${nkill[outcome]:-0} outcome kills, $window_hits of them while the job was still running" \
    "with its image on the device; $reflashed jobs sent their image more than once;" \
    "$attention jobs need attention ($attention_without of them without their image on the device);" \
    "$(grep -c ' ack$' "$work/sent.tsv") images acknowledged, $(grep -c ' cut$' "$work/sent.tsv") cut by a kill;" \
    "$(($(date +%s) - t_start)) s"
# Kills meant for the outcome window that all missed it test nothing.
((${nkill[outcome]:-0} < 2 || window_hits > 0)) ||
    bad "no outcome kill landed before the outcome was committed"
((errors == 0)) || fail "$errors check(s) failed (seed $seed)"
echo "PASS"
