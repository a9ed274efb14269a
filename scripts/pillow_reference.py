#!/usr/bin/env python3
"""Pillow reference outputs for the Imaging tests.

Reads a JSON list of jobs on stdin and writes each job's result into the output folder
given as the only argument, so one interpreter start serves a whole test:

  {"op": "decode", "input": PATH, "output": NAME}        upright RGB as Pillow reads it (PPM)
  {"op": "resize", "input": PATH, "output": NAME, "size": [W, H], "filter": "bicubic"}
                                                         antialiased, bilinear unless a filter
                                                         is named (PPM)
  {"op": "gray", "input": PATH, "output": NAME}          convert("L") (PGM)
  {"op": "imagenet", "input": PATH, "output": NAME}      torchvision-style Resize(256),
                                                         CenterCrop(224), ToTensor, Normalize
                                                         as float32 CHW
  {"op": "synthesize", "output": NAME}                   edge-case files into folder NAME

16-bit samples are rescaled to 8 bits (value / 257) rather than passed through
Pillow's convert("RGB"), which clips "I;16" images to white.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin


def load_rgb(path):
    image = ImageOps.exif_transpose(Image.open(path))
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def write_pnm(image, path):
    magic = b"P6" if image.mode == "RGB" else b"P5"
    with open(path, "wb") as f:
        f.write(magic + b"\n%d %d\n255\n" % image.size)
        f.write(image.tobytes())


def imagenet(path):
    image = load_rgb(path)
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = 256, int(256 * long / short)
    size = (new_short, new_long) if w <= h else (new_long, new_short)
    image = image.resize(size, Image.BILINEAR)
    w, h = image.size
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    image = image.crop((left, top, left + 224, top + 224))
    x = np.asarray(image, dtype=np.float32) / 255.0
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    return ((x - mean) / std).transpose(2, 0, 1).astype(np.float32)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def adam7_png(pixels):
    """An interlaced RGB PNG (Pillow cannot write Adam7)."""
    h, w, _ = pixels.shape
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def synthesize(folder):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(7)
    gradient = np.indices((37, 53)).sum(axis=0).astype(np.uint8) * 3
    rgb = np.dstack([gradient, 255 - gradient, rng.integers(0, 256, (37, 53), dtype=np.uint8)])
    photo = Image.fromarray(rgb, "RGB")
    saves = {
        "one_pixel.png": (Image.new("RGB", (1, 1), (12, 200, 99)), {}),
        "one_pixel.jpg": (Image.new("RGB", (1, 1), (12, 200, 99)), {"quality": 95}),
        "tall_strip.png": (Image.fromarray(rng.integers(0, 256, (40000, 1), dtype=np.uint8), "L"), {}),
        "wide_strip.jpg": (Image.fromarray(rng.integers(0, 256, (1, 40000, 3), dtype=np.uint8), "RGB"), {}),
        "odd_rgb.jpg": (photo, {"quality": 90, "subsampling": 2}),
        "odd_gray.jpg": (photo.convert("L"), {}),
        "odd_progressive.jpg": (photo, {"progressive": True, "quality": 85}),
        "odd_cmyk.jpg": (photo.convert("CMYK"), {}),
        "odd_palette_trns.png": (photo.quantize(17), {"transparency": 3}),
        "odd_gray_alpha.png": (photo.convert("LA"), {}),
        "odd_1bit.png": (photo.convert("1"), {}),
        "odd_rgba.png": (photo.convert("RGBA"), {}),
    }
    for name, (image, options) in saves.items():
        image.save(os.path.join(folder, name), **options)
    linear = PngImagePlugin.PngInfo()
    linear.add(b"gAMA", struct.pack(">I", 100000))  # gamma 1.0: Pillow ignores it
    photo.save(os.path.join(folder, "odd_gamma_linear.png"), pnginfo=linear)
    for bits in (2, 4):
        # Pillow writes low bit depths for palette images; a gray palette keeps them gray.
        levels = (1 << bits)
        quantized = (np.asarray(photo.convert("L")) >> (8 - bits)).astype(np.uint8)
        image = Image.fromarray(quantized, "P")
        image.putpalette([v * 255 // (levels - 1) for v in range(levels) for _ in range(3)])
        image.save(os.path.join(folder, "odd_%dbit_palette.png" % bits), bits=bits)
    wide16 = (np.asarray(photo, dtype=np.uint16) * 257 + rng.integers(0, 257, rgb.shape)).astype(">u2")
    with open(os.path.join(folder, "odd_rgb16.png"), "wb") as f:
        header = struct.pack(">IIBBBBB", 53, 37, 16, 2, 0, 0, 0)
        raw = b"".join(b"\x00" + row.tobytes() for row in wide16)
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
                + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))
    with open(os.path.join(folder, "odd_interlaced.png"), "wb") as f:
        f.write(adam7_png(rgb))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        photo.save(os.path.join(folder, "orientation_%d.jpg" % orientation), quality=95, exif=exif.tobytes())
    for orientation in (3, 6):
        exif = Image.Exif()
        exif[0x0112] = orientation
        photo.save(os.path.join(folder, "orientation_%d.png" % orientation), exif=exif.tobytes())


def main():
    folder = sys.argv[1]
    for job in json.load(sys.stdin):
        output = os.path.join(folder, job["output"])
        op = job["op"]
        if op == "decode":
            write_pnm(load_rgb(job["input"]), output)
        elif op == "resize":
            resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[job.get("filter", "bilinear")]
            write_pnm(load_rgb(job["input"]).resize(tuple(job["size"]), resample), output)
        elif op == "gray":
            write_pnm(load_rgb(job["input"]).convert("L"), output)
        elif op == "imagenet":
            imagenet(job["input"]).tofile(output)
        elif op == "synthesize":
            synthesize(output)
        else:
            raise SystemExit("unknown op %r" % op)


if __name__ == "__main__":
    main()
