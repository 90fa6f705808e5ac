"""benchmarks/photo_sets.py builds the real-photo benchmark sets: Carvana layout, 0/255 masks, and test images
made only of photographs that no training image uses. Checked on stand-in photographs of one flat colour each
(the objects: cut-outs, opaque inside an ellipse), so every pixel of a built image tells which photograph it
came from."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from benchmarks import benchmark_photos
from benchmarks.photo_sets import build_photo_set
from pretrained.photo_pools import PhotoPools, find_cut_outs, is_photograph, object_group
from utils.data_loading import BasicDataset, load_image, mask_to_array
from utils.errors import UserError

# Three flat-coloured stand-in photographs per pool, every colour far from every other.
POOL_COLOURS = {
    "train_objects": [(250, 20, 20), (250, 250, 20), (250, 130, 20)],
    "train_backgrounds": [(20, 20, 250), (20, 250, 250), (20, 130, 250)],
    "test_objects": [(250, 20, 250), (250, 250, 250), (130, 20, 250)],
    "test_backgrounds": [(20, 250, 20), (20, 20, 20), (130, 250, 20)],
}


def cut_out(colour: tuple[int, int, int], size: tuple[int, int] = (160, 120)) -> Image.Image:
    """An object photograph as the pools hold them: a PNG opaque inside its outline (an ellipse), clear outside."""
    stamp = Image.new("RGBA", size, colour + (0,))
    ImageDraw.Draw(stamp).ellipse((10, 10, size[0] - 10, size[1] - 10), fill=colour + (255,))
    return stamp


@pytest.fixture(scope="module")
def pools(tmp_path_factory) -> PhotoPools:
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for pool, colours in POOL_COLOURS.items():
        paths[pool] = []
        for index, colour in enumerate(colours):
            if pool.endswith("objects"):
                path = folder / f"{pool}_{index}.png"
                cut_out(colour).save(path)
            else:
                path = folder / f"{pool}_{index}.jpg"
                Image.new("RGB", (640, 480), colour).save(path, quality=95)
            paths[pool].append(path)
    return PhotoPools(**{pool: tuple(files) for pool, files in paths.items()})


@pytest.fixture(scope="module")
def photo_set(pools, tmp_path_factory):
    return build_photo_set(tmp_path_factory.mktemp("set") / "photos8", n_train=8, n_test=4, seed=0, pools=pools)


def test_carvana_layout_with_0_255_masks_the_dataset_reads(photo_set):
    for split, count in (("train", 8), ("test", 4)):
        images = sorted((photo_set / split / "imgs").iterdir())
        masks = sorted((photo_set / split / "masks").iterdir())
        assert [p.name for p in images] == [f"photo_{i:04d}.jpg" for i in range(count)]
        assert [p.name for p in masks] == [f"photo_{i:04d}_mask.gif" for i in range(count)]
        for image_file, mask_file in zip(images, masks):
            assert load_image(image_file).size == (300, 200)
            values = np.unique(mask_to_array(load_image(mask_file)))
            assert values.tolist() == [0, 255], mask_file
        dataset = BasicDataset(photo_set / split / "imgs", photo_set / split / "masks")
        assert dataset.mask_values == [0, 255] and len(dataset) == count


def _nearest_pool(pixels: np.ndarray) -> set[str]:
    """The pools whose colours the pixels are closest to."""
    names = [pool for pool, colours in POOL_COLOURS.items() for _ in colours]
    colours = np.array([c for colours in POOL_COLOURS.values() for c in colours], dtype=np.float32)
    distances = np.linalg.norm(pixels[:, None, :].astype(np.float32) - colours[None], axis=2)
    return {names[i] for i in np.unique(distances.argmin(axis=1))}


@pytest.mark.parametrize("split", ["train", "test"])
def test_objects_and_backgrounds_come_from_their_own_pools(photo_set, split):
    """Away from the object edges (where the two blend) every object pixel has an object photograph's colour
    and every background pixel a background photograph's, of this split's pools only."""
    for image_file in sorted((photo_set / split / "imgs").iterdir()):
        image = np.asarray(load_image(image_file).convert("RGB"))
        mask = mask_to_array(load_image(photo_set / split / "masks" / f"{image_file.stem}_mask.gif")) > 0
        inside = ndimage.binary_erosion(mask, iterations=3)
        outside = ndimage.binary_erosion(~mask, iterations=3)
        assert _nearest_pool(image[outside]) == {f"{split}_backgrounds"}, image_file
        if inside.any():
            assert _nearest_pool(image[inside]) == {f"{split}_objects"}, image_file


def test_each_object_photograph_is_used_once_before_any_is_used_again(photo_set):
    """A learner's photos are different photographs: the images of a set take the pool's photographs in turn."""
    sources = json.loads((photo_set / "set.json").read_text())["sources"]["train"]
    objects = [path for name in sorted(sources) for path in sources[name]["objects"]]
    backgrounds = [sources[name]["background"] for name in sorted(sources)]
    assert len(set(objects[:3])) == 3 and len(set(backgrounds[:3])) == 3  # three of each in the pools
    assert len(objects) > 8  # some images have two objects


def test_objects_vary_in_size_and_position(photo_set):
    masks = [mask_to_array(load_image(p)) > 0 for p in sorted((photo_set / "train" / "masks").iterdir())]
    areas = [m.mean() for m in masks]
    centres = [np.argwhere(m).mean(axis=0) for m in masks]
    assert all(0.005 < a < 0.6 for a in areas)
    assert max(areas) > 2 * min(areas)
    assert np.ptp([c[1] for c in centres]) > 50


def test_a_second_build_reuses_the_set_and_other_settings_rebuild_it(photo_set, pools, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in photo_set.rglob("*") if p.is_file()}
    build_photo_set(photo_set, n_train=8, n_test=4, seed=0, pools=pools)
    assert {p: p.stat().st_mtime_ns for p in photo_set.rglob("*") if p.is_file()} == before
    # The same seed elsewhere gives the same pixels (deterministic); a larger set starts with the smaller one.
    larger = build_photo_set(tmp_path / "photos10", n_train=10, n_test=4, seed=0, pools=pools)
    for name in ("train/imgs/photo_0007.jpg", "test/masks/photo_0003_mask.gif"):
        assert (larger / name).read_bytes() == (photo_set / name).read_bytes()
    assert json.loads((larger / "set.json").read_text())["settings"]["train"] == 10


def test_overlapping_pools_and_missing_photographs_are_refused(pools, tmp_path):
    shared = PhotoPools(pools.train_objects, pools.train_backgrounds, pools.train_objects[:1], pools.test_backgrounds)
    with pytest.raises(UserError, match="in both photo pools train_objects and test_objects"):
        build_photo_set(tmp_path / "shared", 2, 1, 0, shared)
    missing = PhotoPools(pools.train_objects, (tmp_path / "gone.jpg",), pools.test_objects, pools.test_backgrounds)
    with pytest.raises(UserError, match="gone.jpg: photograph not found .* apt-get install tuxpaint-stamps-default mate-backgrounds"):
        build_photo_set(tmp_path / "missing", 2, 1, 0, missing)


def test_benchmark_reads_the_scripts_figures():
    train_output = ("Epoch 1/2: Loss = 1.2, validation Dice = 0.500\r progress\r"
                    "Epoch 2/2: Loss = 0.9, validation Dice = 0.612\nINFO: done")
    assert benchmark_photos.last_validation_dice(train_output) == 0.612
    assert benchmark_photos.last_validation_dice("Epoch 1/1: Loss = 1.2\n") is None
    evaluation = "image  Dice  IoU\nphoto_0000  0.9000  0.8000\nmean        0.8512  0.7500   (20 images)\n"
    assert benchmark_photos.mean_dice(evaluation) == 0.8512


def test_the_weights_alone_row_scores_the_weights_training_starts_from():
    shipped = str(benchmark_photos.REPO_ROOT / benchmark_photos.PRETRAINED_WEIGHTS)
    assert benchmark_photos.starting_weights([]) == shipped
    assert benchmark_photos.starting_weights(["--ema", "0.9"]) == shipped
    assert benchmark_photos.starting_weights(["--load", "/tmp/stage7.pth", "--ema", "0.9"]) == "/tmp/stage7.pth"
    assert benchmark_photos.starting_weights(["-f", "a.pth"]) == "a.pth"
    assert benchmark_photos.starting_weights(["--load=b.pth"]) == "b.pth"


def test_other_set_seeds_get_their_own_folders_and_the_default_keeps_its_name():
    assert benchmark_photos.get_args(["--work", "w"]).set_seeds == [benchmark_photos.SET_SEED]
    assert benchmark_photos.get_args(["--work", "w", "--set-seed", "0", "3"]).set_seeds == [0, 3]
    assert benchmark_photos.set_folder_name(60, benchmark_photos.SET_SEED) == "photos60"
    assert benchmark_photos.set_folder_name(60, 7) == "photos60_set7"


def test_the_summary_gives_each_draws_mean_and_the_mean_over_the_draws():
    def row(name: str, dice: float) -> dict:
        return {"set": name, "seed": 0, "test Dice": dice, "val Dice": None, "train s": 1.0}

    rows = [row("photos60", 0.90), row("photos60", 0.80), row("photos60_set1", 0.70), row("photos30", 0.5)]
    assert benchmark_photos.summary_lines(rows, [60], [0, 1]) == [
        "photos60: mean test Dice 0.8500 over 2 seeds (0.8000-0.9000)",
        "photos60 over 2 draws: mean test Dice 0.8000 (3 runs; the draws' means 0.7000-0.8500)"]
    assert benchmark_photos.summary_lines(rows, [60], [0]) == [  # one draw: no line over the draws
        "photos60: mean test Dice 0.8500 over 2 seeds (0.8000-0.9000)"]
    assert benchmark_photos.summary_lines(rows[2:3], [60], [1]) == []


def test_the_breakdown_gives_each_test_backgrounds_mean_and_share_of_the_loss(photo_set):
    evaluation = ("image  Dice  IoU\nphoto_0000  0.9000  0.8000\nphoto_0001  0.5000  0.4000\n"
                  "photo_0002  1.0000  1.0000\nphoto_0003  0.7000  0.6000\nmean        0.7750  0.7000   (4 images)\n")
    dice = benchmark_photos.image_dice(evaluation)
    assert dice == {"photo_0000": 0.9, "photo_0001": 0.5, "photo_0002": 1.0, "photo_0003": 0.7}
    sources = json.loads((photo_set / "set.json").read_text())["sources"]["test"]
    by_background = {}
    for name, value in dice.items():
        by_background.setdefault(Path(sources[name]["background"]).stem, []).append(value)
    rows = [{"set dir": photo_set, "image Dice": dice}] * 2  # two runs: every image counted twice
    lines = benchmark_photos.background_lines(rows)
    assert lines[0].split() == ["test", "background", "images", "mean", "Dice", "share", "of", "the", "loss"]
    got = {line.split()[0]: (int(line.split()[1]), float(line.split()[2]), line.split()[3]) for line in lines[1:]}
    assert set(got) == set(by_background)
    for name, values in by_background.items():
        lost = sum(1 - v for v in values) / sum(1 - v for v in dice.values())
        assert got[name] == (2 * len(values), pytest.approx(sum(values) / len(values), abs=1e-4), f"{lost:.0%}")
    means = [float(line.split()[2]) for line in lines[1:]]
    assert means == sorted(means)  # worst first
    assert benchmark_photos.background_lines([]) == []


def test_a_plasma_wallpaper_is_named_by_its_folder():
    assert benchmark_photos.background_name("/usr/share/wallpapers/ColdRipple/contents/images/1280x1024.jpg") == \
        "ColdRipple"
    assert benchmark_photos.background_name("/usr/share/backgrounds/mate/nature/Aqua.jpg") == "Aqua"


def test_benchmark_refuses_bad_flags():
    with pytest.raises(UserError, match="--sets 1 60: every size must be at least 2"):
        benchmark_photos.get_args(["--work", "w", "--sets", "1", "60"])
    with pytest.raises(UserError, match="--epochs 0"):
        benchmark_photos.get_args(["--work", "w", "--epochs", "0"])
    with pytest.raises(UserError, match="--jobs 0: must be at least 1"):
        benchmark_photos.get_args(["--work", "w", "--jobs", "0"])


def noisy_cut_out(rng: np.random.Generator, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A stand-in for a photographed thing: every pixel a little different from its neighbours."""
    stamp = cut_out((120, 90, 60), size)
    pixels = np.asarray(stamp).copy()
    pixels[..., :3] = np.clip(pixels[..., :3] + rng.normal(0, 12, pixels[..., :3].shape), 0, 255)
    return Image.fromarray(pixels, "RGBA")


def test_find_cut_outs_keeps_photographs_and_splits_views_of_one_thing_together(tmp_path):
    rng = np.random.default_rng(0)
    photos = {f"animals/birds/{name}.png" for name in ("duck", "owl", "heron", "heron_flying", "tucan")}
    photos |= {f"food/{name}.png" for name in ("lion", "lion-2", "gnu-stand", "gnu-sitting", "kiwi", "pear")}
    for relative in photos:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        noisy_cut_out(rng).save(tmp_path / relative)
    (tmp_path / "animals/cartoon").mkdir()
    noisy_cut_out(rng).save(tmp_path / "animals/cartoon/cat.png")  # a cartoon folder: drawings
    cut_out((200, 30, 30)).save(tmp_path / "animals/birds/drawn_robin.png")  # flat colour: a drawing
    noisy_cut_out(rng, (60, 40)).save(tmp_path / "food/grape.png")  # too small to paste at the sets' sizes
    noisy_cut_out(rng).save(tmp_path / "symbols.png")  # not a kind asked for

    train, test = find_cut_outs(tmp_path, ("animals", "food"))
    assert {str(p.relative_to(tmp_path)) for p in train + test} == photos
    assert not set(train) & set(test) and train and test
    for views in (("lion", "lion-2"), ("gnu-stand", "gnu-sitting")):
        paths = [tmp_path / "food" / f"{view}.png" for view in views]
        assert all(p in train for p in paths) or all(p in test for p in paths), views
    assert object_group(tmp_path / "animals/birds/heron_flying.png") == f"{tmp_path}/animals/birds/heron"
    assert is_photograph(noisy_cut_out(rng)) and not is_photograph(cut_out((10, 200, 10)))


def test_missing_object_photographs_name_the_packages(tmp_path):
    with pytest.raises(UserError, match="folder of object photographs not found; install them with: "
                                        "sudo apt-get install tuxpaint-stamps-default"):
        find_cut_outs(tmp_path / "nowhere")
