"""make_pretraining_data.py and pretrain.py, which made the shipped weights pretrained/unet_objects.pth: the set is
in the Carvana layout with masks that mark exactly what was pasted, is the same for a seed, never uses a benchmark
photograph; the export keeps the weights in half precision in a file train.py --load and predict.py read."""
import io
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

import make_pretraining_data as pretraining
import pretrain
from utils.image_checkpoint import PRETRAINED_WEIGHTS
from unet import UNet
from utils.compositing import decoy_patch, make_example, placed_object
from utils.data_loading import load_image, mask_to_array
from utils.errors import UserError
from utils.qt_resources import pack_qt_resources
from utils.image_checkpoint import load_unet

BACKGROUND_COLOURS = [(20, 40, 230), (30, 220, 40)]
SCENE_COLOUR = (130, 130, 130)
LANDSCAPE_COLOUR = (230, 110, 230)
CLUTTER_COLOUR = (20, 230, 230)
MONUMENT_COLOUR = (60, 0, 120)
SKYLINE_COLOUR = (250, 160, 0)


PHOTOGRAPHED_COLOUR = (250, 250, 10)


def stand_in_sources() -> pretraining.ObjectSources:
    """Flat blue and green photographs, a drawn red disc, a square outline and a yellow photographed triangle:
    every pixel tells where it came from."""
    photos = [Image.new("RGB", (900, 600), colour) for colour in BACKGROUND_COLOURS]
    disc = Image.new("RGBA", (90, 90), (0, 0, 0, 0))
    ImageDraw.Draw(disc).ellipse((0, 0, 89, 89), fill=(240, 20, 20, 255))
    triangle = Image.new("RGBA", (90, 90), (0, 0, 0, 0))
    ImageDraw.Draw(triangle).polygon([(0, 89), (45, 0), (89, 89)], fill=(*PHOTOGRAPHED_COLOUR, 255))
    return pretraining.ObjectSources(photos, [disc], [np.ones((70, 70), dtype=np.float32)], [triangle],
                                     [Image.new("RGB", (900, 600), SCENE_COLOUR)],
                                     [Image.new("RGB", (512, 200), LANDSCAPE_COLOUR)],
                                     [Image.new("RGB", (900, 600), CLUTTER_COLOUR)],
                                     [Image.new("RGB", (900, 600), MONUMENT_COLOUR)],
                                     [Image.new("RGB", (512, 300), SKYLINE_COLOUR)])


def test_set_layout_and_masks_mark_exactly_what_was_pasted(tmp_path):
    pretraining.write_set(tmp_path / "set", 12, 0, stand_in_sources())
    images = sorted((tmp_path / "set" / "imgs").glob("*.jpg"))
    assert [p.name for p in images][:2] == ["object_00000.jpg", "object_00001.jpg"] and len(images) == 12
    fractions = []
    for image_path in images:
        mask_path = tmp_path / "set" / "masks" / f"{image_path.stem}_mask.gif"
        mask = mask_to_array(load_image(mask_path))
        image = np.asarray(load_image(image_path), dtype=np.int16)
        assert set(np.unique(mask)) <= {0, 255}
        fractions.append((mask == 255).mean())
        # Away from the outlines, unmarked pixels are a wallpaper's or the scene's colour: nothing pasted is unmarked.
        background = ndimage.binary_erosion(mask == 0, iterations=3)
        distance = np.min([np.abs(image - colour).max(axis=2)
                           for colour in [*BACKGROUND_COLOURS, SCENE_COLOUR, LANDSCAPE_COLOUR, CLUTTER_COLOUR,
                                          MONUMENT_COLOUR, SKYLINE_COLOUR]], axis=0)
        assert distance[background].max() < 40
    assert 0.03 < min(fractions) and max(fractions) < 0.7


def test_a_seed_gives_the_same_set_and_another_seed_another(tmp_path):
    sources = stand_in_sources()
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        pretraining.write_set(tmp_path / name, 3, seed, sources)
    read = {name: (tmp_path / name / "masks" / "object_00002_mask.gif").read_bytes() for name in "abc"}
    assert read["a"] == read["b"] and read["a"] != read["c"]


def set_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of a set, by its path under the set's folder."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.*"))}


def test_a_set_in_shards_is_the_same_on_any_number_of_processes_and_each_piece_is_a_seeds_set(tmp_path):
    """--shards 3 splits 8 images into pieces of 3, 3 and 2, piece k from seed + k and numbered on from the
    pieces before it; 1 or 2 processes write the same files, and one piece is the plain set."""
    sources = stand_in_sources()
    pretraining.write_shards(tmp_path / "one_job", 8, 5, 3, 1, sources, clutter_share=0.3)
    pretraining.write_shards(tmp_path / "two_jobs", 8, 5, 3, 2, sources, clutter_share=0.3)
    one_job = set_bytes(tmp_path / "one_job")
    assert one_job == set_bytes(tmp_path / "two_jobs")
    assert sorted(name for name in one_job if name.startswith("imgs/")) == [
        f"imgs/object_{i:05d}.jpg" for i in range(8)]
    pretraining.write_set(tmp_path / "third_piece", 2, 7, sources, clutter_share=0.3)  # seed 5 + 2
    assert one_job["imgs/object_00006.jpg"] == (tmp_path / "third_piece/imgs/object_00000.jpg").read_bytes()
    assert one_job["masks/object_00007_mask.gif"] == (tmp_path / "third_piece/masks/object_00001_mask.gif").read_bytes()
    pretraining.write_shards(tmp_path / "one_piece", 4, 5, 1, 2, sources)
    pretraining.write_set(tmp_path / "plain", 4, 5, sources)
    assert set_bytes(tmp_path / "one_piece") == set_bytes(tmp_path / "plain")
    assert pretraining.shard_sizes(8, 3) == [3, 3, 2] and pretraining.shard_sizes(36000, 16) == [2250] * 16


def test_a_sources_file_builds_the_very_same_set_as_the_sources_it_was_saved_from(tmp_path, monkeypatch):
    """--save-sources keeps every picture losslessly, so a machine without the Debian packages makes the same
    images from the file; a file that is not one gets a one-line error naming it."""
    sources = stand_in_sources()
    pretraining.save_sources(sources, tmp_path / "sources.zip")
    assert not list(tmp_path.glob("*.partial"))
    loaded = pretraining.load_sources(tmp_path / "sources.zip")
    assert [len(getattr(loaded, kind)) for kind in (*pretraining.SOURCE_PICTURES, "outlines")] == [
        len(getattr(sources, kind)) for kind in (*pretraining.SOURCE_PICTURES, "outlines")]
    shares = {"clutter_share": 0.4, "monument_share": 0.5, "landscape_share": 0.8, "skyline_share": 0.5}
    pretraining.write_set(tmp_path / "from_packages", 6, 3, sources, **shares)
    pretraining.write_set(tmp_path / "from_file", 6, 3, loaded, **shares)
    assert set_bytes(tmp_path / "from_packages") == set_bytes(tmp_path / "from_file")

    (tmp_path / "not_sources.zip").write_text("hello")
    monkeypatch.setattr("sys.argv", ["make_pretraining_data.py", "--sources", str(tmp_path / "not_sources.zip"),
                                     "--out", str(tmp_path / "set")])
    with pytest.raises(UserError, match=re.escape(f"--sources {tmp_path / 'not_sources.zip'}: cannot read it")):
        pretraining.main()
    monkeypatch.setattr("sys.argv", ["make_pretraining_data.py", "--count", "5"])
    with pytest.raises(UserError, match="--out: give the folder"):
        pretraining.main()


@pytest.mark.parametrize("flags, message", [
    (["--shards", "0"], "--shards 0: give from 1 to --count (20) pieces"),
    (["--shards", "21"], "--shards 21: give from 1 to --count (20) pieces"),
    (["--jobs", "0"], "--jobs 0: give at least 1 process"),
])
def test_make_pretraining_data_and_pretrain_refuse_shards_or_jobs_out_of_range(tmp_path, monkeypatch, flags, message):
    for script in (pretraining, pretrain):
        monkeypatch.setattr("sys.argv", [f"{script.__name__}.py", "--count", "20", *flags,
                                         "--out" if script is pretraining else "--work", str(tmp_path)])
        with pytest.raises(UserError, match=re.escape(message)):
            script.main()
    assert not any(tmp_path.iterdir())


def pixels_of(colour: tuple[int, int, int], folder: Path) -> int:
    """How many pixels of the set's images are of that colour."""
    return sum(int((np.abs(np.asarray(load_image(path), dtype=np.int16) - colour).max(axis=2) < 30).sum())
               for path in folder.glob("imgs/*.jpg"))


def test_shares_zero_make_the_set_of_the_first_weights_and_more_add_photographed_things_and_scenes(tmp_path):
    sources = stand_in_sources()
    pretraining.write_set(tmp_path / "none", 8, 3, sources, photographed_share=0, scene_share=0)
    pretraining.write_set(tmp_path / "many", 8, 3, sources, photographed_share=0.65, scene_share=0.5,
                          landscape_share=0)
    assert pixels_of(PHOTOGRAPHED_COLOUR, tmp_path / "none") == 0 and pixels_of(SCENE_COLOUR, tmp_path / "none") == 0
    assert pixels_of(PHOTOGRAPHED_COLOUR, tmp_path / "many") > 8 * 500
    assert 2 * 30000 < pixels_of(SCENE_COLOUR, tmp_path / "many") < 7 * 60000  # 2 to 7 of the 8 images on a scene
    # With shares 0 the random draws are those of the set made before photographed things and scenes existed: a
    # set without those sources at all (as then) is byte-identical.
    earlier = pretraining.ObjectSources(sources.photos, sources.drawn, sources.outlines, [])
    pretraining.write_set(tmp_path / "earlier", 8, 3, earlier, photographed_share=0, scene_share=0)
    for path in (tmp_path / "earlier").rglob("*.*"):
        assert path.read_bytes() == (tmp_path / "none" / path.relative_to(tmp_path / "earlier")).read_bytes()


def test_landscape_share_zero_makes_the_set_before_landscapes_and_more_puts_scenes_on_landscapes(tmp_path):
    sources = stand_in_sources()
    pretraining.write_set(tmp_path / "none", 12, 5, sources, scene_share=0.5, landscape_share=0)
    pretraining.write_set(tmp_path / "half", 12, 5, sources, scene_share=0.5, landscape_share=0.5)
    assert pixels_of(LANDSCAPE_COLOUR, tmp_path / "none") == 0
    assert pixels_of(LANDSCAPE_COLOUR, tmp_path / "half") > 30000  # at least one image on a landscape
    assert pixels_of(SCENE_COLOUR, tmp_path / "half") < pixels_of(SCENE_COLOUR, tmp_path / "none")
    earlier = pretraining.ObjectSources(sources.photos, sources.drawn, sources.outlines, sources.photographed,
                                        sources.scenes)
    pretraining.write_set(tmp_path / "earlier", 12, 5, earlier, scene_share=0.5, landscape_share=0)
    for path in (tmp_path / "earlier").rglob("*.*"):
        assert path.read_bytes() == (tmp_path / "none" / path.relative_to(tmp_path / "earlier")).read_bytes()
    with pytest.raises(ValueError, match="landscape_share > 0 needs landscapes"):
        pretraining.write_set(tmp_path / "no_landscapes", 2, 5, earlier, scene_share=0.5, landscape_share=0.5)


def test_clutter_share_zero_makes_the_set_before_clutter_and_more_puts_images_on_scenes_with_unmarked_things(
        tmp_path):
    sources = stand_in_sources()
    pretraining.write_set(tmp_path / "none", 12, 7, sources, clutter_share=0)
    pretraining.write_set(tmp_path / "some", 12, 7, sources, clutter_share=0.4)
    assert pixels_of(CLUTTER_COLOUR, tmp_path / "none") == 0
    assert 2 * 30000 < pixels_of(CLUTTER_COLOUR, tmp_path / "some") < 10 * 60000  # 2 to 10 of the 12 images
    # write_set marks only what it pasted, so a scene's things stay unmarked (test_set_layout_... checks the masks).
    earlier = pretraining.ObjectSources(sources.photos, sources.drawn, sources.outlines, sources.photographed,
                                        sources.scenes, sources.landscapes)
    pretraining.write_set(tmp_path / "earlier", 12, 7, earlier)
    for path in (tmp_path / "earlier").rglob("*.*"):
        assert path.read_bytes() == (tmp_path / "none" / path.relative_to(tmp_path / "earlier")).read_bytes()
    with pytest.raises(ValueError, match="clutter_share > 0 needs scenes with unmarked things"):
        pretraining.write_set(tmp_path / "no_clutter", 2, 7, earlier, clutter_share=0.4)


def test_monument_share_zero_makes_the_set_before_monuments_and_more_puts_clutter_backgrounds_on_monuments(tmp_path):
    sources = stand_in_sources()
    pretraining.write_set(tmp_path / "none", 12, 7, sources, clutter_share=0.5, monument_share=0)
    pretraining.write_set(tmp_path / "most", 12, 7, sources, clutter_share=0.5, monument_share=0.8)
    assert pixels_of(MONUMENT_COLOUR, tmp_path / "none") < 1000  # a few edge pixels where red meets blue
    assert pixels_of(MONUMENT_COLOUR, tmp_path / "most") > 30000  # at least half an image on a monument
    assert pixels_of(CLUTTER_COLOUR, tmp_path / "most") < pixels_of(CLUTTER_COLOUR, tmp_path / "none")
    earlier = pretraining.ObjectSources(*[getattr(sources, name) for name in (
        "photos", "drawn", "outlines", "photographed", "scenes", "landscapes", "clutter")])
    pretraining.write_set(tmp_path / "earlier", 12, 7, earlier, clutter_share=0.5)
    for path in (tmp_path / "earlier").rglob("*.*"):
        assert path.read_bytes() == (tmp_path / "none" / path.relative_to(tmp_path / "earlier")).read_bytes()
    with pytest.raises(ValueError, match="monument_share > 0 needs monuments"):
        pretraining.write_set(tmp_path / "no_monuments", 2, 7, earlier, clutter_share=0.5, monument_share=0.5)


def test_skyline_share_zero_makes_the_set_before_skylines_and_more_puts_landscapes_on_skylines(tmp_path):
    sources = stand_in_sources()
    shares = {"scene_share": 0.6, "landscape_share": 0.8}
    pretraining.write_set(tmp_path / "none", 12, 5, sources, **shares, skyline_share=0)
    pretraining.write_set(tmp_path / "most", 12, 5, sources, **shares, skyline_share=0.8)
    assert pixels_of(SKYLINE_COLOUR, tmp_path / "none") == 0
    assert pixels_of(SKYLINE_COLOUR, tmp_path / "most") > 30000  # at least half an image on a skyline
    assert pixels_of(LANDSCAPE_COLOUR, tmp_path / "most") < pixels_of(LANDSCAPE_COLOUR, tmp_path / "none")
    earlier = pretraining.ObjectSources(*[getattr(sources, name) for name in (
        "photos", "drawn", "outlines", "photographed", "scenes", "landscapes", "clutter", "monuments")])
    pretraining.write_set(tmp_path / "earlier", 12, 5, earlier, **shares)
    assert set_bytes(tmp_path / "earlier") == set_bytes(tmp_path / "none")
    with pytest.raises(ValueError, match="skyline_share > 0 needs skylines"):
        pretraining.write_set(tmp_path / "no_skylines", 2, 5, earlier, **shares, skyline_share=0.5)


def unmarked_colours(folder: Path) -> list[int]:
    """For each image of a set: how many of the stand-in photographs' colours its unmarked pixels show (away from
    the outlines, 200 pixels at least)."""
    counts = []
    for image_path in sorted(folder.glob("imgs/*.jpg")):
        mask = mask_to_array(load_image(folder / "masks" / f"{image_path.stem}_mask.gif"))
        image = np.asarray(load_image(image_path), dtype=np.int16)
        background = ndimage.binary_erosion(mask == 0, iterations=3)
        counts.append(sum(int(((np.abs(image - colour).max(axis=2) < 30) & background).sum() >= 200)
                          for colour in [*BACKGROUND_COLOURS, SCENE_COLOUR, LANDSCAPE_COLOUR]))
    return counts


def test_decoy_share_zero_makes_the_set_before_decoys_and_more_pastes_patches_of_photographs_unmarked(tmp_path):
    sources = stand_in_sources()
    shares = {"scene_share": 0.5, "landscape_share": 0.5}
    pretraining.write_set(tmp_path / "before", 12, 4, sources, **shares)
    pretraining.write_set(tmp_path / "none", 12, 4, sources, **shares, decoy_share=0)
    pretraining.write_set(tmp_path / "all", 12, 4, sources, **shares, decoy_share=1)
    assert set_bytes(tmp_path / "none") == set_bytes(tmp_path / "before")
    assert max(unmarked_colours(tmp_path / "none")) == 1  # one photograph behind each image, nothing else unmarked
    # Decoys of another photograph show its colour among the unmarked pixels (those of the background's own
    # photograph cannot be seen on these flat pictures)...
    assert sum(count >= 2 for count in unmarked_colours(tmp_path / "all")) >= 3
    for image_path in sorted((tmp_path / "all" / "imgs").glob("*.jpg")):
        mask = mask_to_array(load_image(tmp_path / "all" / "masks" / f"{image_path.stem}_mask.gif"))
        image = np.asarray(load_image(image_path), dtype=np.int16)
        marked = ndimage.binary_erosion(mask == 255, iterations=3)
        # ...and the mask still marks the objects only: never a decoy (a photograph's flat colour) left uncovered.
        photograph = np.min([np.abs(image - colour).max(axis=2) for colour in
                             [*BACKGROUND_COLOURS, SCENE_COLOUR, LANDSCAPE_COLOUR]], axis=0) < 30
        red_or_yellow = (np.abs(image - (240, 20, 20)).max(axis=2) < 40) | \
            (np.abs(image - PHOTOGRAPHED_COLOUR).max(axis=2) < 40)
        assert not (marked & red_or_yellow & photograph).any()
        assert not (ndimage.binary_erosion(mask == 0, iterations=3) & red_or_yellow).any()


def test_decoy_patch_is_an_irregular_blob_of_its_texture_and_an_empty_one_is_placed_transparent():
    texture = Image.new("RGB", (400, 300), PHOTOGRAPHED_COLOUR)
    patches = [decoy_patch(texture, np.random.default_rng(seed)) for seed in range(8)]
    assert all(patch.size == (200, 200) and patch.mode == "RGBA" for patch in patches)
    opaque = [np.asarray(patch.getchannel("A")) > 127 for patch in patches]
    assert all(np.abs(np.asarray(patch)[..., :3].astype(int) - PHOTOGRAPHED_COLOUR).max() < 3 for patch in patches)
    areas = [mask.mean() for mask in opaque]
    assert 0.05 < np.median(areas) < 0.8 and len({round(area, 3) for area in areas}) == 8  # blobs, each its own
    again = decoy_patch(texture, np.random.default_rng(3))
    assert np.array_equal(np.asarray(again), np.asarray(patches[3]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero for a blob that came out empty
        placed = placed_object(Image.new("RGBA", (200, 200), (0, 0, 0, 0)), np.random.default_rng(0))
    assert placed.shape == (200, 300, 4) and placed[..., 3].max() == 0


def test_make_example_pastes_decoys_below_the_objects_and_leaves_them_out_of_the_mask():
    background = Image.new("RGB", (900, 600), BACKGROUND_COLOURS[0])
    texture = Image.new("RGB", (900, 600), LANDSCAPE_COLOUR)
    disc = Image.new("RGBA", (90, 90), (0, 0, 0, 0))
    ImageDraw.Draw(disc).ellipse((0, 0, 89, 89), fill=(240, 20, 20, 255))
    seen_decoy = 0
    for seed in range(6):
        image, mask = make_example(background, [disc], np.random.default_rng(seed), 1.0, [texture])
        pixels, marked = np.asarray(image, dtype=np.int16), np.asarray(mask) == 255
        decoy = np.abs(pixels - LANDSCAPE_COLOUR).max(axis=2) < 30
        disc_pixels = np.abs(pixels - (240, 20, 20)).max(axis=2) < 30
        assert not (decoy & marked).any() and np.array_equal(disc_pixels, disc_pixels & marked)
        seen_decoy += int(decoy.sum() > 200)
        plain, _ = make_example(background, [disc], np.random.default_rng(seed))
        share_zero, _ = make_example(background, [disc], np.random.default_rng(seed), 0.0, [texture])
        assert plain.tobytes() == share_zero.tobytes()
    assert seen_decoy >= 2


def test_find_skylines_lays_each_piece_with_the_rows_above_its_ground_over_two_different_skies(tmp_path):
    panorama_piece(tmp_path / "field" / "field1.png", sky_rows=60)  # a tree from row 40, ground from row 60
    panorama_piece(tmp_path / "field" / "field2.png", sky_rows=100, height=300)
    panorama_piece(tmp_path / "field" / "field3.png", sky_rows=30, height=80)  # too low for a scene: left out
    panorama_piece(tmp_path / "field" / "field4.png", sky_rows=160)  # no ground at all: left out
    sky_colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    skies = []
    for index, colour in enumerate(sky_colours):
        skies.append(tmp_path / "skies" / f"sky{index}.png")
        skies[-1].parent.mkdir(exist_ok=True)
        Image.new("RGB", (512, 512), colour).save(skies[-1])
    found = pretraining.find_skylines(tmp_path, ("field",), (), tuple(skies))
    # field1: the whole 160 rows (the tree's 40 rows above the ground are more than 0.6 x 120 can reach);
    # field2: from row 100 - 20 (its tree) - 0.6 x 220 = -52, so again from the top
    assert [picture.size for picture in found] == [(200, 160)] * 2 + [(200, 300)] * 2
    for (first, second), tree_row in ((found[0:2], 45), (found[2:4], 85)):
        assert first.getpixel((0, 0)) != second.getpixel((0, 0))  # two different skies
        assert {first.getpixel((0, 0)), second.getpixel((0, 0))} <= set(sky_colours)
        for picture in (first, second):  # the tree and the ground over the sky
            assert picture.getpixel((55, tree_row)) == (20, 60, 20)
            assert picture.getpixel((10, picture.height - 1)) == (90, 140, 60)
    assert [np.asarray(a).tolist() == np.asarray(b).tolist()
            for a, b in zip(found, pretraining.find_skylines(tmp_path, ("field",), (), tuple(skies)))] == [True] * 4
    high = Image.fromarray(np.zeros((400, 200, 4), dtype=np.uint8))
    high.paste((90, 140, 60, 255), (0, 300, 200, 400))  # 300 rows of sky above 100 of ground
    assert pretraining.skyline_piece(high).size == (200, 160)  # from row 300 - 0.6 x 100 = 240
    skies[1].unlink()
    with pytest.raises(UserError, match="sky1.png: not found; install the skies with: .*extremetuxracer-data"):
        pretraining.find_skylines(tmp_path, ("field",), (), tuple(skies))


def test_find_monuments_reads_the_photographs_packed_in_a_qt_resource_file(tmp_path):
    photos = {}
    for index, name in enumerate(("france/castle.webp", "egypt/pyramid.jpg")):
        buffer = io.BytesIO()
        Image.new("RGB", (64 + index, 48), (10 * index, 100, 200)).save(buffer, format=Path(name).suffix[1:]
                                                                        .replace("jpg", "jpeg"))
        photos[name] = buffer.getvalue()
    resource_file = tmp_path / "monuments.rcc"
    resource_file.write_bytes(pack_qt_resources({**photos, "board/board1.qml": b"Item {}"}))
    found = pretraining.find_monuments(resource_file, minimum=2)
    assert [photo.size for photo in found] == [(65, 48), (64, 48)]  # sorted by path: egypt/, then france/
    assert all(photo.mode == "RGB" for photo in found)
    with pytest.raises(UserError, match="found 2 photographs, expected at least 3"):
        pretraining.find_monuments(resource_file, minimum=3)
    with pytest.raises(UserError, match="missing.rcc: not found; install it with: .*gcompris-qt-data"):
        pretraining.find_monuments(tmp_path / "missing.rcc")


def test_find_clutter_gathers_templates_puzzles_skies_and_landscape_pieces_and_names_what_is_missing(tmp_path):
    for name in pretraining.CLUTTER_TEMPLATES:
        noise_photo(tmp_path / "templates" / f"{name}.jpg", 1)
    for name in pretraining.CLUTTER_PUZZLES:
        noise_photo(tmp_path / "puzzles" / f"{name}.jpg", 2)
    for weather in ("sunny", "night"):
        for view in ("frontH", "leftH", "rightH", "front"):  # the small views are the large ones again
            noise_photo(tmp_path / "skies" / weather / f"{view}.png", 3, (256, 256))
    for piece in pretraining.CLUTTER_LANDSCAPE_PIECES:
        panorama_piece(tmp_path / "landscapes" / f"{piece}.png", sky_rows=60)
    folders = (tmp_path / "templates", tmp_path / "landscapes", tmp_path / "puzzles", tmp_path / "skies")
    scenes = pretraining.find_clutter(*folders)
    assert len(scenes) == (len(pretraining.CLUTTER_TEMPLATES) + len(pretraining.CLUTTER_PUZZLES) + 2 * 3
                           + len(pretraining.CLUTTER_LANDSCAPE_PIECES))
    assert all(scene.mode == "RGB" for scene in scenes) and scenes[-1].size == (200, 100)  # the ground only
    (tmp_path / "puzzles" / f"{pretraining.CLUTTER_PUZZLES[0]}.jpg").unlink()
    with pytest.raises(UserError, match=f"{pretraining.CLUTTER_PUZZLES[0]}.jpg: not found; install .*palapeli-data"):
        pretraining.find_clutter(*folders)


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
    bands = pretraining.find_landscapes(tmp_path, ("field", "town"), left_out=("town1",))
    assert [band.size for band in bands] == [(200, 100), (200, 160)]
    assert all(band.mode == "RGB" and band.getpixel((55, 0)) == (90, 140, 60) for band in bands)
    with pytest.raises(UserError, match="found no landscape in .*mars.*apt-get install .*stellarium-data"):
        pretraining.find_landscapes(tmp_path / "mars", ("mars",))


def test_find_scenes_leaves_out_the_templates_that_show_a_thing(tmp_path):
    for name in ("bark", "rocks", "waves", "sheep", "jellyfish"):
        noise_photo(tmp_path / f"{name}.jpg", len(name))
    assert [p.stem for p in pretraining.find_scenes(tmp_path, minimum=3)] == ["bark", "rocks", "waves"]
    with pytest.raises(UserError, match="found 3 scene photographs in .*apt-get install"):
        pretraining.find_scenes(tmp_path, minimum=4)


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
    found = pretraining.find_photographed(tmp_path, ("vehicles", "seasonal/winter"))
    assert found == [tmp_path / "seasonal" / "winter" / "sled.png", tmp_path / "vehicles" / "bus.png"]
    for kind in ("seasonal", "seasonal/christmas", "food"):
        with pytest.raises(ValueError, match=f"stamp kind {kind} is or holds one of the benchmark's"):
            pretraining.find_photographed(tmp_path, ("vehicles", kind))


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
    found = pretraining.find_photos((tmp_path / "backgrounds", tmp_path / "wallpapers"), (benchmark,), minimum=4)
    assert sorted(found) == sorted(others + [plasma / "1280x1024.png"])
    with pytest.raises(UserError, match="found 4 wallpaper photographs.*apt-get install"):
        pretraining.find_photos((tmp_path / "backgrounds", tmp_path / "wallpapers"), (benchmark,), minimum=5)


@pytest.mark.skipif(not (pretraining.EMOJI_FONT.is_file() and pretraining.SYMBOL_FONT.is_file()),
                    reason="fonts-noto-color-emoji and fonts-symbola are not installed")
def test_the_fonts_give_a_thousand_drawn_objects_and_twice_as_many_outlines():
    drawn = pretraining.render_emoji()
    outlines = pretraining.render_outlines(drawn)
    assert len(drawn) > 1000 and len(outlines) > 2000
    assert all(glyph.mode == "RGBA" and min(glyph.size) >= pretraining.MIN_SIDE for glyph in drawn)
    assert all(outline.max() == 1.0 and outline.mean() >= pretraining.MIN_FILL - 0.05 for outline in outlines)


def test_export_keeps_half_precision_weights_that_load_and_predict_alike(tmp_path):
    torch.manual_seed(0)
    net = UNet(3, 2, base_channels=4, normalize_input=True, norm="ibn").eval()
    pretrain_run = {"state_dict": net.state_dict(), "model_config": net.config(), "mask_values": [0, 255],
                    "args": {"scale": 0.75}, "history": {"val_dice": [0.5]}}
    torch.save(pretrain_run, tmp_path / "checkpoint_epoch1.pth")
    pretrain.export_weights(tmp_path / "checkpoint_epoch1.pth", tmp_path / "out.pth", {"set": "test"})
    saved = torch.load(tmp_path / "out.pth", weights_only=True)
    assert saved["state_dict"]["inc.double_conv.0.weight"].dtype == torch.float16
    assert saved["pretraining"] == {"set": "test"} and saved["mask_values"] == [0, 255]
    loaded, mask_values, _ = load_unet(tmp_path / "out.pth")
    image = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(image), net(image), atol=0.05)


def test_pretrain_refuses_a_tiny_set_and_a_share_out_of_range(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--count", "5", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--count 5"):
        pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--photographed-share", "0.9", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--photographed-share 0.9: give a share from 0 to 0.65"):
        pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--scene-share", "-1", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--scene-share -1.0: give a share from 0 to 1"):
        pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--landscape-share", "2", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--landscape-share 2.0: give a share from 0 to 1"):
        pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--clutter-share", "1.5", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--clutter-share 1.5: give a share from 0 to 1"):
        pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--monument-share", "-0.1", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--monument-share -0.1: give a share from 0 to 1"):
        pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--skyline-share", "1.2", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--skyline-share 1.2: give a share from 0 to 1"):
        pretrain.main()
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--decoy-share", "1.5", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--decoy-share 1.5: give a share from 0 to 1"):
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
    assert provenance["start"]["set"].endswith("--photographed-share 0.0 --scene-share 0.5 --landscape-share 0.5 "
                                               "--clutter-share 0.0 --monument-share 0.0")
    assert provenance["set"].endswith(f"--photographed-share {pretraining.PHOTOGRAPHED_SHARE} "
                                      f"--scene-share {pretraining.SCENE_SHARE} "
                                      f"--landscape-share {pretraining.LANDSCAPE_SHARE} "
                                      f"--clutter-share {pretraining.CLUTTER_SHARE} "
                                      f"--monument-share {pretraining.MONUMENT_SHARE}")
    assert "--load" in provenance["training"]
    assert "--shards" not in provenance["set"]  # a set in one piece keeps the command it always had
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--epochs", "1", "--work", str(tmp_path / "c"), "--out",
                                     str(tmp_path / "third.pth"), "--skyline-share", "0.67"])
    pretrain.main()
    assert torch.load(tmp_path / "third.pth", weights_only=True)["pretraining"]["set"].endswith(
        "--monument-share 0.0 --skyline-share 0.67")
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--epochs", "1", "--work", str(tmp_path / "d"), "--out",
                                     str(tmp_path / "fourth.pth"), "--decoy-share", "0.5"])
    pretrain.main()
    assert torch.load(tmp_path / "fourth.pth", weights_only=True)["pretraining"]["set"].endswith(
        "--monument-share 0.0 --decoy-share 0.5")


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
    assert built[0][1:4] == (64, 0, 16) and built[0][4] == 4
    provenance = torch.load(tmp_path / "w.pth", weights_only=True)["pretraining"]
    assert provenance["set"].startswith("make_pretraining_data.py --count 64 --seed 0 ")
    assert provenance["set"].endswith(" --shards 16") and "--device cuda" in provenance["training"]


def smooth_photo(seed: int, size: tuple[int, int] = (900, 600)) -> Image.Image:
    """A stand-in photograph: smooth random colour fields with some fine grain."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 255, (5, 7, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    grain = rng.normal(0, 8, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(coarse, dtype=np.float32) + grain, 0, 255).astype(np.uint8))


def test_the_shipped_weights_mark_objects_pasted_on_photographs_without_any_training():
    """pretrained/unet_objects.pth as it is (what train.py starts from): on images made like its pretraining set
    but from photographs and outlines it never saw, it marks the pasted objects."""
    model, _, _ = load_unet(pretrain.REPO_ROOT / PRETRAINED_WEIGHTS)
    model.eval()
    rng = np.random.default_rng(7)
    photos = [smooth_photo(seed) for seed in range(4)]
    scores = []
    for index in range(6):
        outline = np.zeros((120, 120), dtype=np.float32)
        ys, xs = np.mgrid[0:120, 0:120]
        outline[((ys - 60) / (30 + 10 * index)) ** 2 + ((xs - 60) / 55) ** 2 <= 1] = 1  # ellipses of other shapes
        thing = pretraining.photo_filled(outline, photos[(index + 1) % 4], rng)
        image, mask = make_example(photos[index % 4], [thing], rng)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            predicted = model(pixels).argmax(dim=1)[0].numpy() == 1
        truth = np.asarray(mask) == 255
        scores.append(2 * (predicted & truth).sum() / (predicted.sum() + truth.sum()))
    assert np.mean(scores) > 0.8  # 0.94 with the shipped weights; random weights mark no shape in particular


def test_the_shipped_weights_record_every_stage_with_a_command_todays_scripts_accept(monkeypatch):
    """Each stage's set command in pretrained/unet_objects.pth parses with today's make_pretraining_data.py, so
    `pretrained/README.md`'s recipe can be rerun stage by stage."""
    stage = torch.load(pretrain.REPO_ROOT / PRETRAINED_WEIGHTS, weights_only=True)["pretraining"]
    stages = 0
    while stage is not None:
        program, *flags = stage["set"].split()
        assert program == "make_pretraining_data.py" and stage["training"].startswith("train.py ")
        monkeypatch.setattr("sys.argv", [program, *flags, "--out", "unused"])
        args = pretraining.get_args()
        pretraining.check_shares(**pretraining.shares_of(args))
        pretraining.check_shards(args.count, args.shards, 1)
        assert args.count >= 12000
        stage, stages = stage.get("start"), stages + 1
    assert stages >= 4
