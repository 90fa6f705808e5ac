"""Reports with known contents for the report tests: three scored songs and a few scored images."""
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from conftest import REPO_ROOT
from audio_helpers import RATE, synthetic_stems, write_musdb_track
from image_helpers import constant_unet, make_square_dataset, run_script, save_our_checkpoint
from vocal_separation_sanity_check.audio import write_audio

# Each song's estimate is the true stem plus this much of itself delayed: three clearly different SDRs (about
# 26, 10 and 0 dB for the vocals), so a mean, a median and a max over the songs all differ.
SONG_ERRORS = {"song_b": 0.05, "song_a": 0.3, "song_c": 1.0}


def write_scored_songs(root: Path, seconds: float = 2.0) -> tuple[Path, Path]:
    """ROOT/data/test/<song>/ (MUSDB layout) and ROOT/estimates/<song>/{vocals,accompaniment}.wav."""
    for seed, (name, error) in enumerate(SONG_ERRORS.items()):
        stems = synthetic_stems(seconds, seed=seed)
        write_musdb_track(root / "data" / "test" / name, stems)
        accompaniment = stems["drums"] + stems["bass"] + stems["other"]
        write_audio(root / "estimates" / name / "vocals.wav",
                    stems["vocals"] + error * np.roll(stems["vocals"], 5000, axis=1), RATE)
        write_audio(root / "estimates" / name / "accompaniment.wav",
                    accompaniment + error * np.roll(accompaniment, 3000, axis=1), RATE)
    return root / "data", root / "estimates"


def evaluate_songs(data: Path, estimates: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """The audio evaluate.py through its command line, as a learner runs it."""
    return subprocess.run([sys.executable, "-m", "vocal_separation_sanity_check.evaluate", "--root", str(data),
                           "--estimates", str(estimates), "--out", str(out), *extra], capture_output=True,
                          text=True, timeout=600, cwd=REPO_ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def evaluate_images(folder: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    """evaluate.py of a model that marks every pixel as the object, on 4 images of squares: each image's Dice is
    2f / (f + 1) with f its object's share, and every background pixel is an 'extra' one."""
    data = make_square_dataset(folder / "data", count=4, size=(48, 40), mask_values=[0, 255], seed=3)
    checkpoint = save_our_checkpoint(constant_unet(2, winner=1), [0, 255], folder / "all.pth", scale=1.0)
    return run_script("evaluate.py", "-m", str(checkpoint), "--data-dir", str(data), *extra), data


def page_text(path: Path) -> str:
    """The page's HTML with the tags' text unescaped, for searching with regular expressions."""
    return html.unescape(path.read_text(encoding="utf-8"))


def table_rows(page: str, css_class: str) -> list[list[str]]:
    """The body rows of the page's first <table class="css_class">, as cell texts (tags removed)."""
    table = re.search(rf'<table class="{css_class}">(.*?)</table>', page, re.S).group(1)
    body = table.split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
