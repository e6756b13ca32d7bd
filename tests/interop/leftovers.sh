#!/usr/bin/env bash
# leftovers.sh [VAR=VALUE...] TEST-BINARY: runs an interop test binary, with
# the environment changed so that its tests fail, on an empty /tmp of its
# own (a private mount namespace): it must fail and leave /tmp empty.
# Check's forked child exits at a failed assertion, skipping the fixture's
# teardown, so clean-up there alone leaves directories behind. Where no
# private mount can be made (a chroot, as in tools/fresh-test), the binary
# gets an empty TMPDIR of its own instead, which its temporary root honours.
set -euo pipefail
tmp=/tmp
if [ "${1:-}" = --inside ]; then
    shift
    mount -t tmpfs fwup-leftovers /tmp
elif [ -z "${FWUP_LEFTOVERS_NO_UNSHARE:-}" ] &&
    unshare $([ "$(id -u)" = 0 ] || echo --map-root-user) --mount --propagation private true 2>/dev/null; then
    exec unshare $([ "$(id -u)" = 0 ] || echo --map-root-user) --mount --propagation private \
        bash "$0" --inside "$@"
else
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/fwup-leftovers.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "no private /tmp here: checking an empty TMPDIR ($tmp) instead"
    set -- TMPDIR="$tmp" "$@"
fi
rc=0
out=$(env "$@" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || { echo "FAIL: the tests passed; this checks the clean-up after failures"; exit 1; }
left=$(find "$tmp" -mindepth 1 -maxdepth 1)
if [ -n "$left" ]; then
    echo "FAIL: left behind in $tmp after failed tests:"
    echo "$left"
    echo "--- test output"
    echo "$out" | tail -5
    exit 1
fi
echo "PASS: failed (exit $rc) and left nothing behind"
