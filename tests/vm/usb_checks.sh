#!/bin/sh
# USB smoke checks, run inside the guest (tests/vm/run --usb -- sh usb_checks.sh BUILD_DIR).
# A gadgetfs device on dummy_hcd, found and driven by our libusb program and
# seen by lsusb and dfu-util. One "ok"/"not ok" line per check.
set -u
b=$1
id=1209:0001
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

"$b/vm_usb_gadget" -v $id >"$t/gadget" 2>&1 &
gadget=$!

# 1. our libusb program: by VID:PID, by port path, vendor control transfers
"$b/vm_usb_smoke" $id 30 >"$t/smoke" 2>&1
result $? "libusb finds the gadget and its vendor requests work"
sed 's/^/# /' "$t/smoke"
path=$(sed -n 's/^path //p' "$t/smoke")

# 2. lsusb (usbutils) sees it
lsusb -d $id >"$t/lsusb" 2>&1 && grep -q "ID $id" "$t/lsusb"
result $? "lsusb -d $id"
sed 's/^/# /' "$t/lsusb"

# 3. dfu-util lists its DFU interface at the same port path
dfu-util -l >"$t/dfu" 2>&1
grep -q "Found DFU: \[$id\].*path=\"$path\"" "$t/dfu"
result $? "dfu-util -l lists [$id] at path $path"
grep 'Found' "$t/dfu" | sed 's/^/# /'

# 4. closing ep0 disconnects: the device goes away
kill -TERM $gadget
wait $gadget
gst=$?
i=0
while lsusb -d $id >/dev/null 2>&1 && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
! lsusb -d $id >/dev/null 2>&1 && [ $gst = 0 ]
result $? "gadget exits cleanly on SIGTERM and the device disappears"
sed 's/^/# /' "$t/gadget"

rm -rf "$t"
exit $failed
