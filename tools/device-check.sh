#!/bin/sh
# Builds qk on the lent GPU machine with every backend its tools allow and
# runs the whole test suite, `qtool devices` and `qtool crosscheck` (every
# available backend and device) in one call; `--bench B[,B...]` adds
# `qtool bench` on those backends, `--large` the large crosscheck shapes;
# `--build-only` stops after the build; `--memcheck` runs the CUDA
# crosscheck again under compute-sanitizer, with padding after every
# allocation, so a kernel writing or reading past the end of a tensor fails
# it; `--ptx-stack` lists the OpenCL kernels whose PTX keeps a stack frame
# (tools/ptx-stack.sh: about a minute of ptxas a program binary, so not by
# default: the whole check must fit one device call); QK_PROFILE adds
# Nsight Compute summaries of chosen CUDA kernels (see the end of this
# file). test_opencl runs as QK_OPENCL_SHARDS (default 4)
# processes side by side.
#
# Carry ".devdeps" (tools/device-fetch-deps.sh: cmocka, jansson, pkg-config,
# glslc, spirv-val, unpacked into a private root) and ".gl" (the Vulkan
# loader, unpacked over / as the device README prescribes).
set -eu
cd "$(dirname "$0")/.."
bench="" large="" build_only="" memcheck="" ptx_stack=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bench) bench=$(echo "$2" | tr , ' '); shift 2 ;;
        --large) large=--large; shift ;;
        --build-only) build_only=1; shift ;;
        --memcheck) memcheck=1; shift ;;
        --ptx-stack) ptx_stack=1; shift ;;
        *) echo "usage: $0 [--bench cuda,vulkan,opencl,cpu] [--large] [--build-only] [--memcheck] [--ptx-stack]" >&2; exit 2 ;;
    esac
done
root=/tmp/qk-devroot
mkdir -p "$root"
for deb in .devdeps/*.deb; do
    dpkg-deb -x "$deb" "$root"
done
if ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
    export VK_DRIVER_FILES="$icd"
fi
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
nvcc --version 2>/dev/null | tail -1 || echo "no nvcc"
echo "== build"
# QK_MESON_ARGS: extra options, e.g. "-Dcuda=disabled" to leave a backend out
# or "-Dsm_targets=90" for a quicker CUDA build. A warm machine keeps
# build-device between calls made with the same options; other options (or
# QK_FRESH=1) start it from nothing, since a reconfigure keeps every option
# it is not given (a -Dcuda=disabled call left the next call without CUDA).
if [ -n "${QK_FRESH:-}" ] || [ "$(cat build-device/qk-meson-args 2>/dev/null)" != "${QK_MESON_ARGS:-}" ]; then
    rm -rf build-device
fi
if [ -d build-device/meson-info ]; then
    meson configure build-device ${QK_MESON_ARGS:-} >/dev/null
else
    meson setup build-device ${QK_MESON_ARGS:-} >/dev/null
fi
printf '%s' "${QK_MESON_ARGS:-}" >build-device/qk-meson-args
grep -E "^ *(cuda|vulkan|opencl) backend" build-device/meson-logs/meson-log.txt || true
ninja -C build-device
[ -n "$build_only" ] && exit 0
echo "== tests"
status=0
# The consumer tests need the PyPI anchors (torch, comfy-kitchen, bitsandbytes)
# in .venv; the GPU machine reaches no package index, so they run in CI only.
# meson lists "qk / name" (1.0) or "qk:name" (1.12): keep the name.
tests=$(meson test -C build-device --list --no-rebuild 2>/dev/null | sed "s/.*[ :]//" | grep -E "^[A-Za-z0-9_]+$" | grep -vx -e consumers -e gguf_preset || true)
[ -n "$tests" ] || { echo "meson test --list gave no tests" >&2; exit 1; }
# QK_TESTS="cuda bnb_mean": only these suites, for a quick device iteration;
# QK_TEST_FILTER narrows them to the cmocka tests matching one pattern (only
# * and ? are wildcards: "test_[pg]*" matches nothing).
if [ -n "${QK_TESTS:-}" ]; then
    echo "(QK_TESTS: only $QK_TESTS)"
    tests=$QK_TESTS
fi
echo "(not run here, no .venv on this machine: consumers gguf_preset)"
# test_opencl runs as QK_OPENCL_SHARDS processes side by side (default 4,
# tests/shard.h), beside the other suites: on a cold program cache one
# process ran past a device call's limit. Each shard's output is printed
# after all have ended (and kept in $OUT).
shards=${QK_OPENCL_SHARDS:-4}
tests=$(echo $tests)
case " $tests " in
*" opencl "*)
    tests=$(echo $tests | tr ' ' '\n' | grep -vx opencl || true)
    logs=${OUT:-/tmp}
    k=0
    while [ $k -lt "$shards" ]; do
        (rc=0; QK_TEST_SHARD=$k/$shards build-device/tests/test_opencl > "$logs/test_opencl.$k.log" 2>&1 || rc=$?
         echo "exit status $rc" >> "$logs/test_opencl.$k.log") &
        k=$((k + 1))
    done
    opencl_shards=1 ;;
esac
if [ -n "$tests" ]; then
    meson test -C build-device --print-errorlogs $tests || status=1
fi
if [ -n "${opencl_shards:-}" ]; then
    wait
    k=0
    while [ $k -lt "$shards" ]; do
        echo "== test_opencl, shard $k of $shards"
        cat "$logs/test_opencl.$k.log"
        tail -1 "$logs/test_opencl.$k.log" | grep -qx "exit status 0" || status=1
        k=$((k + 1))
    done
fi
# The test log comes back even if a later step runs out of device time.
[ -n "${OUT:-}" ] && cp build-device/meson-logs/testlog.txt "$OUT/testlog.txt" 2>/dev/null || true
qtool=build-device/tools/qtool/qtool
echo "== qtool devices"
$qtool devices || status=1
# One backend at a time first, so a failure names its backend, then all together.
# QK_CROSSCHECK="cuda": only these backends' own crosschecks.
# Line-buffered, so that a driver that aborts the process (a compiler
# assertion) leaves the rows before it, naming the format that broke.
lines=$(command -v stdbuf >/dev/null && echo "stdbuf -oL" || true)
for b in ${QK_CROSSCHECK:-$($qtool devices 2>/dev/null | awk '$2 == "available" && $1 != "reference" {print $1}')}; do
    echo "== qtool crosscheck --backend $b $large"
    $lines $qtool crosscheck --backend "$b" $large || status=1
done
echo "== qtool crosscheck $large"
$lines $qtool crosscheck $large || status=1
if [ -n "$memcheck" ]; then
    echo "== compute-sanitizer memcheck: qtool crosscheck --backend cuda"
    sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
    if [ -z "$sanitizer" ]; then
        echo "no compute-sanitizer on this machine: memcheck not run"
        status=1
    else
        "$sanitizer" --tool memcheck --padding 4096 --leak-check no --error-exitcode 9 \
            $qtool crosscheck --backend cuda || status=1
    fi
fi
for b in $bench; do
    echo "== qtool bench --backend $b"
    $qtool bench --backend "$b" --mib "${QK_BENCH_MIB:-1024}" || status=1
done
# QK_PROFILE="bnb4_quantize:nf4 fp8_dequantize:float8_e4m3fn": Nsight Compute's
# speed-of-light, occupancy and stall summary of one launch of each kernel
# (qk_ prefix implied) in a 256 MiB bench of that format; full reports under $OUT.
ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null || true)
for kf in ${QK_PROFILE:-}; do
    k=${kf%%:*} f=${kf#*:}
    echo "== ncu qk_$k ($f)"
    [ -n "$ncu" ] || { echo "no ncu on this machine"; break; }
    rep=${OUT:-/tmp}/ncu_$k.txt
    "$ncu" -k "qk_$k" --launch-count 1 --section SpeedOfLight --section Occupancy --section WarpStateStats \
        $qtool bench --backend cuda --mib 256 --iters 1 --format "$f" > "$rep" 2>&1 || status=1
    grep -E "Duration|DRAM Throughput|Compute \(SM\)|Achieved Occupancy|Warp Cycles Per Issued" "$rep" || true
done
if [ -n "${OUT:-}" ]; then
    cp build-device/meson-logs/testlog.txt "$OUT/testlog.txt" 2>/dev/null || true
    # NVIDIA's OpenCL program binaries are PTX text: what its compiler made
    # of the kernels, for reading next to the CUDA backend's.
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/qk/opencl
    for f in "$cache"/*; do
        [ -f "$f" ] && grep -aq '^\.target sm_' "$f" && cp "$f" "$OUT/opencl-$(basename "$f").ptx"
    done 2>/dev/null || true
    # kernels that keep arrays in local memory (tools/ptx-stack.sh)
    [ -n "$ptx_stack" ] && ls "$OUT"/opencl-*.ptx >/dev/null 2>&1 && echo "== OpenCL kernels' stack frames" &&
        { ./tools/ptx-stack.sh "$OUT"/opencl-*.ptx || true; }
fi
exit $status
