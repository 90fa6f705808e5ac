"""The demo data generator: deterministic, car-sized foreground, and the committed data/ is its output."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from make_demo_data import MAX_FOREGROUND, MIN_FOREGROUND, generate

REPO_ROOT = Path(__file__).resolve().parent.parent


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_same_seed_gives_identical_files(tmp_path):
    generate(tmp_path / "a", count=3, seed=4, size=64, prefix="test")
    generate(tmp_path / "b", count=3, seed=4, size=64, prefix="test")
    generate(tmp_path / "c", count=3, seed=5, size=64, prefix="test")
    for index in range(3):
        for sub, name in (("imgs", f"test_{index}.png"), ("masks", f"test_{index}_mask.png")):
            a, b, c = ((tmp_path / run / sub / name).read_bytes() for run in "abc")
            assert a == b, f"{sub}/{name} differs between two runs with the same seed"
            assert a != c, f"{sub}/{name} is the same for seeds 4 and 5"


def test_image_depends_only_on_seed_and_index(tmp_path):
    # The first images of a big set are the small set's images, so `--count 500` extends the demo set.
    generate(tmp_path / "small", count=1, seed=0, size=64, prefix="test")
    generate(tmp_path / "big", count=3, seed=0, size=64, prefix="test")
    assert (tmp_path / "small/imgs/test_0.png").read_bytes() == (tmp_path / "big/imgs/test_0.png").read_bytes()


def test_images_and_masks_have_the_promised_format_and_foreground(tmp_path):
    fractions = generate(tmp_path, count=24, seed=7, size=256, prefix="car")
    assert len(fractions) == 24
    for index, fraction in enumerate(fractions):
        image = Image.open(tmp_path / "imgs" / f"car_{index}.png")
        mask = Image.open(tmp_path / "masks" / f"car_{index}_mask.png")
        assert (image.mode, image.size, mask.mode, mask.size) == ("RGB", (256, 256), "L", (256, 256))
        mask_array = np.asarray(mask)
        assert set(np.unique(mask_array)) <= {0, 255}
        assert MIN_FOREGROUND <= (mask_array == 255).mean() <= MAX_FOREGROUND
        assert fraction == (mask_array == 255).mean()
        # Not a flat picture: the background is textured and noisy.
        background = np.asarray(image, dtype=np.float32)[mask_array == 0]
        assert background.std() > 10


def test_car_is_not_findable_by_colour_alone(tmp_path):
    # Distractors in car colours: many background pixels have a colour close to the car's mean colour.
    generate(tmp_path, count=10, seed=0, size=128, prefix="test")
    close_fractions = []
    for index in range(10):
        image = read(tmp_path / "imgs" / f"test_{index}.png").astype(np.float32)
        mask = read(tmp_path / "masks" / f"test_{index}_mask.png") == 255
        car_colour = np.median(image[mask], axis=0)
        distance = np.abs(image[~mask] - car_colour).max(axis=1)
        close_fractions.append((distance < 40).mean())
    assert max(close_fractions) > 0.02


def test_committed_demo_data_is_a_fresh_generation(tmp_path):
    fractions = generate(tmp_path, count=5, seed=0, size=256, prefix="test")
    assert all(MIN_FOREGROUND <= f <= MAX_FOREGROUND for f in fractions)
    for index in range(5):
        fresh_image = read(tmp_path / "imgs" / f"test_{index}.png").astype(np.int16)
        fresh_mask = read(tmp_path / "masks" / f"test_{index}_mask.png")
        image = read(REPO_ROOT / "data" / "imgs" / f"test_{index}.png").astype(np.int16)
        mask = read(REPO_ROOT / "data" / "masks" / f"test_{index}_mask.png")
        # Tolerance: another CPU's float maths (SIMD exp/sin) may move an edge pixel; anything more is a change.
        assert (mask != fresh_mask).mean() < 0.002, f"data/masks/test_{index}_mask.png: run make_demo_data.py"
        assert np.abs(image - fresh_image).mean() < 1.0, f"data/imgs/test_{index}.png: run make_demo_data.py"


def test_cli_prints_one_summary_line(tmp_path):
    out = tmp_path / "set"
    result = subprocess.run([sys.executable, str(REPO_ROOT / "make_demo_data.py"), "--count", "3", "--size", "64",
                             "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    match = re.fullmatch(r"Wrote 3 images and masks to (.+) and (.+) \(foreground (\d+\.\d)%-(\d+\.\d)%\)", line)
    assert match, line
    assert match.group(1) == str(out / "imgs") and match.group(2) == str(out / "masks")
    assert 15.0 <= float(match.group(3)) <= float(match.group(4)) <= 35.0
    assert sorted(p.name for p in (out / "imgs").iterdir()) == ["test_0.png", "test_1.png", "test_2.png"]


def test_cli_bad_count_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "make_demo_data.py"), "--count", "0",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "ERROR: --count 0: must be at least 1"
    assert not (tmp_path / "imgs").exists()
