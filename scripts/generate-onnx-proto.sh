#!/bin/sh
# Regenerates Sources/CNN/ONNX/onnx.pb.swift from onnx.proto. The build never runs this:
# the generated file is committed. Needs protoc (apt: protobuf-compiler) and protoc-gen-swift
# built from apple/swift-protobuf at the version Package.resolved pins (1.39.0).
#   usage: scripts/generate-onnx-proto.sh path/to/onnx.proto path/to/protoc-gen-swift
set -eu
proto=$1
plugin=$2
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$proto" "$work/onnx.proto"
(cd "$work" && protoc --plugin=protoc-gen-swift="$plugin" --swift_out=. \
    --swift_opt=Visibility=Internal onnx.proto)
cp "$work/onnx.pb.swift" "$root/Sources/CNN/ONNX/onnx.pb.swift"
