#!/usr/bin/env bash
# Seed corpora for the fuzz harnesses, from real files: images written by
# the tools people build firmware with (objcopy, ld, dfu-suffix,
# dfuse-pack), the example config and the README's YAML, the requests of
# docs/socket-api.md, and engine sessions recorded against the simulated
# devices. Regenerated on every run so they follow the code.
#   tests/fuzz/seeds.sh FUZZ_BUILD_DIR OUTDIR
set -euo pipefail
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/integration/flash_elf.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rm -rf "${out:?}"/*
mkdir -p "$out"/{bin,ihex,srec,dfu,dfuse,elf,auto,config,manifest,request,xmodem,stm32uart,pic32cxbz}

# ---- images ----
cd "$tmp"
head -c 700 /dev/urandom >a.bin
head -c 64 /dev/urandom >b.bin
printf 'hello world\n' >notes.txt
objcopy -I binary -O ihex --change-addresses 0x08000000 a.bin a.hex
objcopy -I binary -O ihex b.bin b.hex # 16-bit addresses only
objcopy -I binary -O srec --change-addresses 0x08000000 a.bin a.srec # S3
objcopy -I binary -O srec b.bin b.srec                               # S1
cp a.bin text.bin
cp b.bin data.bin
link_flash_elf "$tmp"
objcopy -O ihex app.elf sparse.hex # an extended linear address record and two runs
objcopy -O srec app.elf sparse.srec
objcopy -I binary -O elf64-x86-64 -B i386:x86-64 b.bin b64.o
ld -N -m elf_x86_64 -Ttext=0x1000 -e 0x1000 --build-id=none -o app64.elf b64.o 2>/dev/null ||
    cp b64.o app64.elf
cp a.bin app.dfu
dfu-suffix -a app.dfu -v 1209 -p 7d02 >/dev/null
dfuse-pack -b 0x08000000:a.bin -b 0x08004000:b.bin -D 0x0483:0xdf11 two.dfuse >/dev/null
dfuse-pack -b 0x1FFFC000@1:b.bin -D 0x0483:0xdf11 alt.dfuse >/dev/null

cp a.bin b.bin "$out/bin/"
cp a.hex b.hex sparse.hex "$out/ihex/"
cp a.srec b.srec sparse.srec "$out/srec/"
cp app.elf app64.elf "$out/elf/"
cp app.dfu "$out/dfu/"
cp two.dfuse alt.dfuse "$out/dfuse/"
cp a.bin a.hex sparse.srec app.elf app.dfu two.dfuse notes.txt "$out/auto/"

# ---- YAML: the example config, and the README's config and manifests ----
cp "$top/config/fwupgw.yaml" "$out/config/"
awk -v dir="$tmp" '/^```yaml/ {n++; f = dir "/readme" n ".yaml"; next}
    /^```/ {f = ""} f {print > f}' "$top/README.md"
for f in readme*.yaml; do
    [ -e "$f" ] || continue
    if grep -q '^manifest:' "$f"; then cp "$f" "$out/manifest/"; else cp "$f" "$out/config/"; fi
done
cat >"$out/manifest/full.yaml" <<YAML
manifest: 1
name: spring-rollout
targets:
  - device: sensor-01
    image: images/sensor.hex
    sha256: $(sha256sum a.hex | cut -d' ' -f1)
    version: "2.1.0"
    format: ihex
    address: 0x08000000
  - tags: [line-a, sensors]
    image: /abs/fw.bin
    sha256: '$(sha256sum a.bin | cut -d' ' -f1)'
    version: 2.10
  - {device: d3, image: x.dfu, sha256: $(sha256sum app.dfu | cut -d' ' -f1), version: 7, format: auto}
YAML

# ---- socket requests: docs/socket-api.md's, and one per method it lists ----
grep -h '^{"v": 1, "id": [0-9]*, "method"' "$top/docs/socket-api.md" >"$out/request/doc" || true
i=0
for m in $(grep -o '^### `[a-z.]*`' "$top/docs/socket-api.md" | tr -d '#` '); do
    i=$((i + 1))
    printf '{"v": 1, "id": %d, "method": "%s", "params": {"job": 12, "device": "dev3", "limit": 5}}\n' \
        "$i" "$m" >"$out/request/$m"
done
printf '{"id":"a","method":"jobs.queue","params":{"device":"d","image":{"data":"AAEC"},"format":"auto"}}\r\n\n{"id":[1],"method":"x"}\nnot json\n{"id":null}\n' \
    >"$out/request/mixed"

# ---- engine sessions ----
for p in xmodem stm32uart pic32cxbz; do
    "$build/fuzz/record_$p" "$out/$p" >/dev/null
done
