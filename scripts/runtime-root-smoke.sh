#!/usr/bin/env bash
# Runs a release binary in a root file system made only of the Dockerfile's runtime packages
# (downloaded with apt-get, unpacked, no container engine needed), laid out like the image:
# /app/salient, its resource bundles beside it, /app/public. Needs root for chroot.
#
#   scripts/runtime-root-smoke.sh .build/release/salient healthcheck --port 8080
#   scripts/runtime-root-smoke.sh .build/release/salient serve      # then browse :8080
#
# Arguments after the binary go to it (default: --help). The exit status is the binary's.
set -euo pipefail

binary=${1:?usage: $0 <binary> [arguments...]}
shift
[ $# -gt 0 ] || set -- --help
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
[ "$(id -u)" = 0 ] || { echo "chroot needs root" >&2; exit 2; }

work=$(mktemp -d /tmp/salient-runtime-root.XXXXXX)
cleanup() {
  mountpoint -q "$work/root/proc" && umount "$work/root/proc"
  rm -rf "$work"
}
trap cleanup EXIT
mapfile -t listed < <(grep -v '^\s*#' "$here/runtime-packages.txt" | tr -s ' \t' '\n' | sed '/^$/d')
# Exactly what apt would install on an empty system, plus the slim image's libstdc++.
mapfile -t packages < <( { echo libstdc++6
  apt-get install --simulate --no-install-recommends -o Dir::State::status=/dev/null "${listed[@]}" \
    | awk '$1 == "Inst" { print $2 }'; } | sort -u)
mkdir -p "$work/debs" "$work/root"
(cd "$work/debs" && apt-get download "${packages[@]}" >/dev/null 2>&1) \
  || { echo "apt-get download ${packages[*]} failed" >&2; exit 2; }
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

# Maintainer scripts do not run here: stand in for the alternatives links (libopenblas.so.0
# lives in openblas-pthread/) by indexing every library folder, as ldconfig would after them.
find "$work/root" -name 'lib*.so*' -type f -printf '%h\n' | sed "s|^$work/root||" | sort -u > "$work/root/etc/ld.so.conf"
ldconfig -r "$work/root"

mkdir -p "$work/root/app" "$work/root/data" "$work/root/tmp" "$work/root/proc" "$work/root/dev"
# What every container has: /proc (Swift reads its arguments from /proc/self/cmdline) and the
# basic devices (random numbers for ids come from /dev/urandom).
mount -t proc proc "$work/root/proc"
while read -r name major minor; do
  mknod -m 666 "$work/root/dev/$name" c "$major" "$minor"
done <<'DEVICES'
null 1 3
zero 1 5
full 1 7
random 1 8
urandom 1 9
DEVICES
cp "$binary" "$work/root/app/salient"
find "$(dirname "$binary")/" -maxdepth 1 -name '*.resources' -exec cp -R {} "$work/root/app/" \;
cp -R "$repo/public" "$work/root/app/public"
echo "runtime root: ${packages[*]}" >&2
cd "$work/root"
SALIENT_DATA_DIR=/data SALIENT_PUBLIC_DIR=/app/public chroot "$work/root" /app/salient "$@"
