#!/bin/sh
# Same-run A/B of qtool bench on the lent GPU machine: B is this tree
# (built by device-check.sh, which also runs the suite and crosschecks as
# its QK_* variables say), each A a tarball of another revision made
# beforehand with `git archive REV -o NAME.tar` in the repository root (the
# device copy has no git history; .gitignore keeps ab-*.tar out of commits,
# so carry them). The bases are built beside B, in parallel, and each
# base's OpenCL program is compiled once before any timing (a cold compile
# takes about 90 s on NVIDIA's driver: done side by side, not in turn).
# Then each row runs B, A, B, A against its base.
#
#   tools/device-ab.sh BASE.tar [MORE.tar...] ROW...
#   ROW: BACKEND:FORMAT[+FORMAT...]:DTYPE[:quantize|:dequantize][@MORE.tar]
#   tools/device-ab.sh ab-base.tar ab-div.tar cuda:nvfp4:bf16 \
#       opencl:int8_blockwise+mxfp8:bf16:dequantize \
#       opencl:int8_tensorwise:convrot=256:bf16:quantize@ab-div.tar
#
# A row without @ compares with the first base, and its lines say "A";
# against another base they say that base's name. A row without a
# direction runs both. Formats joined by + run in one qtool process a
# turn: each process makes its 1 GiB input and opens the backend again
# (about 12 s on the H100), so grouping lets more rows fit one call.
# QK_CHECK_ARGS passes options to device-check.sh (e.g. "--bench vulkan").
# Carry ".devdeps", ".gl" (as for device-check.sh) and the tarballs. Logs
# go to $OUT.
set -u
cd "$(dirname "$0")/.." || exit 1
bases=""
while [ $# -gt 0 ] && [ "${1%.tar}" != "$1" ] && [ "${1#*:}" = "$1" ]; do
    [ -f "$1" ] || { echo "device-ab: no base $1" >&2; exit 2; }
    bases="$bases $1"
    shift
done
if [ -z "$bases" ] || [ $# -lt 1 ]; then
    echo "usage: $0 BASE.tar [MORE.tar...] BACKEND:FORMAT:DTYPE[:DIRECTION][@MORE.tar]..." >&2
    exit 2
fi
first=${bases# }
first=${first%% *}
# Every row checked before any build: a row qtool refuses would print nothing.
for spec in "$@"; do
    case "$spec" in
        *@*) case " $bases " in *" ${spec##*@} "*) ;; *) echo "device-ab: $spec names no base given" >&2; exit 2 ;; esac ;;
    esac
    row=${spec%@*}
    case "${row%%:*}" in cuda | vulkan | opencl | cpu) ;; *) echo "device-ab: $spec: no backend cuda|vulkan|opencl|cpu" >&2; exit 2 ;; esac
    case "$row" in *:quantize | *:dequantize) row=${row%:*} ;; esac
    case "${row##*:}" in bf16 | f16 | f32) ;; *) echo "device-ab: $spec: one dtype a row, bf16|f16|f32" >&2; exit 2 ;; esac
done
out=${OUT:-/tmp}
root=/tmp/qk-devroot
mkdir -p "$root"
for deb in .devdeps/*.deb; do dpkg-deb -x "$deb" "$root"; done
lib="$root/usr/lib/x86_64-linux-gnu"
export PATH="$root/usr/bin:$PATH" PKG_CONFIG="$root/usr/bin/pkgconf" LD_LIBRARY_PATH="$lib" LIBRARY_PATH="$lib"
export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$root/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$root"
# A base's tree: /tmp/qk-ab-NAME (NAME: the tarball's name less .tar).
tree() { b=$(basename "$1" .tar); echo "/tmp/qk-ab-$b"; }
pids=""
for b in $bases; do
    t=$(tree "$b")
    (rm -rf "$t" && mkdir -p "$t" && tar xf "$b" -C "$t" && cd "$t" &&
        meson setup build-a ${QK_MESON_ARGS:--Dsm_targets=90} >/dev/null &&
        ninja -C build-a tools/qtool/qtool) >"$out/$(basename "$b" .tar)-build.log" 2>&1 &
    pids="$pids $!"
done
QK_MESON_ARGS="${QK_MESON_ARGS:--Dsm_targets=90}" ./tools/device-check.sh ${QK_CHECK_ARGS:-} >"$out/check.log" 2>&1
echo "device-check rc $?"
for p in $pids; do
    wait "$p" || { echo "a base did not build: $out/*-build.log" >&2; exit 1; }
done
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
qtool_of() { if [ "$1" = B ]; then echo build-device/tools/qtool/qtool; else echo "$(tree "$1")/build-a/tools/qtool/qtool"; fi; }
case " $* " in
    *" opencl:"*)
        echo "compiling every tree's OpenCL program ($(date +%T))"
        for v in B $bases; do
            $(qtool_of "$v") bench --backend opencl --mib 1 --dtype bf16 --format int8_tensorwise \
                --direction quantize >/dev/null 2>&1 &
        done
        wait
        echo "compiled ($(date +%T))" ;;
esac
for spec in "$@"; do
    base=$first
    case "$spec" in *@*) base=${spec##*@}; spec=${spec%@*} ;; esac
    label=A
    [ "$base" = "$first" ] || label=$(basename "$base" .tar)
    be=${spec%%:*} rest=${spec#*:}
    dir=""
    case "$rest" in *:quantize | *:dequantize) dir=${rest##*:}; rest=${rest%:*} ;; esac
    f=${rest%:*} d=${rest##*:} # formats may hold ':' (nf4:dq)
    fopts="" # one --format a format (none holds a space)
    for one in $(echo "$f" | tr + ' '); do fopts="$fopts --format $one"; done
    echo "# $spec against $label ($(date +%T))"
    for v in B A B A; do
        q=$(qtool_of B)
        [ "$v" = A ] && q=$(qtool_of "$base")
        name=$v
        [ "$v" = A ] && name=$label
        log="$out/ab-run.log"
        if $q bench --backend "$be" --mib "${QK_BENCH_MIB:-1024}" --dtype "$d" $fopts ${dir:+--direction "$dir"} >"$log" 2>&1; then
            grep -E "^($(echo "$f" | tr + '|')) +(quantize|dequantize)" "$log" | sed "s/^/$name $be $d /"
        else
            echo "$name $be $d: qtool bench failed:"
            tail -n 3 "$log"
        fi
    done
done
