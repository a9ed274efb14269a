#!/usr/bin/env bash
# Builds the decoder fuzzer with libFuzzer and AddressSanitizer, then fuzzes the JPEG and the
# PNG paths in turn, each from a corpus of the shared images of its format.
#   fuzz/imaging/run.sh [seconds per target, default 180]
#   FUZZ_RUNS=N fuzz/imaging/run.sh   the corpus, then N executions in all per target (make test's short run)
# Work files go to .build/fuzz/imaging; crashes are saved there as crash-* files.
set -euo pipefail
# libjpeg, TurboJPEG and libpng are not instrumented: coverage guidance comes from the Swift
# side, while AddressSanitizer still reports bad accesses to Swift-owned buffers.
seconds="${1:-180}"
budget="-max_total_time=$seconds"
[ -n "${FUZZ_RUNS:-}" ] && budget="-runs=$FUZZ_RUNS"
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

# -O keeps Swift's checks (only -Ounchecked drops them); whole-module, since swiftc 6.3 emits a
# broken module for Imaging with -sanitize=fuzzer file by file. The libjpeg glue is C: compiled here
# with AddressSanitizer, and given the module map SwiftPM would generate.
clang -c -O1 -g -fsanitize=address -I "$root/Sources/CJPEG/include" "$root/Sources/CJPEG/JPEGDecoding.c" \
  -o "$work/JPEGDecoding.o"
mkdir -p "$work/CJPEG"
printf 'module CJPEG {\n    umbrella header "%s"\n    export *\n}\n' "$root/Sources/CJPEG/include/JPEGDecoding.h" \
  > "$work/CJPEG/module.modulemap"
swiftc -sanitize=fuzzer,address -parse-as-library -O -wmo -module-name Imaging \
  -I "$work/CJPEG" -I "$root/Sources/CTurboJPEG" -I "$root/Sources/CPNG" -I "$root/Sources/CZlib" \
  "$root"/Sources/Imaging/*.swift "$root/fuzz/imaging/DecoderFuzzer.swift" "$work/JPEGDecoding.o" \
  -ljpeg -lturbojpeg -lpng16 -lz -o "$work/decoder-fuzzer" 2>&1 | { grep -v "Cannot export local symbol" || true; }

for format in jpeg png; do
  corpus="$work/corpus-$format"
  mkdir -p "$corpus"
  case "$format" in
    jpeg) cp "$shared"/*.jpg "$corpus"/ ;;
    png) cp "$shared"/*.png "$corpus"/ ;;
  esac
  chmod u+w "$corpus"/*
  echo "== fuzzing the $format path ($budget)"
  (cd "$work" && ./decoder-fuzzer "$budget" -rss_limit_mb=2048 -timeout=10 \
     -print_final_stats=1 "$corpus" 2>&1 | tee "$work/$format.log" | grep -E "^(#[0-9]+ +(INITED|DONE)|==|stat::|SUMMARY|artifact_prefix|Test unit)" || true)
done
ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null && { echo "fuzzing found failures" >&2; exit 1; }
echo "no crashes, timeouts or out-of-memory units"
