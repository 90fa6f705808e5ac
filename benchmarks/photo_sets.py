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

The photographs ship in Debian packages (pretrained/photo_pools.APT_COMMAND); building is offline and deterministic for a seed.
Set version 2 (objects cut from close-up photographs by random blob, star and glyph shapes, 13 training
photographs in all) was built by the code of commit aea7b1c; docs/image-experiments.md keeps its results.
"""
import json
import shutil
from pathlib import Path

import numpy as np

from pretrained.compositing import IMAGE_SIZE, Cycle, load_photo, make_example, save_mask_gif
from pretrained.photo_pools import PhotoPools, check_pools, default_pools, load_cut_out

FORMAT_VERSION = 3  # bump when the drawing changes, so sets built by older code are rebuilt, not reused


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
