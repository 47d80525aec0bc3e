#!/bin/sh
# Builds this tree's OpenCL backend and runs test_opencl under PoCL 5.0, the
# PoCL of the lent GPU machine, whose kernel compiler aborts on some kernels
# that Debian's PoCL 3.1 (CI) and 6.0 build ("Kernel.cc:129:
# createParallelRegionBefore: Assertion `region_entry_barrier != NULL'",
# BACKEND-OPENCL.md). Debian has no PoCL 5.0, so this uses an Ubuntu noble
# chroot (pocl-opencl-icd 5.0): root, debootstrap and archive.ubuntu.com
# needed; about 3 minutes the first time, reused after.
#
#   tools/pocl5-check.sh [TEST_FILTER]      (QK_TEST_FILTER for test_opencl)
#   QK_POCL5_ROOT=/srv/noble (default) says where the chroot lives.
#
# The tree is the working tree's tracked and untracked files that git does
# not ignore, so uncommitted kernel edits are what runs.
set -eu
cd "$(dirname "$0")/.."
root=${QK_POCL5_ROOT:-/srv/noble}
if [ ! -x "$root/usr/bin/clinfo" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
    # Debian's debootstrap may predate noble; Ubuntu's suites share one script.
    scripts=/usr/share/debootstrap/scripts
    [ -e "$scripts/noble" ] || ln -s gutsy "$scripts/noble"
    debootstrap --variant=minbase --components=main,universe \
        --include=pocl-opencl-icd,ocl-icd-libopencl1,ocl-icd-opencl-dev,gcc,libc6-dev,meson,ninja-build,pkgconf,libcmocka-dev,libjansson-dev,clinfo \
        noble "$root" http://archive.ubuntu.com/ubuntu/
fi
mounted=""
cleanup() {
    for m in $mounted; do umount "$root/$m" || true; done
    mounted=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM
for m in proc sys dev; do # PoCL reads the CPU topology and memory size there
    if ! mountpoint -q "$root/$m"; then
        mount --bind "/$m" "$root/$m"
        mounted="$m $mounted"
    fi
done
rm -rf "$root/qk" && mkdir -p "$root/qk"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar xf - -C "$root/qk"
chroot "$root" sh -c 'cd /qk && meson setup build -Dvulkan=disabled -Dcuda=disabled >/dev/null && ninja -C build tests/test_opencl >/dev/null'
# a fresh program cache: a cached binary would skip the compile under test
chroot "$root" env ${1:+QK_TEST_FILTER=$1} XDG_CACHE_HOME=/tmp/qk-pocl5-cache \
    sh -c 'clinfo -l && rm -rf "$XDG_CACHE_HOME" && cd /qk && build/tests/test_opencl'
