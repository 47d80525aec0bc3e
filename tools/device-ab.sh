#!/bin/sh
# Same-run A/B of qtool bench on the lent GPU machine: B is this tree
# (built by device-check.sh, which also runs the suite and crosschecks as
# its QK_* variables say), A a tarball of another revision made beforehand
# with `git archive REV -o ab-base.tar` in the repository root (the device
# copy has no git history; .gitignore keeps the tarball out of commits, so
# carry it). A is built beside B, in parallel; then
# each case runs B, A, B, A.
#
#   tools/device-ab.sh ab-base.tar cuda:nvfp4:bf16 vulkan:nf4:f16 ...
#
# QK_CHECK_ARGS passes options to device-check.sh (e.g. "--bench vulkan").
# Carry ".devdeps", ".gl" (as for device-check.sh) and "ab-base.tar". Logs
# go to $OUT.
set -u
cd "$(dirname "$0")/.." || exit 1
if [ $# -lt 2 ] || [ ! -f "$1" ]; then
    echo "usage: $0 BASE.tar BACKEND:FORMAT:DTYPE..." >&2
    exit 2
fi
base=$1
shift
out=${OUT:-/tmp}
root=/tmp/qk-devroot
mkdir -p "$root"
for deb in .devdeps/*.deb; do dpkg-deb -x "$deb" "$root"; done
lib="$root/usr/lib/x86_64-linux-gnu"
export PATH="$root/usr/bin:$PATH" PKG_CONFIG="$root/usr/bin/pkgconf" LD_LIBRARY_PATH="$lib" LIBRARY_PATH="$lib"
export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$root/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
(rm -rf /tmp/qk-ab-base && mkdir -p /tmp/qk-ab-base && tar xf "$base" -C /tmp/qk-ab-base &&
    cd /tmp/qk-ab-base && meson setup build-a ${QK_MESON_ARGS:--Dsm_targets=90} >/dev/null &&
    ninja -C build-a tools/qtool/qtool) >"$out/ab-base-build.log" 2>&1 &
apid=$!
QK_MESON_ARGS="${QK_MESON_ARGS:--Dsm_targets=90}" ./tools/device-check.sh ${QK_CHECK_ARGS:-} >"$out/check.log" 2>&1
echo "device-check rc $?"
wait $apid || { echo "the base did not build: $out/ab-base-build.log" >&2; exit 1; }
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
for spec in "$@"; do
    be=${spec%%:*} rest=${spec#*:}
    f=${rest%:*} d=${rest##*:} # formats may hold ':' (nf4:dq)
    for v in B A B A; do
        q=build-device/tools/qtool/qtool
        [ "$v" = A ] && q=/tmp/qk-ab-base/build-a/tools/qtool/qtool
        $q bench --backend "$be" --mib "${QK_BENCH_MIB:-1024}" --dtype "$d" --format "$f" 2>&1 |
            grep -E "^$f +(quantize|dequantize)" | sed "s/^/$v $be $d /"
    done
done
