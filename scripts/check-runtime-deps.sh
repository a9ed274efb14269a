#!/usr/bin/env bash
# Proves, without a container engine, that a release binary runs on the Dockerfile's runtime
# stage: every shared library it needs (ldd) must come from a package that
# scripts/runtime-packages.txt installs (or one of the dependencies apt installs with them),
# or from the base of debian:bookworm-slim (libc6, libgcc-s1, libstdc++6).
# scripts/runtime-root-smoke.sh goes further and runs the binary in a root of those packages.
#
#   scripts/check-runtime-deps.sh .build/release/salient [packages-file]
#
# Exits 1 and names each library that would be missing; a Swift runtime library in the list
# means the binary was not built with --static-swift-stdlib.
set -euo pipefail

binary=${1:?usage: $0 <binary> [packages-file]}
packages_file=${2:-"$(dirname "$0")/runtime-packages.txt"}
[ -x "$binary" ] || { echo "not an executable: $binary" >&2; exit 2; }
[ -r "$packages_file" ] || { echo "cannot read $packages_file" >&2; exit 2; }
command -v dpkg >/dev/null || { echo "dpkg is needed to map libraries to packages" >&2; exit 2; }

mapfile -t listed < <(grep -v '^\s*#' "$packages_file" | tr -s ' \t' '\n' | sed '/^$/d')
# What apt would install for them on an empty system (dependencies, first alternatives), plus
# what debian:bookworm-slim already has.
if ! resolved=$(apt-get install --simulate --no-install-recommends -o Dir::State::status=/dev/null "${listed[@]}" 2>&1); then
  echo "apt-get cannot resolve the runtime packages (run apt-get update first?):" >&2
  echo "$resolved" >&2
  exit 2
fi
allowed=$( { printf '%s\n' libc6 libgcc-s1 libstdc++6 gcc-12-base "${listed[@]}"
             awk '$1 == "Inst" { print $2 }' <<<"$resolved"; } | sort -u)

# The package that owns a file; Debian's merged /usr means the same file has two names.
owner() {
  local path=$1 candidates=("$1" "$(realpath "$1")")
  case $path in
    /usr/*) candidates+=("${path#/usr}") ;;
    *) candidates+=("/usr$path") ;;
  esac
  for candidate in "${candidates[@]}"; do
    if found=$(dpkg -S "$candidate" 2>/dev/null); then
      echo "${found%%:*}" | cut -d, -f1
      return
    fi
  done
  return 1
}

status=0
while read -r line; do
  name=$(awk '{print $1}' <<<"$line")
  case $line in
    *"not found"*)
      echo "MISSING  $name: not found even on this machine"; status=1; continue ;;
    linux-vdso*|linux-gate*) continue ;;
  esac
  path=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) { print $i; exit } }' <<<"$line")
  [ -n "$path" ] || continue
  if [[ $name == libswift* || $name == libFoundation* || $name == libdispatch* || $name == libBlocksRuntime* || $name == lib_Foundation* ]]; then
    echo "MISSING  $name: a Swift runtime library; build with --static-swift-stdlib"; status=1; continue
  fi
  if ! package=$(owner "$path"); then
    echo "MISSING  $name ($path): no Debian package owns it"; status=1; continue
  fi
  if grep -qx "$package" <<<"$allowed"; then
    echo "ok       $name <- $package"
  else
    echo "MISSING  $name <- $package, which $packages_file does not install"; status=1
  fi
done < <(ldd "$binary")

if [ $status -eq 0 ]; then
  echo "every shared library of $binary is in the runtime image"
fi
exit $status
