#!/bin/sh
# Run on the development machine (it reaches Debian's archive): downloads the
# build dependencies that the GPU machine lacks into .devdeps/ (git-ignored),
# which tools/device-check.sh unpacks there. Carry ".devdeps" with the run.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .devdeps
grep -qx '/.devdeps/' .git/info/exclude 2>/dev/null || echo '/.devdeps/' >> .git/info/exclude
cd .devdeps
apt-get download libcmocka0 libcmocka-dev libjansson4 libjansson-dev pkgconf pkgconf-bin libpkgconf3
