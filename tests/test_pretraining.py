"""The pretraining recipe behind the shipped weights pretrained/unet_objects.pth (the package pretrained/): the set is
in the Carvana layout with masks that mark exactly what was pasted, is the same for a recipe on any number of
processes, never uses a benchmark photograph; the recipe's settings are defined once; the export keeps the weights
in half precision in a file train.py --load and predict.py read."""
import io
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from pretrained import make_pretraining_data, pretrain, sources
from pretrained.compositing import make_example
from pretrained.pretraining_set import photo_filled, write_set, write_shards
from pretrained.recipe import Recipe
from qt_resource_helpers import pack_qt_resources
from unet import UNet
from utils.data_loading import load_image, mask_to_array
from utils.errors import UserError
from utils.image_checkpoint import FORMAT_VERSION, load_unet, shipped_weights_path

BACKGROUND_COLOURS = [(20, 40, 230), (30, 220, 40)]
SCENE_COLOUR = (130, 130, 130)
LANDSCAPE_COLOUR = (230, 110, 230)
CLUTTER_COLOUR = (20, 230, 230)
MONUMENT_COLOUR = (60, 0, 120)
PHOTOGRAPHED_COLOUR = (250, 250, 10)
# Only wallpapers, drawn objects and outlines: the mix of the first stage.
PLAIN = Recipe(count=8, seed=3, photographed_share=0, scene_share=0, clutter_share=0)


def stand_in_sources() -> sources.ObjectSources:
    """Flat blue and green photographs, a drawn red disc, a square outline and a yellow photographed triangle:
    every pixel tells where it came from."""
    photos = [Image.new("RGB", (900, 600), colour) for colour in BACKGROUND_COLOURS]
    disc = Image.new("RGBA", (90, 90), (0, 0, 0, 0))
    ImageDraw.Draw(disc).ellipse((0, 0, 89, 89), fill=(240, 20, 20, 255))
    triangle = Image.new("RGBA", (90, 90), (0, 0, 0, 0))
    ImageDraw.Draw(triangle).polygon([(0, 89), (45, 0), (89, 89)], fill=(*PHOTOGRAPHED_COLOUR, 255))
    return sources.ObjectSources(photos, [disc], [np.ones((70, 70), dtype=np.float32)], [triangle],
                                 [Image.new("RGB", (900, 600), SCENE_COLOUR)],
                                 [Image.new("RGB", (512, 200), LANDSCAPE_COLOUR)],
                                 [Image.new("RGB", (900, 600), CLUTTER_COLOUR)],
                                 [Image.new("RGB", (900, 600), MONUMENT_COLOUR)])


def test_set_layout_and_masks_mark_exactly_what_was_pasted(tmp_path):
    write_set(tmp_path / "set", Recipe(count=12, seed=0), stand_in_sources())
    images = sorted((tmp_path / "set" / "imgs").glob("*.jpg"))
    assert [p.name for p in images][:2] == ["object_00000.jpg", "object_00001.jpg"] and len(images) == 12
    fractions = []
    for image_path in images:
        mask_path = tmp_path / "set" / "masks" / f"{image_path.stem}_mask.gif"
        mask = mask_to_array(load_image(mask_path))
        image = np.asarray(load_image(image_path), dtype=np.int16)
        assert set(np.unique(mask)) <= {0, 255}
        fractions.append((mask == 255).mean())
        # Away from the outlines, unmarked pixels are a background's colour: nothing pasted is unmarked.
        background = ndimage.binary_erosion(mask == 0, iterations=3)
        distance = np.min([np.abs(image - colour).max(axis=2)
                           for colour in [*BACKGROUND_COLOURS, SCENE_COLOUR, LANDSCAPE_COLOUR, CLUTTER_COLOUR,
                                          MONUMENT_COLOUR]], axis=0)
        assert distance[background].max() < 40
    assert 0.03 < min(fractions) and max(fractions) < 0.7


def set_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a set, by its path under the set's folder."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.*"))}


def test_a_seed_gives_the_same_set_and_another_seed_another(tmp_path):
    stand_ins = stand_in_sources()
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        write_set(tmp_path / name, Recipe(count=3, seed=seed), stand_ins)
    assert set_bytes(tmp_path / "a") == set_bytes(tmp_path / "b") != set_bytes(tmp_path / "c")


def test_a_set_in_shards_is_the_same_on_any_number_of_processes_and_each_piece_is_a_seeds_set(tmp_path):
    """--shards 3 splits 8 images into pieces of 3, 3 and 2, piece k from seed + k and numbered on from the
    pieces before it; 1 or 2 processes write the same files, and one piece is the plain set."""
    stand_ins = stand_in_sources()
    recipe = Recipe(count=8, seed=5, shards=3)
    assert [(piece.count, piece.seed, piece.shards) for piece in recipe.pieces()] == [(3, 5, 1), (3, 6, 1), (2, 7, 1)]
    write_shards(tmp_path / "one_job", recipe, stand_ins, jobs=1)
    write_shards(tmp_path / "two_jobs", recipe, stand_ins, jobs=2)
    one_job = set_bytes(tmp_path / "one_job")
    assert one_job == set_bytes(tmp_path / "two_jobs")
    assert sorted(name for name in one_job if name.startswith("imgs/")) == [
        f"imgs/object_{i:05d}.jpg" for i in range(8)]
    write_set(tmp_path / "third_piece", replace(recipe, count=2, seed=7, shards=1), stand_ins)
    assert one_job["imgs/object_00006.jpg"] == (tmp_path / "third_piece/imgs/object_00000.jpg").read_bytes()
    assert one_job["masks/object_00007_mask.gif"] == (tmp_path / "third_piece/masks/object_00001_mask.gif").read_bytes()
    write_shards(tmp_path / "one_piece", Recipe(count=4, seed=5), stand_ins, jobs=2)
    write_set(tmp_path / "plain", Recipe(count=4, seed=5), stand_ins)
    assert set_bytes(tmp_path / "one_piece") == set_bytes(tmp_path / "plain")
    assert [piece.count for piece in Recipe(count=36000, shards=16).pieces()] == [2250] * 16


def test_a_sources_file_builds_the_very_same_set_as_the_sources_it_was_saved_from(tmp_path, monkeypatch):
    """--save-sources keeps every picture losslessly, so a machine without the Debian packages makes the same
    images from the file; a file that is not one gets a one-line error naming it."""
    stand_ins = stand_in_sources()
    sources.save_sources(stand_ins, tmp_path / "sources.zip")
    assert not list(tmp_path.glob("*.partial"))
    loaded = sources.load_sources(tmp_path / "sources.zip")
    assert [len(getattr(loaded, kind)) for kind in (*sources.SOURCE_PICTURES, "outlines")] == [
        len(getattr(stand_ins, kind)) for kind in (*sources.SOURCE_PICTURES, "outlines")]
    recipe = Recipe(count=6, seed=3, clutter_share=0.4, monument_share=0.5, landscape_share=0.8)
    write_set(tmp_path / "from_packages", recipe, stand_ins)
    write_set(tmp_path / "from_file", recipe, loaded)
    assert set_bytes(tmp_path / "from_packages") == set_bytes(tmp_path / "from_file")

    (tmp_path / "not_sources.zip").write_text("hello")
    monkeypatch.setattr("sys.argv", ["make_pretraining_data.py", "--sources", str(tmp_path / "not_sources.zip"),
                                     "--out", str(tmp_path / "set")])
    with pytest.raises(UserError, match=re.escape(f"--sources {tmp_path / 'not_sources.zip'}: cannot read it")):
        make_pretraining_data.main()
    monkeypatch.setattr("sys.argv", ["make_pretraining_data.py", "--count", "5"])
    with pytest.raises(UserError, match="--out: give the folder"):
        make_pretraining_data.main()


@pytest.mark.parametrize("flags, message", [
    (["--shards", "0"], "--shards 0: give from 1 to --count (20) pieces"),
    (["--shards", "21"], "--shards 21: give from 1 to --count (20) pieces"),
    (["--jobs", "0"], "--jobs 0: give at least 1 process"),
    (["--photographed-share", "0.9"], "--photographed-share 0.9: give a value from 0 to 0.65"),
    (["--scene-share", "-1"], "--scene-share -1.0: give a value from 0 to 1.00"),
    (["--landscape-share", "2"], "--landscape-share 2.0: give a value from 0 to 1.00"),
    (["--clutter-share", "1.5"], "--clutter-share 1.5: give a value from 0 to 1.00"),
    (["--monument-share", "-0.1"], "--monument-share -0.1: give a value from 0 to 1.00"),
    (["--seed", "-1"], "--seed -1: give a value at least 0"),
])
def test_both_scripts_refuse_a_recipe_out_of_range_before_any_work(tmp_path, monkeypatch, flags, message):
    for script in (make_pretraining_data, pretrain):
        monkeypatch.setattr("sys.argv", [f"{script.__name__}.py", "--count", "20", *flags,
                                         "--out" if script is make_pretraining_data else "--work", str(tmp_path)])
        with pytest.raises(UserError, match="^" + re.escape(message) + "$"):
            script.main()
    assert not any(tmp_path.iterdir())


def test_the_recipe_is_defined_once_and_its_command_line_gives_it_back(monkeypatch):
    """Recipe's fields are the flags of both scripts, with the same defaults; the command line a stage records
    parses back to the same recipe, and the manifest tells recipes apart."""
    recipe = Recipe(count=64, seed=2, shards=4, clutter_share=0.1)
    program, *flags = recipe.command_line().split()
    monkeypatch.setattr("sys.argv", [program, *flags, "--out", "unused"])
    assert Recipe.from_args(make_pretraining_data.get_args()) == recipe
    monkeypatch.setattr("sys.argv", ["pretrain.py"])
    assert Recipe.from_args(pretrain.get_args()) == Recipe()
    assert "--shards" not in Recipe().command_line()  # a set in one piece records no --shards
    assert recipe.manifest() != replace(recipe, monument_share=0.5).manifest()
    assert recipe.shares() == {"photographed_share": 0.3, "scene_share": 0.5, "landscape_share": 0.5,
                               "clutter_share": 0.1, "monument_share": 0.6}


def pixels_of(colour: tuple[int, int, int], folder: Path) -> int:
    """How many pixels of the set's images are of that colour."""
    return sum(int((np.abs(np.asarray(load_image(path), dtype=np.int16) - colour).max(axis=2) < 30).sum())
               for path in folder.glob("imgs/*.jpg"))


def test_shares_zero_leave_photographed_things_and_scenes_out_and_more_add_them(tmp_path):
    stand_ins = stand_in_sources()
    write_set(tmp_path / "none", PLAIN, stand_ins)
    write_set(tmp_path / "many", replace(PLAIN, photographed_share=0.65, scene_share=0.5, landscape_share=0), stand_ins)
    assert pixels_of(PHOTOGRAPHED_COLOUR, tmp_path / "none") == 0 and pixels_of(SCENE_COLOUR, tmp_path / "none") == 0
    assert pixels_of(PHOTOGRAPHED_COLOUR, tmp_path / "many") > 8 * 500
    assert 2 * 30000 < pixels_of(SCENE_COLOUR, tmp_path / "many") < 7 * 60000  # 2 to 7 of the 8 images on a scene
    # The first stage's mix needs none of the other pictures.
    write_set(tmp_path / "first", PLAIN, sources.ObjectSources(stand_ins.photos, stand_ins.drawn, stand_ins.outlines, []))
    with pytest.raises(ValueError, match="a recipe with scenes needs them in sources.scenes"):
        write_set(tmp_path / "x", replace(PLAIN, scene_share=0.5),
                  sources.ObjectSources(stand_ins.photos, stand_ins.drawn, stand_ins.outlines, []))


@pytest.mark.parametrize("kind, colour, recipe", [
    ("landscapes", LANDSCAPE_COLOUR, replace(PLAIN, count=12, seed=5, scene_share=0.5, landscape_share=0.5)),
    ("clutter", CLUTTER_COLOUR, replace(PLAIN, count=12, seed=7, clutter_share=0.4, monument_share=0)),
    ("monuments", MONUMENT_COLOUR, replace(PLAIN, count=12, seed=7, clutter_share=0.5, monument_share=0.8)),
])
def test_each_share_puts_images_on_its_kind_of_background(tmp_path, kind, colour, recipe):
    stand_ins = stand_in_sources()
    write_set(tmp_path / "some", recipe, stand_ins)
    assert pixels_of(colour, tmp_path / "some") > 30000  # at least half an image on that kind of picture
    without = {"landscapes": replace(recipe, landscape_share=0), "clutter": replace(recipe, clutter_share=0),
               "monuments": replace(recipe, monument_share=0)}[kind]
    write_set(tmp_path / "none", without, stand_ins)
    assert pixels_of(colour, tmp_path / "none") < 1000  # a few edge pixels where two colours meet
    lacking = replace(stand_ins, **{kind: []})
    with pytest.raises(ValueError, match=f"a recipe with {kind} needs them in sources.{kind}"):
        write_set(tmp_path / "lacking", recipe, lacking)


def test_find_monuments_reads_the_photographs_packed_in_a_qt_resource_file(tmp_path):
    photos = {}
    for index, name in enumerate(("france/castle.webp", "egypt/pyramid.jpg")):
        buffer = io.BytesIO()
        Image.new("RGB", (64 + index, 48), (10 * index, 100, 200)).save(buffer, format=Path(name).suffix[1:]
                                                                        .replace("jpg", "jpeg"))
        photos[name] = buffer.getvalue()
    resource_file = tmp_path / "monuments.rcc"
    resource_file.write_bytes(pack_qt_resources({**photos, "board/board1.qml": b"Item {}"}))
    found = sources.find_monuments(resource_file, minimum=2)
    assert [photo.size for photo in found] == [(65, 48), (64, 48)]  # sorted by path: egypt/, then france/
    assert all(photo.mode == "RGB" for photo in found)
    with pytest.raises(UserError, match="found 2 photographs, expected at least 3"):
        sources.find_monuments(resource_file, minimum=3)
    with pytest.raises(UserError, match="missing.rcc: not found; install it with: .*gcompris-qt-data"):
        sources.find_monuments(tmp_path / "missing.rcc")


def test_find_clutter_gathers_templates_puzzles_skies_and_landscape_pieces_and_names_what_is_missing(tmp_path):
    for name in sources.CLUTTER_TEMPLATES:
        noise_photo(tmp_path / "templates" / f"{name}.jpg", 1)
    for name in sources.CLUTTER_PUZZLES:
        noise_photo(tmp_path / "puzzles" / f"{name}.jpg", 2)
    for weather in ("sunny", "night"):
        for view in ("frontH", "leftH", "rightH", "front"):  # the small views are the large ones again
            noise_photo(tmp_path / "skies" / weather / f"{view}.png", 3, (256, 256))
    for piece in sources.CLUTTER_LANDSCAPE_PIECES:
        panorama_piece(tmp_path / "landscapes" / f"{piece}.png", sky_rows=60)
    folders = (tmp_path / "templates", tmp_path / "landscapes", tmp_path / "puzzles", tmp_path / "skies")
    scenes = sources.find_clutter(*folders)
    assert len(scenes) == (len(sources.CLUTTER_TEMPLATES) + len(sources.CLUTTER_PUZZLES) + 2 * 3
                           + len(sources.CLUTTER_LANDSCAPE_PIECES))
    assert all(scene.mode == "RGB" for scene in scenes) and scenes[-1].size == (200, 100)  # the ground only
    (tmp_path / "puzzles" / f"{sources.CLUTTER_PUZZLES[0]}.jpg").unlink()
    with pytest.raises(UserError, match=f"{sources.CLUTTER_PUZZLES[0]}.jpg: not found; install .*palapeli-data"):
        sources.find_clutter(*folders)


def panorama_piece(path: Path, sky_rows: int, height: int = 160) -> None:
    """A 200-pixel-wide RGBA panorama piece: sky_rows transparent rows (with a jagged tree) above opaque ground."""
    path.parent.mkdir(parents=True, exist_ok=True)
    piece = np.zeros((height, 200, 4), dtype=np.uint8)
    piece[sky_rows:] = (90, 140, 60, 255)
    piece[max(0, sky_rows - 20):sky_rows, 50:60] = (20, 60, 20, 255)  # a tree above the horizon
    Image.fromarray(piece).save(path)


def test_find_landscapes_keeps_the_ground_below_the_sky_and_leaves_out_layers_and_pieces(tmp_path):
    panorama_piece(tmp_path / "field" / "field1.png", sky_rows=60)
    panorama_piece(tmp_path / "field" / "field2.png", sky_rows=120)  # 40 rows of ground: a strip, not a scene
    panorama_piece(tmp_path / "field" / "field3.png", sky_rows=0)
    panorama_piece(tmp_path / "field" / "fog.png", sky_rows=0)
    panorama_piece(tmp_path / "field" / "field1-lgt.png", sky_rows=0)
    panorama_piece(tmp_path / "town" / "town1.png", sky_rows=0)  # a piece with parked cars
    panorama_piece(tmp_path / "mars" / "rover.png", sky_rows=0)  # a landscape not asked for
    bands = sources.find_landscapes(tmp_path, ("field", "town"), left_out=("town1",))
    assert [band.size for band in bands] == [(200, 100), (200, 160)]
    assert all(band.mode == "RGB" and band.getpixel((55, 0)) == (90, 140, 60) for band in bands)
    with pytest.raises(UserError, match="found no landscape in .*mars.*apt-get install .*stellarium-data"):
        sources.find_landscapes(tmp_path / "mars", ("mars",))


def test_find_scenes_leaves_out_the_templates_that_show_a_thing(tmp_path):
    for name in ("bark", "rocks", "waves", "sheep", "jellyfish"):
        noise_photo(tmp_path / f"{name}.jpg", len(name))
    assert [p.stem for p in sources.find_scenes(tmp_path, minimum=3)] == ["bark", "rocks", "waves"]
    with pytest.raises(UserError, match="found 3 scene photographs in .*apt-get install"):
        sources.find_scenes(tmp_path, minimum=4)


def stamp(path: Path, photographic: bool) -> None:
    """A 120x120 cut-out: photographic (noisy pixels) or drawn (one flat colour)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    rgb = rng.integers(0, 255, (120, 120, 3), dtype=np.uint8) if photographic else np.full((120, 120, 3), 90, np.uint8)
    alpha = np.zeros((120, 120, 1), dtype=np.uint8)
    alpha[10:110, 20:100] = 255
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(path)


def test_photographed_things_are_photographic_stamps_of_kinds_the_benchmark_never_uses(tmp_path):
    stamp(tmp_path / "vehicles" / "bus.png", True)
    stamp(tmp_path / "vehicles" / "drawn_bus.png", False)
    stamp(tmp_path / "seasonal" / "winter" / "sled.png", True)
    stamp(tmp_path / "seasonal" / "christmas" / "pudding.png", True)  # a benchmark kind
    found = sources.find_photographed(tmp_path, ("vehicles", "seasonal/winter"))
    assert found == [tmp_path / "seasonal" / "winter" / "sled.png", tmp_path / "vehicles" / "bus.png"]
    for kind in ("seasonal", "seasonal/christmas", "food"):
        with pytest.raises(ValueError, match=f"stamp kind {kind} is or holds one of the benchmark's"):
            sources.find_photographed(tmp_path, ("vehicles", kind))


def noise_photo(path: Path, seed: int, size: tuple[int, int] = (800, 600)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)  # a distinct blocky picture per seed
    Image.fromarray(coarse).resize(size, Image.NEAREST).save(path)
    return path


def test_find_photos_leaves_out_the_benchmark_photographs_and_repeats(tmp_path):
    benchmark = noise_photo(tmp_path / "backgrounds" / "bench.jpg", 0)
    noise_photo(tmp_path / "backgrounds" / "bench_renamed.png", 0)  # the same picture under another name
    plasma = tmp_path / "wallpapers" / "Hills" / "contents" / "images"
    noise_photo(plasma / "1280x1024.png", 1, (1280, 1024))
    noise_photo(plasma / "3840x2160.png", 1, (3840, 2160))  # one picture at two sizes: counted once
    noise_photo(tmp_path / "backgrounds" / "icon.png", 2, (300, 200))  # too small to crop from
    others = [noise_photo(tmp_path / "backgrounds" / f"photo{i}.jpg", 10 + i) for i in range(3)]
    found = sources.find_photos((tmp_path / "backgrounds", tmp_path / "wallpapers"), (benchmark,), minimum=4)
    assert sorted(found) == sorted(others + [plasma / "1280x1024.png"])
    with pytest.raises(UserError, match="found 4 wallpaper photographs.*apt-get install"):
        sources.find_photos((tmp_path / "backgrounds", tmp_path / "wallpapers"), (benchmark,), minimum=5)


@pytest.mark.skipif(not (sources.EMOJI_FONT.is_file() and sources.SYMBOL_FONT.is_file()),
                    reason="fonts-noto-color-emoji and fonts-symbola are not installed")
def test_the_fonts_give_a_thousand_drawn_objects_and_twice_as_many_outlines():
    drawn = sources.render_emoji()
    outlines = sources.render_outlines(drawn)
    assert len(drawn) > 1000 and len(outlines) > 2000
    assert all(glyph.mode == "RGBA" and min(glyph.size) >= sources.MIN_SIDE for glyph in drawn)
    assert all(outline.max() == 1.0 and outline.mean() >= sources.MIN_FILL - 0.05 for outline in outlines)

def test_export_keeps_half_precision_weights_that_load_and_predict_alike(tmp_path):
    torch.manual_seed(0)
    net = UNet(3, 2, base_channels=4, normalize_input=True, norm="ibn").eval()
    pretrain_run = {"state_dict": net.state_dict(), "model_config": net.config(), "mask_values": [0, 255],
                    "args": {"scale": 0.75}, "history": {"val_dice": [0.5]}, "epoch": 1}
    torch.save(pretrain_run, tmp_path / "checkpoint_epoch1.pth")
    pretrain.export_weights(tmp_path / "checkpoint_epoch1.pth", tmp_path / "out.pth", {"set": "test"})
    saved = torch.load(tmp_path / "out.pth", weights_only=True)
    assert saved["format_version"] == FORMAT_VERSION and saved["epoch"] == 1
    assert saved["state_dict"]["inc.double_conv.0.weight"].dtype == torch.float16
    assert saved["pretraining"] == {"set": "test"} and saved["mask_values"] == [0, 255]
    loaded, mask_values, _ = load_unet(tmp_path / "out.pth")
    image = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(image), net(image), atol=0.05)


def test_pretrain_refuses_a_tiny_set(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--count", "5", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--count 5 --epochs 6: give at least 10 images and 1 epoch"):
        pretrain.main()


def fake_training(commands: list) -> Callable[[list[str]], object]:
    """A stand-in for subprocess.run of train.py: records the command and writes a tiny epoch-1 checkpoint."""
    def run(command):
        commands.append(command)
        run_dir = Path(command[command.index("--checkpoint-dir") + 1])
        net = UNet(3, 2, base_channels=4)
        run_dir.mkdir(parents=True)
        torch.save({"state_dict": net.state_dict(), "model_config": net.config(), "mask_values": [0, 255],
                    "args": {}, "history": {}}, run_dir / "checkpoint_epoch1.pth")
        return type("Finished", (), {"returncode": 0})()
    return run


def test_pretrain_trains_from_random_weights_or_from_start_and_records_how(tmp_path, monkeypatch):
    """The train.py command pretrain.py runs: --no-pretrained (never the shipped file it may be remaking) or
    --load of --start with its learning rate; the exported file records the start's own provenance."""
    commands = []
    monkeypatch.setattr(pretrain, "build_set", lambda *args: None)
    monkeypatch.setattr(pretrain.subprocess, "run", fake_training(commands))
    first, second = tmp_path / "first.pth", tmp_path / "second.pth"
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--epochs", "1", "--work", str(tmp_path / "a"), "--out", str(first),
                                     "--photographed-share", "0"])
    pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--epochs", "1", "--work", str(tmp_path / "b"), "--out",
                                     str(second), "--start", str(first), "--learning-rate", "3e-4"])
    pretrain.main()
    assert "--no-pretrained" in commands[0] and "--load" not in commands[0] and "--learning-rate" not in commands[0]
    assert commands[1][commands[1].index("--load") + 1] == str(first) and "--no-pretrained" not in commands[1]
    assert commands[1][commands[1].index("--learning-rate") + 1] == "0.0003"
    provenance = torch.load(second, weights_only=True)["pretraining"]
    assert provenance["start"]["set"] == Recipe(photographed_share=0.0).command_line()
    assert provenance["set"] == Recipe().command_line() == (
        "make_pretraining_data.py --count 12000 --seed 0 --photographed-share 0.3 --scene-share 0.5 "
        "--landscape-share 0.5 --clutter-share 0.25 --monument-share 0.6")
    assert "--load" in provenance["training"]


def test_pretrain_passes_the_gpu_flags_to_train_py_and_records_the_shards(tmp_path, monkeypatch):
    commands, built = [], []
    monkeypatch.setattr(pretrain, "build_set", lambda *args: built.append(args))
    monkeypatch.setattr(pretrain.subprocess, "run", fake_training(commands))
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--epochs", "1", "--work", str(tmp_path / "a"), "--out",
                                     str(tmp_path / "w.pth"), "--count", "64", "--shards", "16", "--jobs", "4",
                                     "--device", "cuda", "--workers", "7", "--batch-size", "16", "--scale", "1"])
    pretrain.main()
    command = commands[0]
    assert [command[command.index(flag) + 1] for flag in ("--device", "--workers", "--batch-size", "--scale")] == [
        "cuda", "7", "16", "1.0"]
    assert built[0][1] == Recipe(count=64, shards=16) and built[0][2] == 4
    provenance = torch.load(tmp_path / "w.pth", weights_only=True)["pretraining"]
    assert provenance["set"].startswith("make_pretraining_data.py --count 64 --seed 0 --shards 16 ")
    assert "--device cuda" in provenance["training"]


def test_pretrain_reuses_a_set_of_the_same_recipe_and_refuses_a_folder_of_another(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(pretrain, "write_shards", lambda folder, recipe, *rest: (
        built.append(recipe), (folder / "imgs").mkdir(parents=True)))
    monkeypatch.setattr(pretrain, "get_sources", lambda *args: None)
    pretrain.build_set(tmp_path / "data", Recipe(count=20), 1)
    pretrain.build_set(tmp_path / "data", Recipe(count=20), 1)  # reused: set.json is that recipe's
    assert built == [Recipe(count=20)]
    with pytest.raises(UserError, match="holds another or an unfinished set"):
        pretrain.build_set(tmp_path / "data", Recipe(count=20, seed=1), 1)


def smooth_photo(seed: int, size: tuple[int, int] = (900, 600)) -> Image.Image:
    """A stand-in photograph: smooth random colour fields with some fine grain."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    grain = rng.normal(0, 8, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(coarse, dtype=np.float32) + grain, 0, 255).astype(np.uint8))


def test_the_shipped_weights_mark_objects_pasted_on_photographs_without_any_training():
    """pretrained/unet_objects.pth as it is (what train.py starts from): on images made like its pretraining set
    but from photographs and outlines it never saw, it marks the pasted objects."""
    model, _, _ = load_unet(shipped_weights_path())
    model.eval()
    rng = np.random.default_rng(7)
    photos = [smooth_photo(seed) for seed in range(4)]
    scores = []
    for index in range(6):
        outline = np.zeros((120, 120), dtype=np.float32)
        ys, xs = np.mgrid[0:120, 0:120]
        outline[((ys - 60) / (30 + 10 * index)) ** 2 + ((xs - 60) / 55) ** 2 <= 1] = 1  # ellipses of other shapes
        thing = photo_filled(outline, photos[(index + 1) % 4], rng)
        image, mask = make_example(photos[index % 4], [thing], rng)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            predicted = model(pixels).argmax(dim=1)[0].numpy() == 1
        truth = np.asarray(mask) == 255
        scores.append(2 * (predicted & truth).sum() / (predicted.sum() + truth.sum()))
    assert np.mean(scores) > 0.8  # 0.94 with the shipped weights; random weights mark no shape in particular


def test_the_shipped_weights_record_every_stage_with_a_command_todays_scripts_accept(monkeypatch):
    """Each stage's set command in pretrained/unet_objects.pth parses with today's make_pretraining_data.py into a
    recipe in range, so `pretrained/README.md`'s recipe can be rerun stage by stage."""
    stage = torch.load(shipped_weights_path(), weights_only=True)["pretraining"]
    stages = 0
    while stage is not None:
        program, *flags = stage["set"].split()
        assert program == "make_pretraining_data.py" and stage["training"].startswith("train.py ")
        monkeypatch.setattr("sys.argv", [program, *flags, "--out", "unused"])
        recipe = Recipe.from_args(make_pretraining_data.get_args())
        recipe.check()
        assert recipe.count >= 12000
        stage, stages = stage.get("start"), stages + 1
    assert stages >= 4
