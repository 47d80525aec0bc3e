#!/bin/sh
# Builds qk on the lent GPU machine and runs the whole test suite, `qtool
# devices` and `qtool crosscheck` in one call. The machine has meson, ninja and
# a compiler but not cmocka, jansson or pkg-config: tools/device-fetch-deps.sh
# puts their Debian packages in .devdeps/ (carried), unpacked here into a
# private root rather than over the system.
set -eu
cd "$(dirname "$0")/.."
root=/tmp/qk-devroot
mkdir -p "$root"
for deb in .devdeps/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
lib="$root/usr/lib/x86_64-linux-gnu"
export PATH="$root/usr/bin:$PATH"
export PKG_CONFIG="$root/usr/bin/pkgconf"
export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$root/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$root"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LIBRARY_PATH="$lib"
echo "== machine"
uname -srm
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
cc --version | head -1
meson --version
echo "== build"
meson setup build-device --wipe >/dev/null 2>&1 || meson setup build-device
ninja -C build-device
echo "== tests"
status=0
meson test -C build-device --print-errorlogs || status=1
echo "== qtool devices"
build-device/tools/qtool/qtool devices || status=1
echo "== qtool crosscheck"
build-device/tools/qtool/qtool crosscheck || status=1
if [ -n "${OUT:-}" ]; then
    cp build-device/meson-logs/testlog.txt "$OUT/testlog.txt" 2>/dev/null || true
fi
exit $status
