#!/usr/bin/env bash
# Builds the request-parser fuzzer with libFuzzer and runs it.
#   fuzz/http/run.sh [seconds]      default 180
#   FUZZ_RUNS=N fuzz/http/run.sh    the seeds, then N executions in all (make test's short run)
# The working corpus and any crash inputs go to .build/fuzz/http/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-180}"
budget="-max_total_time=$seconds"
[ -n "${FUZZ_RUNS:-}" ] && budget="-runs=$FUZZ_RUNS"
out=.build/fuzz/http
mkdir -p "$out/corpus" "$out/artifacts"
cp -n fuzz/http/seeds/* "$out/corpus/" 2>/dev/null || true
# The parser's files alone; those that convert to swift-http-types' values are not its part.
parser=$(grep -L "^import HTTPTypes" Sources/HTTPServer/Parsing/*.swift)
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name HTTPParserFuzz \
    $parser fuzz/http/FuzzRequestParser.swift -o "$out/http-parser-fuzzer"
"$out/http-parser-fuzzer" "$out/corpus" -dict=fuzz/http/http.dict $budget \
    -artifact_prefix="$out/artifacts/" -print_final_stats=1
