#!/usr/bin/env bash
# --format auto through fwupctl and the daemon: a file that looks like a
# format (or like text) but fails its checks is refused, naming the file and
# the reason, and nothing is queued; what was detected (format, addresses,
# bytes) is shown by queue and apply --dry-run; an ELF linked by binutils
# with .data loaded from flash (LMA != VMA) lands at its physical addresses.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/flash_elf.sh"

start_sim 3
write_config 3
start_daemon

njobs() { "${ctl[@]}" --json status | jq '.jobs | length'; }
nevents() { "${ctl[@]}" --json history | jq '.events | length'; }

# A DFU file with one corrupted byte, and a 12-byte text file.
make_image "$work/app.bin" 40960
cp "$work/app.bin" "$work/app.dfu"
dfu-suffix -a "$work/app.dfu" -v 1209 -p 7d02 >/dev/null
printf '\xa5' | dd of="$work/app.dfu" bs=1 seek=1000 conv=notrunc status=none
printf 'hello world\n' >"$work/notes.txt"

out=$("${ctl[@]}" queue dev-0 "$work/app.dfu" 2>&1) && fail "corrupted DFU file queued: $out"
for want in app.dfu "CRC mismatch" "--format bin"; do
    grep -qF -- "$want" <<<"$out" || fail "corrupted DFU refusal lacks '$want': $out"
done
out=$("${ctl[@]}" queue dev-0 "$work/notes.txt" 2>&1) && fail "text file queued: $out"
for want in notes.txt "looks like text" "12 bytes" "--format bin"; do
    grep -qF -- "$want" <<<"$out" || fail "text refusal lacks '$want': $out"
done
# The same refusals through a manifest: nothing of the batch is queued.
cat >"$work/bad.yaml" <<YAML
manifest: 1
targets:
  - {device: dev-0, image: app.bin, sha256: $(sha256sum "$work/app.bin" | cut -d' ' -f1), version: "1"}
  - {device: dev-1, image: app.dfu, sha256: $(sha256sum "$work/app.dfu" | cut -d' ' -f1), version: "1"}
YAML
out=$("${ctl[@]}" apply "$work/bad.yaml" 2>&1) && fail "manifest with a corrupted DFU file queued"
grep -q "CRC mismatch" <<<"$out" || fail "manifest refusal lacks the reason: $out"
[ "$(njobs)" = 0 ] || fail "a refused image queued a job"
[ "$(nevents)" = 0 ] || fail "a refused image left history"

# What must not change: --format bin takes any file as raw bytes.
out=$("${ctl[@]}" queue dev-2 "$work/notes.txt" --format bin --wait) || fail "--format bin refused"
grep -qF "(bin, 0x08000000-0x0800000B, 12 bytes)" <<<"$out" || fail "bin summary: $out"
received_ok 2 "$work/notes.txt" || fail "dev2 did not receive notes.txt"

# Raw binary: at the flash base, format and range shown.
out=$("${ctl[@]}" queue dev-0 "$work/app.bin" --wait) || fail "raw binary refused"
grep -qE "^queued job [0-9]+: dev-0 <- $work/app.bin \(bin, 0x08000000-0x08009FFF, 40960 bytes\)$" \
    <<<"$out" || fail "bin queue line: $out"
received_ok 0 "$work/app.bin" || fail "dev0 did not receive app.bin"

# Intel HEX at 0x08004000.
make_image "$work/h.bin" 5000
objcopy -I binary -O ihex --change-addresses 0x08004000 "$work/h.bin" "$work/h.hex"
out=$("${ctl[@]}" --json queue dev-1 "$work/h.hex") || fail "HEX refused"
[ "$(jq -c .image <<<"$out")" = \
    '{"format":"ihex","address_first":134234112,"address_last":134239111,"bytes":5000,"segments":1}' ] ||
    fail "HEX --json image summary: $out"
wait_for job_state_is "$(jq -r .job.id <<<"$out")" succeeded

# ELF as the linker writes it: .text in flash, .data running from RAM but
# stored in flash right after .text, .bss not in the file.
make_image "$work/text.bin" 1000
make_image "$work/data.bin" 100
link_flash_elf "$work"
readelf -lW "$work/app.elf" | grep -q "LOAD.* 0x20000000 0x080003e8 0x00064 0x00264" ||
    fail "the linker did not produce the LMA != VMA case: $(readelf -lW "$work/app.elf")"
out=$("${ctl[@]}" queue dev-1 "$work/app.elf" --wait) || fail "ELF refused: $out"
grep -qF "dev-1 <- $work/app.elf (elf, 0x08000000-0x0800044B, 1100 bytes)" <<<"$out" ||
    fail "ELF queue line: $out"
cat "$work/text.bin" "$work/data.bin" >"$work/elf-flash.bin"
received_ok 1 "$work/elf-flash.bin" || fail "dev1 did not receive .text and .data's load image"

# apply --dry-run shows the same, in the table and under --json.
cat >"$work/m.yaml" <<YAML
manifest: 1
targets:
  - {device: dev-0, image: app.bin, sha256: $(sha256sum "$work/app.bin" | cut -d' ' -f1), version: "1"}
  - {device: dev-1, image: h.hex, sha256: $(sha256sum "$work/h.hex" | cut -d' ' -f1), version: "1"}
  - {device: dev-2, image: app.elf, sha256: $(sha256sum "$work/app.elf" | cut -d' ' -f1), version: "1"}
YAML
before=$(njobs)
out=$("${ctl[@]}" apply "$work/m.yaml" --dry-run) || fail "dry run failed: $out"
head -1 <<<"$out" | grep -qE "^DEVICE +FORMAT +ADDRESSES +BYTES +VERSION +SHA256$" ||
    fail "dry-run header: $out"
grep -qE "^dev-0 +bin +0x08000000-0x08009FFF +40960 " <<<"$out" || fail "dry-run bin row: $out"
grep -qE "^dev-1 +ihex +0x08004000-0x08005387 +5000 " <<<"$out" || fail "dry-run hex row: $out"
grep -qE "^dev-2 +elf +0x08000000-0x0800044B +1100 " <<<"$out" || fail "dry-run elf row: $out"
out=$("${ctl[@]}" --json apply "$work/m.yaml" --dry-run) || fail "dry run --json failed"
[ "$(jq -r '[.plan[].image.format] | join(",")' <<<"$out")" = bin,ihex,elf ] ||
    fail "dry-run --json formats: $out"
[ "$(njobs)" = "$before" ] || fail "a dry run queued jobs"
