# Shared by tools/demo and tools/test: install what is missing, configure,
# build. Sourced, not run. Honours BUILD_DIR (default ./build) and
# CMAKE_ARGS. Idempotent: a second run only rebuilds what changed.

# Everything the build and the tests call that a Debian 12 minbase root
# lacks (tools/fresh-test proves the list there): reference peers (lrzsz,
# stm32flash), test helpers (python3 runs tools/mutate), the kernel tier's
# QEMU and guest tools.
FWUP_PACKAGES="build-essential cmake pkg-config binutils libuv1-dev libsqlite3-dev \
libyaml-dev libusb-1.0-0-dev libsocketcan-dev check libjansson-dev libsodium-dev \
zlib1g-dev libsystemd-dev libgpiod-dev lrzsz stm32flash sqlite3 jq socat util-linux python3 \
qemu-system-x86 busybox-static cpio can-utils usbutils dfu-util"

fwup_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$fwup_top/build}

fwup_install_packages() {
    local missing=()
    for p in $FWUP_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing: ${missing[*]}"
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

fwup_build() {
    echo "== configuring and building in $BUILD_DIR"
    cmake -S "$fwup_top" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" 2>&1 | grep -E "warning|error|Error" || true
    cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null
}

fwup_setup() {
    set -e
    fwup_install_packages
    fwup_build
}
