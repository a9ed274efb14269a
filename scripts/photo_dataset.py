"""A small photo dataset for fine-tuning an imported ImageNet model: random crops of the shared
test images, one folder per class, as `POST /v1/datasets` and `salient train --dataset` take it.

usage: photo_dataset.py OUT [--per-class N] [--seed S]

Four classes of two source photos each (cat: chelsea, kitten; person: astronaut, camera;
object: coffee, fish; texture: hubble_deep_field, retina). Each image is a random crop of 30%
to 100% of a source's area at an aspect ratio of 3/4 to 4/3, flipped half the time, resized to
256x256 and saved as JPEG (quality 90). Run with the `.venv` environment (Pillow).
"""
import argparse
import math
import os
import random

from PIL import Image, ImageOps

IMAGES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "images")
CLASSES = {
    "cat": ["chelsea.png", "kitten_224.png"],
    "person": ["astronaut.png", "camera.png"],
    "object": ["coffee.png", "fish.jpg"],
    "texture": ["hubble_deep_field.jpg", "retina.jpg"],
}


def crop(image, rng):
    width, height = image.size
    for _ in range(10):
        area = width * height * rng.uniform(0.3, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < w <= width and 0 < h <= height:
            x, y = rng.randint(0, width - w), rng.randint(0, height - h)
            return image.crop((x, y, x + w, y + h))
    return image


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--per-class", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for label, sources in CLASSES.items():
        folder = os.path.join(args.out, label)
        os.makedirs(folder, exist_ok=True)
        photos = [ImageOps.exif_transpose(Image.open(os.path.join(IMAGES, name))).convert("RGB") for name in sources]
        for index in range(args.per_class):
            image = crop(photos[index % len(photos)], rng)
            if rng.random() < 0.5:
                image = ImageOps.mirror(image)
            image.resize((256, 256), Image.BILINEAR).save(os.path.join(folder, f"{label}-{index:03d}.jpg"), quality=90)
    print(f"{args.per_class * len(CLASSES)} images in {len(CLASSES)} classes under {args.out}")


if __name__ == "__main__":
    main()
