#!/usr/bin/env bash
# leftovers.sh [VAR=VALUE...] TEST-BINARY: runs an interop test binary, with
# the environment changed so that its tests fail, on an empty /tmp of its
# own (a private mount namespace): it must fail and leave /tmp empty.
# Check's forked child exits at a failed assertion, skipping the fixture's
# teardown, so clean-up there alone leaves directories behind.
set -euo pipefail
if [ "${1:-}" != --inside ]; then
    userns=()
    [ "$(id -u)" = 0 ] || userns=(--map-root-user)
    unshare "${userns[@]}" --mount --propagation private true 2>/dev/null || {
        echo "SKIPPED: cannot make a private /tmp (unshare --mount refused)"
        exit 77
    }
    exec unshare "${userns[@]}" --mount --propagation private bash "$0" --inside "$@"
fi
shift
mount -t tmpfs fwup-leftovers /tmp
rc=0
out=$(env "$@" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || { echo "FAIL: the tests passed; this checks the clean-up after failures"; exit 1; }
left=$(find /tmp -mindepth 1 -maxdepth 1)
if [ -n "$left" ]; then
    echo "FAIL: left behind in /tmp after failed tests:"
    echo "$left"
    echo "--- test output"
    echo "$out" | tail -5
    exit 1
fi
echo "PASS: failed (exit $rc) and left nothing behind"
