#!/usr/bin/env bash
# fwupctl apply reports every problem of a manifest in one pass, each at its
# FILE:LINE:COL: the manifest's own, its image files', and what the daemon
# finds against its devices and images. Any problem and nothing is queued.
. "$(dirname "$0")/lib.sh"

start_sim 8
write_config 8 # dev-I on uartI, tags t0 (even I) or t1 (odd I), 512 KiB flash
start_daemon

njobs() { "${ctl[@]}" --json status | jq '.jobs | length'; }
nevents() { "${ctl[@]}" --json history | jq '.events | length'; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

cd "$work"
make_image a.bin 4096
make_image b.bin 4096
make_image big.bin $((600 * 1024))
printf ':0400000001020304F0\n:00000001FF\n' >bad.hex # record checksum wrong
cat >m.yaml <<YAML
manifest: 1
name: many-mistakes
targets:
  - {device: dev-0, image: a.bin, sha256: $(sha a.bin), version: "1"}
  - {device: dev-9, image: a.bin, sha256: $(sha a.bin), version: "1"}
  - {tags: [t0], image: a.bin, sha256: $(sha a.bin), version: "1"}
  - {tags: [t1, line-z], image: a.bin, sha256: $(sha a.bin), version: "1"}
  - {device: dev-1, image: missing.bin, sha256: $(sha a.bin), version: "1"}
  - {device: dev-3, image: b.bin, sha256: $(sha a.bin), version: "1"}
  - {device: dev-5, image: big.bin, sha256: $(sha big.bin), version: "1"}
  - {device: dev-7, image: bad.hex, sha256: $(sha bad.hex), version: "1"}
  - {device: dev-6, image: a.bin, sha256: 1234, version: "1", format: coff}
YAML
sha_a=$(sha a.bin)
cat >want <<WANT
fwupctl: m.yaml:5:14: no device 'dev-9' in the configuration
fwupctl: m.yaml:6:12: device 'dev-0' is targeted twice (first at line 4, here through tags t0)
fwupctl: m.yaml:7:12: no configured device carries all of the tags t1, line-z (none carries 'line-z')
fwupctl: m.yaml:8:28: image missing.bin: No such file or directory
fwupctl: m.yaml:9:43: image b.bin has SHA-256 $(sha b.bin), the manifest says $sha_a
fwupctl: m.yaml:10:28: device dev-5: big.bin: segment 0x08000000-0x08095FFF lies outside flash 0x08000000-0x0807FFFF
fwupctl: m.yaml:11:28: device dev-7: bad.hex:1: checksum mismatch: record says 0xF0, computed 0xF2
fwupctl: m.yaml:12:43: 'sha256' must be 64 hex digits, not 4 characters
fwupctl: m.yaml:12:71: 'format' must be one of auto | bin | ihex | srec | elf | dfu | dfuse, not 'coff'
fwupctl: m.yaml: 9 problems; nothing was queued
WANT
for mode in "" --dry-run; do
    rc=0
    "${ctl[@]}" apply m.yaml $mode >out 2>err || rc=$?
    [ "$rc" = 1 ] || fail "apply $mode: exit $rc, not 1: $(cat err)"
    [ ! -s out ] || fail "apply $mode printed a plan or batch: $(cat out)"
    # The HEX message goes on with how the format was detected: not pinned here.
    sed 's/\(computed 0xF2\) (.*/\1/' err | diff -u want - || fail "apply $mode: problems differ"
done
[ "$(njobs)" = 0 ] || fail "a refused manifest queued a job"
[ "$(nevents)" = 0 ] || fail "a refused manifest left history"

# Under --json: one error object per problem, with the daemon's codes for
# what it found and bad_input for the rest; no summary line.
rc=0
"${ctl[@]}" apply m.yaml --json >out 2>err || rc=$?
[ "$rc" = 1 ] || fail "apply --json: exit $rc"
jq -r '.error.code' err | paste -sd' ' >codes
echo "not_found invalid_params not_found bad_input checksum_mismatch bad_image bad_image" \
    "bad_input bad_input" | diff - codes || fail "--json codes: $(cat err)"
jq -r '.error.message' err | sed 's/^/fwupctl: /; s/\(computed 0xF2\) (.*/\1/' | diff - <(head -9 want) ||
    fail "--json messages differ"

# Devices targeted twice through two tag selections, and by a device after
# a tag selection: each reported where it is targeted again.
cat >twice.yaml <<YAML
manifest: 1
targets:
  - {tags: [t1], image: a.bin, sha256: $sha_a, version: "1"}
  - {tags: [t0], image: a.bin, sha256: $sha_a, version: "1"}
  - {device: dev-4, image: a.bin, sha256: $sha_a, version: "1"}
  - {tags: [t1], image: a.bin, sha256: $sha_a, version: "1"}
YAML
"${ctl[@]}" apply twice.yaml --dry-run >out 2>err && fail "a device targeted twice was accepted"
cat >want <<WANT
fwupctl: twice.yaml:5:14: device 'dev-4' is targeted twice (first at line 4)
fwupctl: twice.yaml:6:12: device 'dev-1' is targeted twice (first at line 3, here through tags t1)
fwupctl: twice.yaml:6:12: device 'dev-3' is targeted twice (first at line 3, here through tags t1)
fwupctl: twice.yaml:6:12: device 'dev-5' is targeted twice (first at line 3, here through tags t1)
fwupctl: twice.yaml:6:12: device 'dev-7' is targeted twice (first at line 3, here through tags t1)
fwupctl: twice.yaml: 5 problems; nothing was queued
WANT
diff -u want err || fail "devices targeted twice"
[ "$(njobs)" = 0 ] || fail "a refused manifest queued a job"

# What must not change: the same targets without their mistakes queue as
# one batch, the tag selection included, and run.
cat >ok.yaml <<YAML
manifest: 1
name: fixed
targets:
  - {device: dev-0, image: a.bin, sha256: $sha_a, version: "1"}
  - {tags: [t1], image: a.bin, sha256: $sha_a, version: "1"}
YAML
"${ctl[@]}" apply ok.yaml --wait >out 2>err || fail "corrected manifest: $(cat err)"
[ "$(njobs)" = 5 ] || fail "corrected manifest: $(njobs) jobs, not 5"
for i in 0 1 3 5 7; do received_ok "$i" a.bin || fail "dev-$i content"; done
stop_daemon
echo "PASS"
