#!/usr/bin/env bash
# Builds the decoder fuzzer with libFuzzer and AddressSanitizer, then fuzzes the JPEG and the
# PNG paths in turn, each from a corpus of the shared images of its format.
#   fuzz/imaging/run.sh [seconds per target, default 180]
# Work files go to .build/fuzz/imaging; crashes are saved there as crash-* files.
set -euo pipefail
# TurboJPEG and libpng are not instrumented: coverage guidance comes from the Swift side,
# while AddressSanitizer still reports bad accesses to Swift-owned buffers.
seconds="${1:-180}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$root/.build/fuzz/imaging"
mkdir -p "$work"

shared=""
dir="$root"
while [ "$dir" != "/" ]; do
  if [ -d "$dir/shared/data/images" ]; then shared="$dir/shared/data/images"; break; fi
  dir="$(dirname "$dir")"
done
[ -n "$shared" ] || { echo "no shared/data/images beside an ancestor of $root" >&2; exit 1; }

swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name Imaging \
  -I "$root/Sources/CTurboJPEG" -I "$root/Sources/CPNG" -I "$root/Sources/CZlib" \
  "$root"/Sources/Imaging/*.swift "$root/fuzz/imaging/DecoderFuzzer.swift" \
  -lturbojpeg -lpng16 -lz -o "$work/decoder-fuzzer" 2>&1 | { grep -v "Cannot export local symbol" || true; }

for format in jpeg png; do
  corpus="$work/corpus-$format"
  mkdir -p "$corpus"
  case "$format" in
    jpeg) cp "$shared"/*.jpg "$corpus"/ ;;
    png) cp "$shared"/*.png "$corpus"/ ;;
  esac
  chmod u+w "$corpus"/*
  echo "== fuzzing the $format path for $seconds s"
  (cd "$work" && ./decoder-fuzzer -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
     -print_final_stats=1 "$corpus" 2>&1 | tee "$work/$format.log" | grep -E "^(#[0-9]+ +(INITED|DONE)|==|stat::|SUMMARY|artifact_prefix|Test unit)" || true)
done
ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null && { echo "fuzzing found failures" >&2; exit 1; }
echo "no crashes, timeouts or out-of-memory units"
