"""The photographs and cut-outs that the photo benchmark and the pretraining recipe both draw from.

The photo benchmark (benchmarks/photo_sets.py) pastes photographic Tux Paint stamps of STAMP_KINDS (animals, food,
household things...) on BACKGROUNDS, split into four disjoint pools: objects and backgrounds of the training images,
objects and backgrounds of the test images. The pretraining recipe (pretrained/sources.py) uses none of those: it
leaves out every picture in BACKGROUNDS and every stamp of STAMP_KINDS, so the shipped weights never saw a
photograph or an object of the benchmark's sets. Both live here so that the benchmark imports the recipe's pools,
never the reverse.
"""
import re
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from pretrained.compositing import crop_to_opaque
from utils.errors import UserError

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
