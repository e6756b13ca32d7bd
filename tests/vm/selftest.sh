#!/usr/bin/env bash
# The kernel tier's own failure modes
# (selftest.sh status|timeout|panic|bootfail|noqemu): tests/vm/run must pass
# on the command's status and output, and report a hung guest, a kernel panic,
# a guest that fails before the command and a missing QEMU as failures, never
# as a pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
run=$here/run
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
failed=0

expect() { # expect WHAT CONDITION...
    local what=$1
    shift
    if "$@"; then
        echo "ok - $what"
    else
        echo "not ok - $what"
        failed=1
    fi
}
show() {
    sed 's/^/# stdout: /' "$t/out"
    sed 's/^/# stderr: /' "$t/err"
}

case ${1:-} in
status)
    # Exit status, separate streams, argument quoting and --env all survive the trip.
    bash "$run" --env 'FWUP_T=x y' -- sh -c '
        printf "%s|" "$@"; echo
        echo "env=$FWUP_T in_vm=$FWUP_IN_VM kernel=$(uname -r)"
        grep -qw fwupvm=1 /proc/cmdline && echo guest-cmdline
        test -d /sys/class/net/vcan0 && echo vcan0
        echo to-stderr >&2
        exit 3' sh 'a b' "c'd" '$HOME' '*' >"$t/out" 2>"$t/err"
    rc=$?
    show
    expect "exit status 3 comes back" [ $rc = 3 ]
    expect "arguments arrive unchanged" grep -qxF "a b|c'd|\$HOME|*|" "$t/out"
    expect "--env reaches the command" grep -q '^env=x y in_vm=1 ' "$t/out"
    expect "the command ran in the guest kernel, with vcan0" \
        sh -c "grep -qx guest-cmdline '$t/out' && grep -qx vcan0 '$t/out'"
    expect "stderr stays on stderr" sh -c "grep -qx to-stderr '$t/err' && ! grep -q to-stderr '$t/out'"
    ;;
timeout)
    bash "$run" --timeout 20 -- sleep 1000 >"$t/out" 2>"$t/err"
    rc=$?
    show
    expect "a hung guest is killed with status 124" [ $rc = 124 ]
    expect "and reported as a timeout" grep -q '^fwupvm: TIMEOUT' "$t/err"
    ;;
panic)
    bash "$run" -- sh -c 'echo c >/proc/sysrq-trigger; sleep 100' >"$t/out" 2>"$t/err"
    rc=$?
    show
    expect "a kernel panic fails with status 125" [ $rc = 125 ]
    expect "and is reported as a panic" grep -q '^fwupvm: KERNEL PANIC' "$t/err"
    ;;
bootfail)
    # A guest that stops before running the command, with or without saying why.
    FWUP_VM_FAULT=setup bash "$run" -- true >"$t/out" 2>"$t/err"
    rc=$?
    show
    expect "a failed guest setup fails with status 125" [ $rc = 125 ]
    expect "and is reported as such" grep -q '^fwupvm: GUEST SETUP FAILED: injected fault' "$t/err"
    FWUP_VM_FAULT=silent bash "$run" -- true >"$t/out" 2>"$t/err"
    rc=$?
    show
    expect "a guest that powers off silently fails with status 125" [ $rc = 125 ]
    expect "and is reported as a boot failure" grep -q '^fwupvm: BOOT FAILURE' "$t/err"
    ;;
noqemu)
    # Every tool but QEMU: the tier must fail loudly, not skip.
    mkdir "$t/bin"
    ln -s /usr/sbin/* /sbin/* /usr/bin/* /bin/* "$t/bin/" 2>/dev/null
    rm -f "$t"/bin/qemu-system-*
    PATH=$t/bin bash "$run" -- true >"$t/out" 2>"$t/err"
    rc=$?
    show
    expect "no QEMU fails with status 125" [ $rc = 125 ]
    expect "and says what is missing" grep -q 'qemu-system-x86_64 not found' "$t/err"
    ;;
*)
    echo "usage: selftest.sh status|timeout|panic|bootfail|noqemu" >&2
    exit 2
    ;;
esac
exit $failed
