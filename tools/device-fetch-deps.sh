#!/bin/sh
# Run on the development machine (it reaches Debian's archive): downloads the
# build dependencies that the GPU machine lacks into .devdeps/ (git-ignored),
# which tools/device-check.sh unpacks there. Carry ".devdeps" with the run.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .devdeps
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || echo '/.devdeps/' >> .git/info/exclude
cd .devdeps
# Build tools: pkg-config, cmocka, jansson; glslc and spirv-val compile and
# validate the Vulkan shaders (the GPU machine has a Vulkan driver but no
# shader compiler).
apt-get download libcmocka0 libcmocka-dev libjansson4 libjansson-dev pkgconf pkgconf-bin libpkgconf3 \
    glslc libshaderc1 spirv-tools libvulkan-dev
# The Vulkan loader, unpacked over / by tools/device-check.sh (carry .gl).
mkdir -p ../.gl
grep -qx '/.gl/' ../.git/info/exclude || echo '/.gl/' >> ../.git/info/exclude
lists=/tmp/qk-apt-amd64
mkdir -p "$lists/partial"
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
apt-get $o update -qq
(cd ../.gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
