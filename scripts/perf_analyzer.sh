#!/usr/bin/env bash
# Runs Triton's perf_analyzer from PyPI (perf-analyzer 2.60.0), installing it first into
# .build/perf-analyzer:   scripts/perf_analyzer.sh -m MODEL -u 127.0.0.1:PORT -i http ...
#
# Its wheel is built for glibc 2.38 and GCC 13's libstdc++ (manylinux_2_38), and Debian 12 has
# glibc 2.36, so pip refuses it and the binary would not load. It runs unchanged under Debian
# 13's C and C++ runtime (libc6, libstdc++6, libgcc-s1, downloaded with apt-get from the same
# archive this machine's sources name and unpacked into the folder above), started through that
# runtime's own dynamic loader: nothing on the system changes, and the other libraries it needs
# (OpenSSL, zlib) are the system's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/.build/perf-analyzer"
VERSION=2.60.0
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
LIB="$DIR/runtime/usr/lib/x86_64-linux-gnu"
BINARY="$DIR/perf_analyzer/bin/perf_analyzer"

if [ ! -x "$LIB/ld-linux-x86-64.so.2" ] || [ ! -x "$BINARY" ]; then
  rm -rf "$DIR" && mkdir -p "$DIR/wheel" "$DIR/debs" "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial"
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_38_x86_64 \
    "perf-analyzer==$VERSION" -d "$DIR/wheel" >&2
  "$PYTHON" -m zipfile -e "$DIR"/wheel/perf_analyzer-"$VERSION"-*.whl "$DIR"
  chmod +x "$BINARY"
  # The archive this machine installs from, at the next release (trixie: glibc 2.41, GCC 14).
  ARCHIVE="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  [ -n "$ARCHIVE" ] || ARCHIVE="$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list)"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $ARCHIVE trixie main" > "$DIR/apt/sources.list"
  APT=(-o Dir::Etc::sourcelist="$DIR/apt/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$DIR/apt/lists"
       -o Dir::Cache="$DIR/apt/cache" -o Dir::State::status=/dev/null -o APT::Sandbox::User=root -qq)
  apt-get "${APT[@]}" update >&2
  (cd "$DIR/debs" && apt-get "${APT[@]}" download libc6 libstdc++6 libgcc-s1 >&2)
  for deb in "$DIR"/debs/*.deb; do dpkg-deb -x "$deb" "$DIR/runtime"; done
fi

exec "$LIB/ld-linux-x86-64.so.2" --library-path "$LIB:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" "$BINARY" "$@"
