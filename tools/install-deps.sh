#!/bin/sh
# Installs what building and testing qk needs on Debian/Ubuntu (run as root
# or with sudo available). Idempotent.
set -eu
pkgs="gcc meson ninja-build pkg-config libcmocka-dev libjansson-dev"
if [ "$(id -u)" -eq 0 ]; then as_root=""; else as_root="sudo"; fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    $as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing
fi
