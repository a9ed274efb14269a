#!/usr/bin/env bash
# Builds the request-parser fuzzer with libFuzzer and runs it.
#   fuzz/http/run.sh [seconds]      default 180
# The working corpus and any crash inputs go to .build/fuzz/http/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-180}"
out=.build/fuzz/http
mkdir -p "$out/corpus" "$out/artifacts"
cp -n fuzz/http/seeds/* "$out/corpus/" 2>/dev/null || true
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name HTTPParserFuzz \
    Sources/HTTPServer/Parsing/*.swift fuzz/http/FuzzRequestParser.swift -o "$out/http-parser-fuzzer"
"$out/http-parser-fuzzer" "$out/corpus" -dict=fuzz/http/http.dict -max_total_time="$seconds" \
    -artifact_prefix="$out/artifacts/" -print_final_stats=1
