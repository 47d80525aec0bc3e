#!/bin/sh
# Builds one variant of a Vulkan shader for QK_VULKAN_SHADER_DIR
# (src/backends/vulkan/vk_shader_dir.c) by the steps meson takes for the
# embedded ones (src/backends/vulkan/meson.build): glslc, qk-spv-patch,
# spirv-val. The source may be a modified copy of a shader anywhere: it
# includes from shaders/glsl and src/codec as they do.
#   tools/vk-variant.sh BUILD OUTDIR NAME SOURCE.comp [glslc option...] [-- qk-spv-patch option...]
# writes OUTDIR/NAME.spv, NAME the build it stands for (convrot_quantize256,
# convrot_quantize256_f16d: the names QK_VULKAN_PIPELINE_STATS prints);
# the _f16n and _f16d builds need -DQK_F16_NATIVE (and -DQK_F16_DENORMS
# -- --denorm-preserve-16), as meson gives them.
set -eu
[ $# -ge 4 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1 out=$2 name=$3 src=$4
shift 4
glslc_opts="" patch_opts=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do glslc_opts="$glslc_opts $1"; shift; done
[ $# -gt 0 ] && shift
patch_opts="$*"
mkdir -p "$out"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
glslc --target-env=vulkan1.2 -Werror -I "$root/src/codec" -I "$root/shaders/glsl" $glslc_opts "$src" -o "$tmp"
"$build/src/backends/vulkan/qk-spv-patch" $patch_opts "$tmp" "$out/$name.spv"
spirv-val --target-env vulkan1.2 "$out/$name.spv"
echo "$out/$name.spv"
