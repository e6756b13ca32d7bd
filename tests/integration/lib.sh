# Helpers for integration tests: real fwupsim pseudo-terminals, a real
# fwupgwd with its SQLite file, and fwupctl. Sourced by each test script.
set -euo pipefail

build=${FWUP_BINARY_DIR:?run through ctest, or set FWUP_BINARY_DIR}
work=$(mktemp -d /tmp/fwupgw-it.XXXXXX)
sim_pid=
daemon_pid=
sock=$work/fwupgw.sock
ctl=("$build/fwupctl" --socket "$sock")

# FWUP_VALGRIND=1 runs fwupgwd under valgrind memcheck; the test fails on
# any error or definite leak reported (valgrind_check). Waits then scale by
# FWUP_TIME_SCALE (default 4 under valgrind, else 1). fwupctl stays native:
# at a second more per call, the tests' timing would no longer hold.
fwupgwd=("$build/fwupgwd")
if [ -n "${FWUP_VALGRIND:-}" ]; then
    valgrind=(valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
        --errors-for-leak-kinds=definite --track-fds=no --num-callers=30
        --log-file="$work/valgrind.%p.log")
    fwupgwd=("${valgrind[@]}" "$build/fwupgwd")
fi
time_scale=${FWUP_TIME_SCALE:-$([ -n "${FWUP_VALGRIND:-}" ] && echo 4 || echo 1)}

cleanup() {
    local rc=$?
    # Under valgrind a daemon still running is stopped cleanly, so that its
    # leak check runs.
    if [ -n "${FWUP_VALGRIND:-}" ] && [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null; then
        timeout $((30 * time_scale)) tail --pid="$daemon_pid" -f /dev/null || true
    fi
    [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null || true
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    [ -z "${FWUP_VALGRIND:-}" ] || valgrind_check || rc=1
    if [ $rc -ne 0 ]; then
        echo "--- fwupgwd log"; cat "$work"/fwupgwd*.log 2>/dev/null | tail -40 || true
        echo "--- fwupsim log"; tail -20 "$work/fwupsim.log" 2>/dev/null || true
    fi
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
[ -n "${KEEP_WORK:-}" ] && echo "work dir: $work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# wait_for CMD...: retry a condition for up to ~30 s (times FWUP_TIME_SCALE).
wait_for() {
    for _ in $(seq $((300 * time_scale))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail "timed out waiting for: $*"
}

# start_sim COUNT [fwupsim options...]
start_sim() {
    local count=$1
    shift
    "$build/fwupsim" --dir "$work/sim" --count "$count" --model xmodem "$@" \
        >>"$work/fwupsim.log" 2>&1 &
    sim_pid=$!
    wait_for test -e "$work/sim/ready"
}

stop_sim() {
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=
}

# write_config COUNT [extra daemon: lines] — devices dev-I on links uartI.
write_config() {
    local count=$1
    shift
    {
        echo "daemon:"
        echo "  socket: $sock"
        echo "  state_dir: $work/state"
        echo "  plugin_dir: $build/plugins"
        for line in "$@"; do echo "  $line"; done
        echo "links:"
        for ((i = 0; i < count; i++)); do
            echo "  - {name: uart$i, type: serial, path: $work/sim/dev$i, baud: 115200}"
        done
        echo "devices:"
        for ((i = 0; i < count; i++)); do
            echo "  - {id: dev-$i, link: uart$i, protocol: xmodem, tags: [t$((i % 2))],"
            echo "     flash: {base: 0x08000000, size: 512K}}"
        done
    } >"$work/fwupgw.yaml"
}

start_daemon() {
    rm -f "$sock"
    "${fwupgwd[@]}" -v -c "$work/fwupgw.yaml" 2>>"$work/fwupgwd.log" &
    daemon_pid=$!
    wait_for test -S "$sock"
    wait_for "${ctl[@]}" version
}

stop_daemon() {
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || fail "fwupgwd exited with $? after SIGTERM"
    daemon_pid=
}

# job_field JOB FIELD: one field of jobs.get, via --json.
job_field() {
    # status exits 4 for a failed or cancelled job: that is not an error here.
    { "${ctl[@]}" --json status "$1" || true; } | jq -r ".job.$2"
}

# rpc LINE: one socket API request on its own connection; prints the reply
# line (the connection is dropped once it came, without waiting for EOF).
rpc() {
    local reply=
    coproc RPC { exec socat - UNIX-CONNECT:"$sock"; }
    printf '%s\n' "$1" >&"${RPC[1]}"
    IFS= read -r -t $((30 * time_scale)) reply <&"${RPC[0]}" || true
    kill "$RPC_PID" 2>/dev/null || true
    wait "$RPC_PID" 2>/dev/null || true
    printf '%s\n' "$reply"
}

# subscribe FILE: the raw event stream of one connection, into FILE, until
# unsubscribe. Not a coproc: rpc's would replace it.
subscribe() {
    mkfifo "$work/sub.in"
    socat - UNIX-CONNECT:"$sock" <"$work/sub.in" >"$1" &
    sub_pid=$!
    exec {sub_fd}>"$work/sub.in"
    printf '{"id":1,"method":"events.subscribe"}\n' >&"$sub_fd"
    wait_for grep -q '"subscribed":true' "$1"
}
unsubscribe() {
    kill "$sub_pid"
    wait "$sub_pid" || true
    exec {sub_fd}>&-
    rm "$work/sub.in"
}

job_state_is() {
    [ "$(job_field "$1" state)" = "$2" ]
}

# make_image FILE BYTES
make_image() {
    head -c "$2" /dev/urandom >"$1"
}

# received_ok I IMAGE [PAD]: device I's content after its last transfer is
# exactly what that job must leave. A flash model (fwupsim's devI.page: its
# erase page size) holds IMAGE at the start, 0xFF in the rest of every page
# IMAGE touches, and beyond that exactly what it held before (devI.before:
# old firmware or the previous image). A file receiver (page 0) holds IMAGE
# padded with PAD (an octal byte for tr; default 032, 0x1A) to a 128-byte
# block.
received_ok() {
    local bin=$work/sim/dev$1.bin size page end fill=377 before=$work/sim/dev$1.before
    [ -f "$bin" ] || return 1
    size=$(stat -c %s "$2")
    page=$(cat "$work/sim/dev$1.page")
    if [ "$page" = 0 ]; then
        page=128 fill=${3:-032} before=/dev/null
    fi
    end=$(((size + page - 1) / page * page))
    {
        cat "$2"
        head -c $((end - size)) /dev/zero | tr '\0' "\\$fill"
        tail -c +$((end + 1)) "$before"
    } | cmp -s - "$bin"
}

# valgrind_check: every valgrind log of this test is free of errors and
# definite leaks; prints the offending logs. A process that exited wrote an
# ERROR SUMMARY; one killed by a test's kill -9 did not, so its error
# records (a headline followed by a stack) are counted instead.
valgrind_check() {
    local log n bad=0 count=0
    for log in "$work"/valgrind.*.log; do
        [ -e "$log" ] || continue
        count=$((count + 1))
        if grep -q "ERROR SUMMARY:" "$log"; then
            n=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
        else
            n=$(awk '/^==[0-9]+== [A-Z]/ { head = 1; next }
                head && /^==[0-9]+== +(at|by) 0x/ { n++ } { head = 0 } END { print n + 0 }' "$log")
        fi
        if [ "$n" != 0 ]; then
            echo "--- valgrind: $n error(s) in $log"
            cat "$log"
            bad=1
        fi
    done
    # Said, not failed: a test may run no daemon (or only --check-config).
    [ "$count" -gt 0 ] || { echo "valgrind: nothing ran under valgrind in this test"; return 0; }
    echo "valgrind: $count process(es), $([ $bad = 0 ] && echo clean || echo ERRORS)"
    return $bad
}
