"""Write the pretraining set of a recipe: objects pasted on backgrounds, in the Carvana layout train.py reads.

    <out>/imgs/object_00000.jpg    <out>/masks/object_00000_mask.gif    (mask 0 = background, 255 = object)

Each image is a random crop of one background picture (a wallpaper, a scene photograph, a landscape, or a scene
with unmarked things, in the recipe's shares) with one to three objects on it (a drawn emoji, a photographed thing,
or an outline filled with a piece of a photograph), and its mask marks exactly what was pasted. Offline and
deterministic: the same recipe writes the same images. With --shards K the set is K independent pieces (piece k
from seed + k), which several processes write at once: the images depend on the recipe, never on the processes.
"""
import multiprocessing
import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from pretrained.compositing import Cycle, make_example, random_crop, save_mask_gif
from pretrained.recipe import DRAWN_SHARE, Recipe
from pretrained.sources import ObjectSources
from utils.errors import UserError


def photo_filled(outline: np.ndarray, photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The outline filled with a piece of the photograph, shaded like a solid lit from one side (a gradient
    across it and darker towards its edge), as an RGBA cut-out."""
    height, width = outline.shape
    piece = random_crop(photo, rng, 0.1, 0.6).resize((width, height), Image.BICUBIC)
    colours = np.asarray(piece, dtype=np.float32) / 255
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    across = ((xs / width - 0.5) * np.cos(angle) + (ys / height - 0.5) * np.sin(angle))
    inside = ndimage.distance_transform_edt(outline > 0.5)
    rim = np.clip(inside / max(3.0, 0.15 * min(height, width)), 0, 1)
    shade = (1 + rng.uniform(0.2, 0.6) * across) * (0.7 + 0.3 * rim)
    colours = np.clip(colours * shade[..., None], 0, 1)
    rgba = np.concatenate([colours, outline[..., None]], axis=2)
    return Image.fromarray((rgba * 255 + 0.5).astype(np.uint8), "RGBA")


class Backgrounds:
    """The background pictures in the recipe's shares, each of a kind used once before any comes again."""

    def __init__(self, sources: ObjectSources, recipe: Recipe, rng: np.random.Generator):
        check_sources(sources, recipe)
        self.sources, self.recipe, self.rng = sources, recipe, rng
        self.cycles = {kind: Cycle(len(getattr(sources, kind)), rng)  # a cycle draws nothing until used
                       for kind in ("photos", "scenes", "landscapes", "clutter", "monuments")}

    def kind(self) -> str:
        """Which kind of picture the next image is on."""
        if self.rng.random() < self.recipe.clutter_share:
            return "monuments" if self.rng.random() < self.recipe.monument_share else "clutter"
        if self.rng.random() < self.recipe.scene_share:
            return "landscapes" if self.rng.random() < self.recipe.landscape_share else "scenes"
        return "photos"

    def next(self) -> Image.Image:
        kind = self.kind()
        return getattr(self.sources, kind)[self.cycles[kind].next()]


def check_sources(sources: ObjectSources, recipe: Recipe) -> None:
    """A recipe that asks for a kind of picture the sources lack is a mistake in the calling code."""
    needs = {"scenes": recipe.scene_share, "landscapes": recipe.scene_share * recipe.landscape_share,
             "clutter": recipe.clutter_share, "monuments": recipe.clutter_share * recipe.monument_share,
             "photographed": recipe.photographed_share}
    for kind, share in needs.items():
        if share > 0 and not getattr(sources, kind):
            raise ValueError(f"a recipe with {kind} needs them in sources.{kind}")


def draw_objects(sources: ObjectSources, recipe: Recipe, rng: np.random.Generator) -> list[Image.Image]:
    """One to three objects: drawn emoji, photographed things and photo-filled outlines in the recipe's shares."""
    objects = []
    for _ in range(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])):
        kind = rng.random()
        if kind < DRAWN_SHARE:
            objects.append(sources.drawn[rng.integers(len(sources.drawn))])
        elif kind < DRAWN_SHARE + recipe.photographed_share:
            objects.append(sources.photographed[rng.integers(len(sources.photographed))])
        else:
            texture = rng.integers(len(sources.photos))  # may be the background's own photograph: no colour cue
            outline = sources.outlines[rng.integers(len(sources.outlines))]
            objects.append(photo_filled(outline, sources.photos[texture], rng))
    return objects


def write_set(out: Path, recipe: Recipe, sources: ObjectSources, first_index: int = 0,
              progress: bool = True) -> None:
    """recipe.count images from recipe.seed into out/imgs and their masks into out/masks, numbered from
    first_index (one piece of a set in shards)."""
    rng = np.random.default_rng(recipe.seed)
    backgrounds = Backgrounds(sources, recipe, rng)
    (out / "imgs").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(first_index, first_index + recipe.count), desc="images", unit="img", disable=not progress):
        background = backgrounds.next()
        image, mask = make_example(background, draw_objects(sources, recipe, rng), rng)
        name = f"object_{i:05d}"
        image.save(out / "imgs" / f"{name}.jpg", quality=92)
        save_mask_gif(mask, out / "masks" / f"{name}_mask.gif")


_worker_sources: ObjectSources | None = None  # each writing process's copy (inherited, or sent once at its start)


def _keep_sources(sources: ObjectSources) -> None:
    global _worker_sources
    _worker_sources = sources


def _write_piece(task: tuple[Path, Recipe, int]) -> int:
    out, piece, first_index = task
    write_set(out, piece, _worker_sources, first_index=first_index, progress=False)
    return piece.count


def write_shards(out: Path, recipe: Recipe, sources: ObjectSources, jobs: int = 1) -> None:
    """The set in recipe.shards pieces written by `jobs` processes, numbered on from the pieces before each: a
    large set is made at the speed of all the cores, and made again the same on any number of them."""
    if recipe.shards == 1:
        write_set(out, recipe, sources)
        return
    pieces = recipe.pieces()
    tasks = [(out, piece, sum(p.count for p in pieces[:k])) for k, piece in enumerate(pieces)]
    with tqdm(total=recipe.count, desc="images", unit="img") as bar:
        if jobs == 1:
            _keep_sources(sources)
            for done in map(_write_piece, tasks):
                bar.update(done)
            return
        with multiprocessing.Pool(jobs, initializer=_keep_sources, initargs=(sources,)) as pool:
            for done in pool.imap_unordered(_write_piece, tasks):
                bar.update(done)


def check_jobs(recipe: Recipe, jobs: int | None) -> int:
    """The processes to write the pieces with: --jobs, or one per core and no more than there are pieces."""
    jobs = max(1, min(recipe.shards, os.cpu_count() or 1)) if jobs is None else jobs
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: give at least 1 process")
    return jobs
