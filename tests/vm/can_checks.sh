#!/bin/sh
# CAN smoke checks, run inside the guest (tests/vm/run --can 2 -- sh can_checks.sh BUILD_DIR).
# One boot, one "ok"/"not ok" line per check; exits 1 if any failed.
set -u
bin=$1/vm_can_smoke
t=$(mktemp -d)
failed=0
n=0

result() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=1
    fi
}

# Send FRAME with CMD... until the background reader PID has exited (it only
# starts listening at some point after it was started), then wait for it.
send_until_seen() {
    pid=$1
    shift
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        "$@" || return 1
        sleep 0.1
        i=$((i + 1))
    done
    kill "$pid" 2>/dev/null
    wait "$pid"
}

# 1. our CAN_RAW sender, candump receives
candump -L -n 1 vcan0 >"$t/dump1" 2>&1 &
send_until_seen $! "$bin" send vcan0 123#DEADBEEF
grep -q ' vcan0 123#DEADBEEF$' "$t/dump1"
result $? "CAN_RAW send on vcan0 seen by candump"
sed 's/^/# /' "$t/dump1"

# 2. cansend sends, our CAN_RAW receiver sees it
"$bin" recv vcan0 20000 >"$t/recv2" 2>&1 &
send_until_seen $! cansend vcan0 456#0102030405
grep -qx 'vcan0 456#0102030405' "$t/recv2"
result $? "cansend on vcan0 seen by CAN_RAW receiver"
sed 's/^/# /' "$t/recv2"

# 3. a second interface (--can 2), extended id
candump -L -n 1 vcan1 >"$t/dump3" 2>&1 &
send_until_seen $! "$bin" send vcan1 1ABCDEF0#CAFE
grep -q ' vcan1 1ABCDEF0#CAFE$' "$t/dump3"
result $? "extended-id frame on vcan1 seen by candump"
sed 's/^/# /' "$t/dump3"

# 4. ISO-TP: a 4000-byte PDU through segmentation and flow control
"$bin" isotp vcan0 4000 >"$t/isotp" 2>&1
result $? "CAN_ISOTP 4000-byte PDU between two sockets"
sed 's/^/# /' "$t/isotp"

# 5. libsocketcan state query on a vcan: not supported, reported and handled
"$bin" state vcan0 >"$t/state" 2>&1 && grep -q 'vcan0: state not supported' "$t/state"
result $? "libsocketcan can_get_state on vcan0 says not supported"
sed 's/^/# /' "$t/state"

# 6. and an interface that does not exist is an error, not "not supported"
! "$bin" state nosuchcan0 >"$t/state2" 2>&1 && grep -q 'no such interface' "$t/state2"
result $? "state query on a missing interface fails"

rm -rf "$t"
exit $failed
