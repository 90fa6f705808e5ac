"""Composite images for segmentation: a crop of a background photograph with cut-outs (RGBA, transparent around
the object) pasted on it, and the exact mask of what was pasted.

Shared by the pretraining set behind the shipped weights (pretrained/pretraining_set.py) and the real-photo
benchmark sets (benchmarks/photo_sets.py), so both draw their images the same way.
"""
import math
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SIZE = (300, 200)  # width, height


def load_photo(path: Path, longest: int = 1280) -> Image.Image:
    """RGB, at most `longest` pixels wide or high (crops are small, and the 5K wallpapers decode slowly)."""
    with Image.open(path) as photo:
        photo.draft("RGB", (longest, longest))  # JPEG: decode at a reduced size directly
        photo = photo.convert("RGB")
    photo.thumbnail((longest, longest), Image.LANCZOS)
    return photo


def crop_to_opaque(cut_out: Image.Image) -> Image.Image | None:
    """An RGBA cut-out cropped to its opaque part (alpha above half), or None when nothing is opaque."""
    box = cut_out.getchannel("A").point(lambda a: 255 if a > 128 else 0).getbbox()
    return None if box is None else cut_out.crop(box)


def random_crop(photo: Image.Image, rng: np.random.Generator, min_fraction: float, max_fraction: float) -> Image.Image:
    """A crop with the output's aspect ratio, min_fraction..max_fraction of the largest such crop, at output size,
    flipped half the time: one photograph gives many different-looking views."""
    width, height = IMAGE_SIZE
    largest = min(photo.width / width, photo.height / height)
    factor = largest * rng.uniform(min_fraction, max_fraction)
    crop_w, crop_h = width * factor, height * factor
    left = (photo.width - crop_w) * rng.uniform(0, 1)
    top = (photo.height - crop_h) * rng.uniform(0, 1)
    view = photo.resize(IMAGE_SIZE, Image.BICUBIC, box=(left, top, left + crop_w, top + crop_h))
    return view.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else view


def placed_object(cut_out: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """The cut-out on an image-sized transparent canvas (float RGBA, alpha 0..1): its opaque part 4-25% of the
    image's area, flipped half the time, tilted up to 15 degrees, its centre anywhere in the middle 80% of the
    image (so it may be cut by the frame)."""
    width, height = IMAGE_SIZE
    if rng.random() < 0.5:
        cut_out = cut_out.transpose(Image.FLIP_LEFT_RIGHT)
    cut_out = cut_out.rotate(rng.uniform(-15, 15), resample=Image.BICUBIC, expand=True)
    # An empty cut-out is placed at the largest size, transparent all over.
    opaque = max(np.asarray(cut_out.getchannel("A"), dtype=np.float32).mean() / 255, 1e-6)
    area = rng.uniform(0.04, 0.25) * width * height
    scale = math.sqrt(area / (opaque * cut_out.width * cut_out.height))
    scale = min(scale, 0.95 * width / cut_out.width, 0.95 * height / cut_out.height)  # never larger than the image
    size = (max(1, round(cut_out.width * scale)), max(1, round(cut_out.height * scale)))
    # Premultiplied alpha while resizing, so the transparent pixels' colour does not bleed into the edge.
    resized = cut_out.convert("RGBa").resize(size, Image.LANCZOS).convert("RGBA")
    centre = (rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height)
    canvas = Image.new("RGBA", IMAGE_SIZE, (0, 0, 0, 0))
    canvas.paste(resized, (round(centre[0] - size[0] / 2), round(centre[1] - size[1] / 2)))
    return np.asarray(canvas, dtype=np.float32) / 255


def _paste(picture: np.ndarray, placed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The picture (float RGB) with a placed RGBA canvas over it, and that canvas' alpha (H, W, 1)."""
    alpha = placed[..., 3:]
    return picture * (1 - alpha) + placed[..., :3] * alpha, alpha


def make_example(background: Image.Image, cut_outs: list[Image.Image],
                 rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """(RGB image, mask 0/255): a crop of the background with the cut-outs pasted on it, in order."""
    picture = np.asarray(random_crop(background, rng, 0.3, 1.0), dtype=np.float32) / 255
    covered = np.zeros(picture.shape[:2], dtype=np.float32)
    for cut_out in cut_outs:
        picture, alpha = _paste(picture, placed_object(cut_out, rng))
        covered = np.maximum(covered, alpha[..., 0])
    image = Image.fromarray(np.clip(picture * 255 + 0.5, 0, 255).astype(np.uint8))
    mask = Image.fromarray(np.where(covered >= 0.5, 255, 0).astype(np.uint8))
    return image, mask


class Cycle:
    """The items of a list in a random order, each once before any comes again (then in a new order)."""

    def __init__(self, count: int, rng: np.random.Generator):
        self.count, self.rng, self.order = count, rng, []

    def next(self) -> int:
        if not self.order:
            self.order = list(self.rng.permutation(self.count))
        return int(self.order.pop())


def save_mask_gif(mask: Image.Image, path: Path) -> None:
    """A 0/255 mask as a GIF that reads back as 0/255 (a plain save would store palette indices 0/1)."""
    palette_mask = mask.convert("P")
    palette_mask.putpalette([v for i in range(256) for v in (i, i, i)])
    palette_mask.save(path, optimize=False)
