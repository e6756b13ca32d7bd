#!/usr/bin/env bash
# One manifest updating a mixed fleet over real pseudo-terminals: an XMODEM
# loader, an STM32 ROM bootloader (AN3155) and two PIC32CX-BZ serial DFU
# bootloaders, one held in DFU mode by its pin, one that only listens for
# 600 ms after a reset that happens 5 s after power-on (the job must be
# pinging by then and catch the window).
. "$(dirname "$0")/lib.sh"

# The window widens under valgrind (FWUP_TIME_SCALE), which slows the daemon.
start_sim 4 --device-model 1:stm32 --device-model 2:pic32 --device-options 2:trigger=gpio \
    --device-model 3:pic32 --device-options 3:app_first=1,reset_after_ms=5000,window=$((600 * time_scale))
cat >"$work/fwupgw.yaml" <<YAML
daemon: {socket: $sock, state_dir: $work/state, plugin_dir: $build/plugins}
links:
  - {name: u0, type: serial, path: $work/sim/dev0}
  - {name: u1, type: serial, path: $work/sim/dev1, parity: none}   # a real STM32 wants even
  - {name: u2, type: serial, path: $work/sim/dev2}
  - {name: u3, type: serial, path: $work/sim/dev3}
devices:
  - {id: xm, link: u0, protocol: xmodem, flash: {base: 0x08000000, size: 256K}}
  - {id: stm, link: u1, protocol: stm32-uart, flash: {base: 0x08000000, size: 128K}}
  - {id: pic-gpio, link: u2, protocol: pic32cx-bz, flash: {base: 0x01080000, size: 512K},
     options: {trigger: gpio}}
  - {id: pic-timer, link: u3, protocol: pic32cx-bz, flash: {base: 0x01080000, size: 512K}}
YAML
start_daemon

make_image "$work/xm.bin" 20000
make_image "$work/stm.bin" 30001
objcopy -I binary -O ihex --change-addresses 0x08000000 "$work/stm.bin" "$work/stm.hex"
make_image "$work/pic.bin" 40000
sha() { sha256sum "$1" | cut -c1-64; }
cat >"$work/m.yaml" <<YAML
manifest: 1
name: mixed-fleet
targets:
  - {device: xm, image: xm.bin, sha256: $(sha "$work/xm.bin"), version: "1"}
  - {device: stm, image: stm.hex, sha256: $(sha "$work/stm.hex"), version: "2"}
  - {device: pic-gpio, image: pic.bin, sha256: $(sha "$work/pic.bin"), version: "3"}
  - {device: pic-timer, image: pic.bin, sha256: $(sha "$work/pic.bin"), version: "3"}
YAML
"${ctl[@]}" apply "$work/m.yaml" --wait || fail "mixed batch failed"
received_ok 0 "$work/xm.bin" || fail "xmodem device content"
received_ok 1 "$work/stm.bin" || fail "stm32 flash content"
received_ok 2 "$work/pic.bin" || fail "pic32 (gpio) slot content"
received_ok 3 "$work/pic.bin" || fail "pic32 (timer) slot content"
kinds=$("${ctl[@]}" --json history pic-timer | jq -r '[.events[].phase] | unique | join(",")')
echo "$kinds" | grep -q "waiting for bootloader" || fail "no waiting phase: $kinds"
stop_daemon
echo "PASS"
