#!/bin/sh
# Builds the ONNX reader fuzzer (libFuzzer through swiftc -sanitize=fuzzer) and runs it.
#   usage: fuzz/onnx/run.sh [seconds, default 300] [extra libFuzzer flags...]
#          FUZZ_RUNS=N fuzz/onnx/run.sh   the corpus, then N executions in all (make test's short run)
# The engine is built in debug mode so that Swift's bounds and overflow checks stay on and
# turn memory errors into crashes libFuzzer reports, with AddressSanitizer for the rest. The seed corpus is the ONNX models of
# Debian's libonnx-testdata and shared/data/onnx-light, when present.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-300}
[ $# -gt 0 ] && shift
budget="-max_total_time=$seconds"
[ -n "${FUZZ_RUNS:-}" ] && budget="-runs=$FUZZ_RUNS"
scratch="$root/.build-fuzz"
cd "$root"
swift build --target CNN --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address
debug="$scratch/debug"
swiftc -sanitize=fuzzer,address -parse-as-library -g \
    -I "$debug/Modules" -I Sources/COpenBLAS -I Sources/CZlib \
    -Xcc -fmodule-map-file="$debug/CKernels.build/module.modulemap" \
    fuzz/onnx/FuzzONNX.swift "$debug"/CNN.build/*.o "$debug"/SwiftProtobuf.build/*.o "$debug"/CKernels.build/*.o \
    -lopenblas -lz -o "$scratch/onnx-fuzzer"

corpus="$scratch/onnx-corpus"
mkdir -p "$corpus" "$scratch/onnx-crashes"
if [ -z "$(ls -A "$corpus")" ]; then
    n=0
    for model in /usr/share/libonnx-testdata/data/*/*/model.onnx "$root"/../shared/data/onnx-light/light_s*.onnx; do
        [ -f "$model" ] || continue
        n=$((n + 1))
        cp "$model" "$corpus/seed-$n.onnx"
    done
fi
# Let libFuzzer, not Swift's backtracer, handle crashes so it saves the input.
SWIFT_BACKTRACE=enable=no exec "$scratch/onnx-fuzzer" "$corpus" "$budget" -rss_limit_mb=4096 -max_len=262144 \
    -artifact_prefix="$scratch/onnx-crashes/" -print_final_stats=1 "$@"
