"""make_pretraining_data.py and pretrain.py, which made the shipped weights pretrained/unet_objects.pth: the set is
in the Carvana layout with masks that mark exactly what was pasted, is the same for a seed, never uses a benchmark
photograph; the export keeps the weights in half precision in a file train.py --load and predict.py read."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

import make_pretraining_data as pretraining
import pretrain
from train import PRETRAINED_WEIGHTS
from unet import UNet
from utils.compositing import make_example
from utils.data_loading import load_image, mask_to_array
from utils.errors import UserError
from utils.model_loading import load_unet

BACKGROUND_COLOURS = [(20, 40, 230), (30, 220, 40)]


def stand_in_sources() -> pretraining.ObjectSources:
    """Flat blue and green photographs, a drawn red disc and a square outline: every pixel tells where it came from."""
    photos = [Image.new("RGB", (900, 600), colour) for colour in BACKGROUND_COLOURS]
    disc = Image.new("RGBA", (90, 90), (0, 0, 0, 0))
    ImageDraw.Draw(disc).ellipse((0, 0, 89, 89), fill=(240, 20, 20, 255))
    return pretraining.ObjectSources(photos, [disc], [np.ones((70, 70), dtype=np.float32)])


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
        # Away from the outlines, unmarked pixels are a background photograph's colour: nothing pasted is unmarked.
        background = ndimage.binary_erosion(mask == 0, iterations=3)
        distance = np.min([np.abs(image - colour).max(axis=2) for colour in BACKGROUND_COLOURS], axis=0)
        assert distance[background].max() < 40
    assert 0.03 < min(fractions) and max(fractions) < 0.7


def test_a_seed_gives_the_same_set_and_another_seed_another(tmp_path):
    sources = stand_in_sources()
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        pretraining.write_set(tmp_path / name, 3, seed, sources)
    read = {name: (tmp_path / name / "masks" / "object_00002_mask.gif").read_bytes() for name in "abc"}
    assert read["a"] == read["b"] and read["a"] != read["c"]


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


def test_pretrain_refuses_a_tiny_set(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["pretrain.py", "--count", "5", "--work", str(tmp_path)])
    with pytest.raises(UserError, match="--count 5"):
        pretrain.main()


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
    assert np.mean(scores) > 0.8  # 0.93 with the shipped weights; random weights mark no shape in particular
