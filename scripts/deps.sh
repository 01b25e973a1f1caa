#!/usr/bin/env bash
# Installs the Debian 12 packages sprex needs to build, test and run its demo.
# Idempotent: installs only what is missing. Run as root (or with sudo available).
set -euo pipefail

pkgs=(
  gcc clang libclang-rt-14-dev llvm meson ninja-build pkg-config
  libssl-dev openssl
  libprotobuf-c-dev protobuf-c-compiler
  libuv1-dev
  libsqlite3-dev sqlite3
  libcmocka-dev
  python3 python3-protobuf protobuf-compiler procps iproute2
  librsvg2-bin   # rsvg-convert: the statistics SVG rendered to PNG in tests
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
