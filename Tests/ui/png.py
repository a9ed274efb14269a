"""Minimal PNG encoding, so the UI test needs no imaging library."""

import struct
import zlib


def encode_png(width, height, pixels, channels=3):
    """Encodes 8-bit gray (channels=1) or RGB (channels=3) pixels given row-major as bytes."""
    if len(pixels) != width * height * channels:
        raise ValueError(f"expected {width * height * channels} bytes, got {len(pixels)}")
    color_type = {1: 0, 3: 2}[channels]
    stride = width * channels
    raw = b"".join(b"\x00" + pixels[y * stride:(y + 1) * stride] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")

