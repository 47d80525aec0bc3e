#!/bin/sh
# The OpenCL program of a source tree compiled for NVIDIA without a GPU:
# clang (OpenCL C 1.2, target nvptx64) with libclc's builtins, every call
# inlined (NVIDIA's compiler inlines the kernels' helpers too), then ptxas
# -v for sm_90. Prints one line per kernel: its PTX instruction count and
# its stack frame and spills. A proxy only: NVIDIA's own OpenCL compiler
# makes the real code (tools/ptx-stack.sh reads that on the GPU machine).
# Stack frames here overstate the driver's: on 2026-12-05 four kernels
# had one here (bnb4_quantize64 320 B) where the driver's PTX had none
# when tools/ptx-stack.sh last read it (docs/BACKEND-OPENCL.md). Two
# trees compiled here still show which kernels a change touched and
# whether it added a frame.
#
#   tools/cl-ptx-offline.sh [TREE] > kernels.txt     (TREE: default .)
#
# Needs clang-14, llvm-14 and libclc-14 (Debian) and ptxas (the CUDA
# toolkit). Built as on NVIDIA: -DQK_NATIVE_MUL -DQK_NATIVE_FINITE
# -DQK_SPECIALISE (cl_program.c); QK_CL_DEFINES adds more (e.g.
# -DQK_NO_HALF_STORES=1). QK_CL_APPEND names an OpenCL file appended to
# the program: kernels that call a body with constant arguments (one
# dtype, one group size) count the instructions of that path alone.
set -eu
tree=${1:-.}
clc=/usr/lib/clc/nvptx64--nvidiacl.bc
ptxas=$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2>/dev/null || true)
for tool in clang-14 llvm-link-14 opt-14 llc-14; do
    command -v "$tool" >/dev/null || { echo "cl-ptx-offline: $tool not found (apt install clang-14 llvm-14)" >&2; exit 2; }
done
[ -f "$clc" ] || { echo "cl-ptx-offline: $clc not found (apt install libclc-14)" >&2; exit 2; }
[ -n "$ptxas" ] || { echo "cl-ptx-offline: no ptxas (the CUDA toolkit)" >&2; exit 2; }
build=$tree/src/backends/opencl/meson.build
[ -f "$build" ] || { echo "cl-ptx-offline: $build not found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the program's files in libqk's order: the input list of qk_opencl_source
sed -n "/'qk_opencl_source'/,/command/p" "$build" | grep -o "'[^']*\.\(cl\|h\)'" | tr -d "'" |
    sed "s#^\.\./\.\./\.\./#$tree/#; s#^\.\./\.\./#$tree/src/#" > "$tmp/files"
[ -s "$tmp/files" ] || { echo "cl-ptx-offline: no source list in $build" >&2; exit 2; }
# shellcheck disable=SC2046
cat $(cat "$tmp/files") ${QK_CL_APPEND:-} > "$tmp/program.cl"
# clang 14 defines __OPENCL_C_VERSION__ but not __OPENCL_VERSION__, which
# qk_codec.h tests; cl_khr_fp16 declares the vstore_half builtins it lacks otherwise
clang-14 -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -Xclang -finclude-default-header \
    -Xclang -cl-ext=+cl_khr_fp16 -D__OPENCL_VERSION__=120 -DQK_NATIVE_MUL=1 -DQK_NATIVE_FINITE=1 \
    -DQK_SPECIALISE=1 ${QK_CL_DEFINES:-} -O3 -emit-llvm -c "$tmp/program.cl" -o "$tmp/p.bc" 2> "$tmp/clang.log" ||
    { cat "$tmp/clang.log" >&2; exit 1; }
# (libclc's module names another target triple: llvm-link warns, harmlessly)
llvm-link-14 "$tmp/p.bc" "$clc" -o "$tmp/linked.bc" 2> "$tmp/link.log" || { cat "$tmp/link.log" >&2; exit 1; }
opt-14 -O3 -inline-threshold=1000000 "$tmp/linked.bc" -o "$tmp/opt.bc"
llc-14 -march=nvptx64 -mcpu=sm_80 -mattr=+ptx70 "$tmp/opt.bc" -o "$tmp/p.ptx"
"$ptxas" -arch=sm_90 -v "$tmp/p.ptx" -o "$tmp/p.cubin" > "$tmp/ptxas.log" 2>&1 || { head "$tmp/ptxas.log" >&2; exit 1; }
awk '/^\.entry/ { split($2, a, "("); k = a[1] } /^\t[a-z@]/ && k != "" { n[k]++ }
     END { for (k in n) print k, n[k] }' "$tmp/p.ptx" | sort > "$tmp/counts"
awk '/Function properties for/ { k = $NF } /bytes stack frame/ { print k, $1, $5, $9 }' "$tmp/ptxas.log" |
    sort > "$tmp/frames"
join -a 1 "$tmp/counts" "$tmp/frames" |
    awk '{ printf "%-32s %6d PTX instructions, stack frame %s B, spills %s/%s B\n", $1, $2, $3, $4, $5 }'
