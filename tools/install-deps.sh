#!/bin/sh
# Installs what building and testing qk needs on Debian/Ubuntu (run as root
# or with sudo available). Idempotent.
#   build:   compiler, meson, ninja, pkg-config, jansson (JSON), cmocka (tests)
#   vulkan:  headers, glslc (GLSL -> SPIR-V), spirv-val; lavapipe (Mesa's CPU
#            Vulkan) and the validation layer so the tests run without a GPU
#   opencl:  headers, ICD loader, PoCL (CPU OpenCL) so the tests run without a GPU
#   cuda:    nvcc is not packaged here; the CUDA backend builds where it is on PATH
#   python:  a venv in .venv with the anchor libraries, for the consumer tests
set -eu
cd "$(dirname "$0")/.."
pkgs="gcc meson ninja-build pkg-config libcmocka-dev libjansson-dev
      libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers
      ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
      python3 python3-venv time"
if [ "$(id -u)" -eq 0 ]; then as_root=""; else as_root="sudo"; fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing
fi
./tools/install-python-deps.sh
