#!/usr/bin/env bash
# `cmake --install BUILD --prefix P` into a DESTDIR: every installed file and
# every default the programs show follows P (not the configure-time prefix),
# the daemon finds the plugins of its own installation (or build tree)
# without plugin_dir, and an edited config survives a reinstall.
. "$(dirname "$0")/lib.sh"

# install PREFIX DESTDIR
install_to() {
    DESTDIR=$2 cmake --install "$build" --prefix "$1" >"$work/install.log" 2>&1 ||
        fail "cmake --install --prefix $1: $(cat "$work/install.log")"
}
# A config that leaves plugin_dir to the daemon and needs every protocol.
cat >"$work/noplugindir.yaml" <<YAML
daemon: {socket: $work/s.sock, state_dir: $work/state}
links:
  - {name: u0, type: serial, path: /dev/null}
devices:
  - {id: a, link: u0, protocol: xmodem}
  - {id: b, link: u0, protocol: stm32-uart}
  - {id: c, link: u0, protocol: pic32cx-bz}
YAML
# check_plugins FWUPGWD DIR: the daemon loads all three plugins from DIR.
check_plugins() {
    local out
    out=$(env -u FWUPGW_PLUGIN_DIR "$1" -v --check-config -c "$work/noplugindir.yaml" 2>&1) ||
        fail "$1 without plugin_dir: $out"
    echo "$out" | grep -q "OK (1 link(s), 3 device(s), 3 protocol(s))" || fail "$1: $out"
    for so in xmodem stm32uart pic32cxbz; do
        echo "$out" | grep -qF "plugin $2/$so.so: protocol" || fail "$1 did not load $2/$so.so: $out"
    done
}

# The build tree's daemon uses the build tree's plugins.
check_plugins "$build/fwupgwd" "$(realpath "$build/plugins")"

d=$work/root
install_to /usr "$d"
[ -x "$d/usr/sbin/fwupgwd" ] || fail "no $d/usr/sbin/fwupgwd"
[ -x "$d/usr/bin/fwupctl" ] || fail "no $d/usr/bin/fwupctl"
plugins=$(dirname "$(find "$d/usr/lib" -path '*/fwupgw/protocols/xmodem.so')")
case "$plugins" in
"$d"/usr/lib/fwupgw/protocols | "$d"/usr/lib/*-linux-gnu*/fwupgw/protocols) ;;
*) fail "plugins not under $d/usr/lib: '$plugins'" ;;
esac
[ -z "$(find "$d" -path '*/local/*' -print -quit)" ] || fail "something went to /usr/local: $(find "$d" -path '*/local/*')"
cmp -s "$d/etc/fwupgw/fwupgw.yaml" "$(dirname "$0")/../../config/fwupgw.yaml" ||
    fail "no example config at $d/etc/fwupgw/fwupgw.yaml"
unit=$d/usr/lib/systemd/system/fwupgw.service
grep -qx "ExecStart=/usr/sbin/fwupgwd -c /etc/fwupgw/fwupgw.yaml" "$unit" ||
    fail "unit: $(grep Exec "$unit")"
grep -qx "ExecStartPre=/usr/sbin/fwupgwd --check-config -c /etc/fwupgw/fwupgw.yaml" "$unit" ||
    fail "unit: $(grep Exec "$unit")"
"$d/usr/sbin/fwupgwd" --help | grep -qF "(default /etc/fwupgw/fwupgw.yaml)" ||
    fail "installed --help: $("$d/usr/sbin/fwupgwd" --help)"
check_plugins "$d/usr/sbin/fwupgwd" "$(realpath "$plugins")"

# A reinstall keeps an edited config and refreshes the pristine example.
echo "# edited by the admin" >>"$d/etc/fwupgw/fwupgw.yaml"
echo "# stale" >>"$d/usr/share/doc/fwupgw/fwupgw.yaml.example"
install_to /usr "$d"
tail -1 "$d/etc/fwupgw/fwupgw.yaml" | grep -qx "# edited by the admin" || fail "reinstall replaced the config"
grep -q "Keeping: $d/etc/fwupgw/fwupgw.yaml" "$work/install.log" || fail "no note of the kept config"
cmp -s "$d/usr/share/doc/fwupgw/fwupgw.yaml.example" "$(dirname "$0")/../../config/fwupgw.yaml" ||
    fail "example not refreshed"

# Any other prefix has its own etc.
d=$work/local
install_to /usr/local "$d"
[ -f "$d/usr/local/etc/fwupgw/fwupgw.yaml" ] || fail "no $d/usr/local/etc/fwupgw/fwupgw.yaml"
[ ! -e "$d/etc" ] || fail "prefix /usr/local wrote to /etc"
grep -qx "ExecStart=/usr/local/sbin/fwupgwd -c /usr/local/etc/fwupgw/fwupgw.yaml" \
    "$d/usr/local/lib/systemd/system/fwupgw.service" || fail "/usr/local unit"
"$d/usr/local/sbin/fwupgwd" --help | grep -qF "(default /usr/local/etc/fwupgw/fwupgw.yaml)" ||
    fail "/usr/local --help: $("$d/usr/local/sbin/fwupgwd" --help)"
check_plugins "$d/usr/local/sbin/fwupgwd" "$(realpath "$(dirname "$(find "$d" -name xmodem.so)")")"
echo "PASS"
