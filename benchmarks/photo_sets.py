"""Small segmentation sets made from real photographs, in the Carvana layout, for benchmarks/benchmark_photos.py.

Each image is a random crop of a background photograph with one or two objects pasted on it; an object is a
photograph of a real thing cut out along its own outline (a photographic Tux Paint stamp: an animal, a fruit, a
tool, an instrument...; no cars), pasted at a random size, position, small tilt and flip. The photographs come from
four disjoint pools: objects and backgrounds of the training images, objects and backgrounds of the test images.
So a test image is made only of photographs that no training image uses, as a learner's own new photos would be,
and the images of a set use different object photographs as far as the pool allows (a learner's 60 photos are
60 photographs).

    <set>/train/imgs/photo_0000.jpg    <set>/train/masks/photo_0000_mask.gif   (masks 0 = background, 255 = object)
    <set>/test/imgs/...                <set>/test/masks/...
    <set>/set.json                     how the set was made; a later build with the same settings reuses the set

The photographs ship in Debian packages (APT_COMMAND); building is offline and deterministic for a seed.
Set version 2 (objects cut from close-up photographs by random blob, star and glyph shapes, 13 training
photographs in all) was built by the code of commit aea7b1c; docs/image-experiments.md keeps its results.
"""
import json
import re
import shutil
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from utils.compositing import IMAGE_SIZE, Cycle, crop_to_opaque, load_photo, make_example, save_mask_gif
from utils.errors import UserError

FORMAT_VERSION = 3  # bump when the drawing changes, so sets built by older code are rebuilt, not reused
APT_COMMAND = ("sudo apt-get install tuxpaint-stamps-default mate-backgrounds plasma-workspace-wallpapers "
               "lomiri-wallpapers-16.04")

STAMPS = Path("/usr/share/tuxpaint/stamps")
# Kinds of things whose stamps are mostly photographs. Left out: cars (the demo's objects), plants (the
# backgrounds are full of flowers and leaves), drawn symbols, road signs and houses, and look-alike series
# (eight Halloween gravestones).
STAMP_KINDS = ("animals", "food", "household", "hobbies", "sports", "clothes", "people", "medical",
               "seasonal/christmas", "seasonal/easter")
MIN_STAMP_SIDE = 100  # pixels: smaller stamps would be blown up several times, and blur would give them away
MAX_FLAT_FRACTION = 0.1  # drawings are flat fills: most of their pixels equal their neighbours; photographs are not
TEST_SHARE = 3  # one object group in 3 goes to the test pool

_LOMIRI = Path("/usr/share/backgrounds")
_MATE = _LOMIRI / "mate/nature"
_PLASMA = Path("/usr/share/wallpapers")


def _plasma(name: str, file: str = "1280x1024.jpg") -> Path:
    return _PLASMA / name / "contents/images" / file


# Photographs only (renders and drawings left out), and none showing an animal, food or instrument, which the
# objects are: a background must not contain an unmarked object. Every third goes to the test pool.
BACKGROUNDS = (
    _LOMIRI / "Bridge_by_Sander_Klootwijk.jpg", _LOMIRI / "aitzgorri_by_Aitzol_Berasategi.jpg",
    _LOMIRI / "analogpattern_by_Peter_Nerlich.jpg", _LOMIRI / "greentock_by_Peter_Nerlich.jpg",
    _LOMIRI / "life_by_Aitzol_Berasategi.jpg", _LOMIRI / "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    _LOMIRI / "seeding_by_Clements_Engelhardt.jpg", _LOMIRI / "sunset_by_Aitzol_Berasategi.jpg",
    _MATE / "Aqua.jpg", _MATE / "Blinds.jpg", _MATE / "Dune.jpg", _MATE / "FreshFlower.jpg", _MATE / "Garden.jpg",
    _MATE / "GreenMeadow.jpg", _MATE / "RainDrops.jpg", _MATE / "Storm.jpg", _MATE / "TwoWings.jpg",
    _MATE / "Wood.jpg", _MATE / "YellowFlower.jpg",
    _plasma("BytheWater"), _plasma("ColdRipple"), _plasma("DarkestHour"), _plasma("EveningGlow"),
    _plasma("FallenLeaf"), _plasma("Grey"), _plasma("Kite"), _plasma("OneStandsOut"), _plasma("Path"),
    _plasma("summer_1am"),
)


@dataclass(frozen=True)
class PhotoPools:
    """Four disjoint lists of photographs: objects (cut-outs: PNG with transparency) and backgrounds, for training
    and for test."""
    train_objects: tuple[Path, ...]
    train_backgrounds: tuple[Path, ...]
    test_objects: tuple[Path, ...]
    test_backgrounds: tuple[Path, ...]

    def named(self) -> dict[str, tuple[Path, ...]]:
        return {name: tuple(Path(p) for p in paths) for name, paths in asdict(self).items()}


def is_photograph(cut_out: Image.Image) -> bool:
    """A cut-out photograph rather than a drawing: few of its inner pixels equal all their neighbours."""
    pixels = np.asarray(cut_out.convert("RGBA"), dtype=np.float32)
    grey = pixels[..., :3].mean(axis=2)
    local_variance = ndimage.uniform_filter(grey ** 2, 3) - ndimage.uniform_filter(grey, 3) ** 2
    inner = ndimage.binary_erosion(pixels[..., 3] > 128, iterations=2)  # away from the outline
    if inner.sum() < 100:
        return False
    return float((local_variance[inner] < 0.25).mean()) < MAX_FLAT_FRACTION


def object_group(path: Path) -> str:
    """Stamps that are views of one thing (lion, lion-2; gnu-stand, gnu-sitting; a mirrored copy) share a group,
    and a group goes to one pool, so no test object is a training object seen from another side."""
    return f"{path.parent}/{re.split(r'[-_0-9]', path.stem.lower())[0]}"


def find_cut_outs(root: Path = STAMPS, kinds: tuple[str, ...] = STAMP_KINDS) -> tuple[list[Path], list[Path]]:
    """(training, test) object photographs: the photographic stamps of `kinds` under root, drawings and cartoon
    folders left out, split by object group."""
    if not root.is_dir():
        raise UserError(f"{root}: folder of object photographs not found; install them with: {APT_COMMAND}")
    train, test = [], []
    for kind in kinds:
        for path in sorted((root / kind).rglob("*.png")):
            if "cartoon" in path.relative_to(root).parts:
                continue
            with Image.open(path) as stamp:
                if max(stamp.size) < MIN_STAMP_SIDE or not is_photograph(stamp):
                    continue
            in_test = zlib.crc32(object_group(path.relative_to(root)).encode()) % TEST_SHARE == 0
            (test if in_test else train).append(path)
    return train, test


def default_pools() -> PhotoPools:
    """The benchmark's pools: the photographic stamps and the background photographs of the Debian packages."""
    train_objects, test_objects = find_cut_outs()
    return PhotoPools(tuple(train_objects), tuple(b for i, b in enumerate(BACKGROUNDS) if i % 3 != 2),
                      tuple(test_objects), tuple(b for i, b in enumerate(BACKGROUNDS) if i % 3 == 2))


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


def load_cut_out(path: Path) -> Image.Image:
    """RGBA, cropped to the opaque part."""
    with Image.open(path) as stamp:
        stamp = stamp.convert("RGBA")
    cropped = crop_to_opaque(stamp)
    if cropped is None:
        raise UserError(f"{path}: object photograph has no opaque pixels; give a PNG whose object is opaque")
    return cropped


def _write_split(folder: Path, count: int, objects: tuple[Path, ...], backgrounds: tuple[Path, ...],
                 rng: np.random.Generator) -> dict:
    """count examples into folder/imgs and folder/masks; returns {image name: photographs used}. Object and
    background photographs are used in turn, so images share a photograph only when the pool runs out."""
    cut_outs = [load_cut_out(p) for p in objects]
    background_photos = [load_photo(p) for p in backgrounds]
    next_object, next_background = Cycle(len(objects), rng), Cycle(len(backgrounds), rng)
    (folder / "imgs").mkdir(parents=True)
    (folder / "masks").mkdir(parents=True)
    sources = {}
    for i in range(count):
        background = next_background.next()
        used = [next_object.next() for _ in range(1 if rng.random() < 0.7 else 2)]
        image, mask = make_example(background_photos[background], [cut_outs[j] for j in used], rng)
        name = f"photo_{i:04d}"
        image.save(folder / "imgs" / f"{name}.jpg", quality=92)
        save_mask_gif(mask, folder / "masks" / f"{name}_mask.gif")
        sources[name] = {"background": str(backgrounds[background]), "objects": [str(objects[j]) for j in used]}
    return sources


def build_photo_set(out_dir: str | Path, n_train: int, n_test: int, seed: int,
                    pools: PhotoPools | None = None) -> Path:
    """Write (or reuse) a set with n_train training and n_test test images; returns out_dir. pools: the
    benchmark's own (default_pools()) when None.

    A set already there with the same settings is reused; one made with other settings is rebuilt.
    """
    out_dir = Path(out_dir)
    pools = default_pools() if pools is None else pools
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
