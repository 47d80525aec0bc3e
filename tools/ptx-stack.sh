#!/bin/sh
# Kernels whose compiled code keeps a stack frame (an array indexed by a
# variable, or spills), from PTX as NVIDIA's OpenCL caches it (a qk binary
# header, then the PTX text) or plain PTX: ptxas -v for sm_90, one line per
# kernel with a nonzero frame, then a count. On the H200 this found the
# lane's words of bnb4_quantize64 in local memory (32 bytes, every step).
#
#   tools/ptx-stack.sh FILE.ptx...
set -u
ptxas=$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2>/dev/null || true)
[ -n "$ptxas" ] || { echo "ptx-stack: no ptxas on this machine" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for f in "$@"; do
    # the PTX starts at its first comment line; NUL bytes end it
    tr -d '\000' < "$f" | sed -n '/^\/\//,$p' > "$tmp/k.ptx"
    if ! "$ptxas" -arch=sm_90 -v "$tmp/k.ptx" -o "$tmp/k.cubin" > "$tmp/log" 2>&1; then
        echo "ptx-stack: ptxas failed on $f" >&2
        sed -n 1,5p "$tmp/log" >&2
        status=1
        continue
    fi
    awk -v f="$(basename "$f")" '
        /Compiling entry function/ { k = $7; gsub(/\047/, "", k) }
        /bytes stack frame/ { if ($1 + 0 > 0) { sub(/^ +/, ""); print f ": " k ": " $0; n++ } }
        END { print f ": kernels with a stack frame: " (n + 0) }' "$tmp/log"
done
exit $status
