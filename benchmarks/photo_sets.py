"""Small segmentation sets made from real photographs, in the Carvana layout, for benchmarks/benchmark_photos.py.

Each image is a random crop of a background photograph with one or two objects pasted on it; an object is a
region of an object photograph cut out by a shape that is not a car (a smooth blob, a star or polygon, or the
silhouette of a glyph), of varied size, aspect and rotation. The photographs come from four disjoint pools:
objects and backgrounds of the training images, objects and backgrounds of the test images. So a test image is
made only of photographs that no training image uses, as a learner's own new photos would be.

    <set>/train/imgs/photo_0000.jpg    <set>/train/masks/photo_0000_mask.gif   (masks 0 = background, 255 = object)
    <set>/test/imgs/...                <set>/test/masks/...
    <set>/set.json                     how the set was made; a later build with the same settings reuses the set

The default photographs ship in two Debian packages (mate-backgrounds, plasma-workspace-wallpapers) and in
matplotlib (a requirement); building is offline and deterministic for a seed.
"""
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from utils.errors import UserError

IMAGE_SIZE = (300, 200)  # width, height
SUPERSAMPLE = 4  # shapes are drawn at 4x and averaged down, so object edges are anti-aliased like a real cut-out
FORMAT_VERSION = 2  # bump when the drawing changes, so sets built by older code are rebuilt, not reused
APT_COMMAND = "sudo apt-get install mate-backgrounds plasma-workspace-wallpapers"
GLYPHS = "ABEFGHKMNPRSTWXYZ2345789&#@?%"

_MATE = Path("/usr/share/backgrounds/mate/nature")
_PLASMA = Path("/usr/share/wallpapers")
_MATPLOTLIB_SAMPLES = Path(matplotlib.get_data_path()) / "sample_data"


def _plasma(name: str, file: str = "2560x1600.jpg") -> Path:
    return _PLASMA / name / "contents/images" / file


@dataclass(frozen=True)
class PhotoPools:
    """Four disjoint lists of photographs: objects and backgrounds for training, objects and backgrounds for test."""
    train_objects: tuple[Path, ...]
    train_backgrounds: tuple[Path, ...]
    test_objects: tuple[Path, ...]
    test_backgrounds: tuple[Path, ...]

    def named(self) -> dict[str, tuple[Path, ...]]:
        return {name: tuple(Path(p) for p in paths) for name, paths in asdict(self).items()}


# Photographs only (the packages' drawings and abstract art are left out). Close-ups of things (flowers, a
# ladybird, cups, a portrait) are objects; scenes and surfaces (sky, sand, grass, water, wood) are backgrounds, so
# no background shows a thing that the training images taught to be an object. Each kind is shared out between
# training and test.
DEFAULT_POOLS = PhotoPools(
    train_objects=(_MATE / "FreshFlower.jpg", _MATE / "LadyBird.jpg", _MATE / "Blinds.jpg", _plasma("ColorfulCups"),
                   _plasma("OneStandsOut"), _MATPLOTLIB_SAMPLES / "grace_hopper.jpg"),
    train_backgrounds=(_MATE / "Dune.jpg", _MATE / "GreenMeadow.jpg", _MATE / "Storm.jpg", _plasma("BytheWater"),
                       _plasma("Path"), _plasma("Kite"), _plasma("EveningGlow")),
    test_objects=(_MATE / "YellowFlower.jpg", _MATE / "Garden.jpg", _MATE / "TwoWings.jpg", _MATE / "RainDrops.jpg",
                  _plasma("FallenLeaf"), _MATE / "Aqua.jpg"),
    test_backgrounds=(_MATE / "Wood.jpg", _plasma("Grey"), _plasma("ColdRipple"), _plasma("DarkestHour"),
                      _plasma("summer_1am"), _plasma("Volna", "5120x2880.jpg")),
)


def check_pools(pools: PhotoPools) -> None:
    """Every photograph exists and belongs to one pool only; otherwise a one-line error with the fix."""
    seen: dict[Path, str] = {}
    for pool, paths in pools.named().items():
        if not paths:
            raise UserError(f"photo pool {pool} is empty; give it at least one photograph")
        for path in paths:
            key = path.resolve()
            if key in seen:
                raise UserError(f"{path}: in both photo pools {seen[key]} and {pool}; the pools must be disjoint "
                                "so the test images use photographs no training image uses")
            seen[key] = pool
    missing = [path for path in seen if not path.is_file()]
    if missing:
        raise UserError(f"{missing[0]}: photograph not found ({len(missing)} missing); install the photographs "
                        f"with: {APT_COMMAND}")


def _load_photo(path: Path, longest: int = 1280) -> Image.Image:
    """RGB, at most `longest` pixels wide or high (crops are small, and the 5K wallpapers decode slowly)."""
    with Image.open(path) as photo:
        photo.draft("RGB", (longest, longest))  # JPEG: decode at a reduced size directly
        photo = photo.convert("RGB")
    photo.thumbnail((longest, longest), Image.LANCZOS)
    return photo


def _random_crop(photo: Image.Image, rng: np.random.Generator, min_fraction: float, max_fraction: float,
                 centred: bool = False) -> Image.Image:
    """A crop with the output's aspect ratio, min_fraction..max_fraction of the largest such crop, at output size,
    flipped half the time: one photograph gives many different-looking views. centred: near the middle of the
    photograph, where the subject of a close-up is (its edges are often a blur of background)."""
    width, height = IMAGE_SIZE
    largest = min(photo.width / width, photo.height / height)
    factor = largest * rng.uniform(min_fraction, max_fraction)
    crop_w, crop_h = width * factor, height * factor
    spread = 0.2 if centred else 1.0  # how far from the middle the crop may go, as a fraction of the room left
    left = (photo.width - crop_w) * (0.5 + spread * rng.uniform(-0.5, 0.5))
    top = (photo.height - crop_h) * (0.5 + spread * rng.uniform(-0.5, 0.5))
    view = photo.resize(IMAGE_SIZE, Image.BICUBIC, box=(left, top, left + crop_w, top + crop_h))
    return view.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else view


# ---------------------------------------------------------------------------------------------
# Shapes: unit outlines around (0, 0), then stretched, rotated and placed.


def _blob(rng: np.random.Generator) -> np.ndarray:
    """A smooth random outline: a circle whose radius varies with a few low-frequency waves."""
    angles = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    radius = np.ones_like(angles)
    for k in range(2, 6):
        radius += rng.uniform(0, 0.35 / k * 2) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
    radius = np.clip(radius, 0.25, None)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _star_or_polygon(rng: np.random.Generator) -> np.ndarray:
    """A star (alternating outer and inner points) or a convex-ish polygon with jittered corners."""
    if rng.random() < 0.5:
        points = int(rng.integers(4, 9))
        inner = rng.uniform(0.35, 0.7)
        radius = np.tile([1.0, inner], points)
        angles = np.arange(2 * points) * np.pi / points
    else:
        corners = int(rng.integers(3, 9))
        angles = (np.arange(corners) + rng.uniform(-0.3, 0.3, corners)) * 2 * np.pi / corners
        radius = rng.uniform(0.75, 1.0, corners)
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def _draw_outline(canvas: Image.Image, outline: np.ndarray, centre: tuple[float, float], size: tuple[float, float],
                  angle: float) -> None:
    """Stretch the unit outline to size (half-axes, pixels), rotate it, fill it at centre."""
    points = outline * np.asarray(size)
    cos, sin = math.cos(angle), math.sin(angle)
    rotated = points @ np.array([[cos, sin], [-sin, cos]])
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in rotated + np.asarray(centre)], fill=255)


def _draw_glyph(canvas: Image.Image, rng: np.random.Generator, centre: tuple[float, float],
                size: tuple[float, float], angle: float) -> None:
    """The silhouette of a character (Pillow's built-in font, so every machine draws the same), stretched,
    rotated and pasted at centre."""
    font = ImageFont.load_default(size=200)
    glyph = Image.new("L", (320, 320))
    ImageDraw.Draw(glyph).text((160, 160), str(rng.choice(list(GLYPHS))), fill=255, font=font, anchor="mm")
    glyph = glyph.crop(glyph.getbbox())
    glyph = glyph.resize((max(1, round(2 * size[0])), max(1, round(2 * size[1]))), Image.BILINEAR)
    glyph = glyph.rotate(math.degrees(angle), resample=Image.BILINEAR, expand=True)
    corner = (round(centre[0] - glyph.width / 2), round(centre[1] - glyph.height / 2))
    canvas.paste(255, corner, glyph)


def _object_alpha(rng: np.random.Generator) -> np.ndarray:
    """Coverage 0..1 of one object at image size: a blob, star/polygon or glyph of 5-30% of the image's area,
    aspect 1:2 to 2:1, any rotation, its centre inside the image (so it may be cut by the frame)."""
    width, height = IMAGE_SIZE
    canvas = Image.new("L", (width * SUPERSAMPLE, height * SUPERSAMPLE))
    area = rng.uniform(0.05, 0.3) * width * height * SUPERSAMPLE ** 2
    aspect = math.exp(rng.uniform(math.log(0.5), math.log(2)))
    half_w, half_h = math.sqrt(area * aspect / math.pi), math.sqrt(area / aspect / math.pi)
    centre = (rng.uniform(0.1, 0.9) * canvas.width, rng.uniform(0.1, 0.9) * canvas.height)
    angle = rng.uniform(0, 2 * math.pi)
    kind = rng.choice(["blob", "star", "glyph"])
    if kind == "glyph":
        _draw_glyph(canvas, rng, centre, (half_w, half_h), angle)
    else:
        outline = _blob(rng) if kind == "blob" else _star_or_polygon(rng)
        _draw_outline(canvas, outline, centre, (half_w, half_h), angle)
    return np.asarray(canvas.resize(IMAGE_SIZE, Image.BOX), dtype=np.float32) / 255


def make_example(backgrounds: list[Image.Image], objects: list[Image.Image],
                 rng: np.random.Generator) -> tuple[Image.Image, Image.Image, dict]:
    """(RGB image, mask 0/255, which photographs it used as indices into the two lists)."""
    background_index = int(rng.integers(len(backgrounds)))
    picture = np.asarray(_random_crop(backgrounds[background_index], rng, 0.3, 1.0), dtype=np.float32)
    covered = np.zeros(picture.shape[:2], dtype=np.float32)
    used = []
    for _ in range(1 if rng.random() < 0.7 else 2):
        index = int(rng.integers(len(objects)))
        texture = np.asarray(_random_crop(objects[index], rng, 0.3, 0.8, centred=True), dtype=np.float32)
        alpha = _object_alpha(rng)
        picture = picture * (1 - alpha[..., None]) + texture * alpha[..., None]
        covered = np.maximum(covered, alpha)
        used.append(index)
    image = Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8))
    mask = Image.fromarray(np.where(covered >= 0.5, 255, 0).astype(np.uint8))
    return image, mask, {"background": background_index, "objects": used}


def save_mask_gif(mask: Image.Image, path: Path) -> None:
    """A 0/255 mask as a GIF that reads back as 0/255 (a plain save would store palette indices 0/1)."""
    palette_mask = mask.convert("P")
    palette_mask.putpalette([v for i in range(256) for v in (i, i, i)])
    palette_mask.save(path, optimize=False)


def _write_split(folder: Path, count: int, objects: tuple[Path, ...], backgrounds: tuple[Path, ...],
                 rng: np.random.Generator) -> dict:
    """count examples into folder/imgs and folder/masks; returns {image name: photographs used}."""
    object_photos = [_load_photo(p) for p in objects]
    background_photos = [_load_photo(p) for p in backgrounds]
    (folder / "imgs").mkdir(parents=True)
    (folder / "masks").mkdir(parents=True)
    sources = {}
    for i in range(count):
        image, mask, used = make_example(background_photos, object_photos, rng)
        name = f"photo_{i:04d}"
        image.save(folder / "imgs" / f"{name}.jpg", quality=92)
        save_mask_gif(mask, folder / "masks" / f"{name}_mask.gif")
        sources[name] = {"background": str(backgrounds[used["background"]]),
                         "objects": [str(objects[j]) for j in used["objects"]]}
    return sources


def build_photo_set(out_dir: str | Path, n_train: int, n_test: int, seed: int,
                    pools: PhotoPools = DEFAULT_POOLS) -> Path:
    """Write (or reuse) a set with n_train training and n_test test images; returns out_dir.

    A set already there with the same settings is reused; one made with other settings is rebuilt.
    """
    out_dir = Path(out_dir)
    settings = {"version": FORMAT_VERSION, "size": list(IMAGE_SIZE), "train": n_train, "test": n_test,
                "seed": seed, "pools": {name: [str(p) for p in paths] for name, paths in pools.named().items()}}
    manifest = out_dir / "set.json"
    if manifest.is_file():
        try:
            if json.loads(manifest.read_text())["settings"] == settings:
                return out_dir
        except (ValueError, KeyError):
            pass  # unreadable: rebuilt below
    check_pools(pools)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    # One generator per split: the test images of a seed stay the same whatever n_train is.
    train_rng, test_rng = (np.random.default_rng([seed, split]) for split in (0, 1))
    sources = {"train": _write_split(out_dir / "train", n_train, pools.train_objects, pools.train_backgrounds,
                                     train_rng),
               "test": _write_split(out_dir / "test", n_test, pools.test_objects, pools.test_backgrounds, test_rng)}
    # Written last: a build stopped half-way has no manifest and is redone next time.
    manifest.write_text(json.dumps({"settings": settings, "sources": sources}, indent=1))
    return out_dir
