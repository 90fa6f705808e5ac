"""The audio folder as a package: every script runs from its folder as a file and from the root as a module,
the library imports without path tricks, and checkpoints written before the package existed still separate
exactly as they did (tests/data/README.md says how the reference files were made)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from audio_helpers import synthetic_stems
from conftest import AUDIO_DIR, REPO_ROOT
from utils.checkpoint import save_checkpoint
from utils.errors import UserError
from vocal_separation_sanity_check.separator import (FORMAT_VERSION, Separator, read_checkpoint,
                                                     read_training_checkpoint)

DATA = REPO_ROOT / "tests" / "data"
SCRIPTS = ["sanity_check", "make_demo_songs", "train_separator", "separate", "evaluate"]


def run(command: list[str], cwd) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # as a user's shell has it
    return subprocess.run([sys.executable, *command], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_run_from_their_folder_and_from_the_root(script):
    from_folder = run([f"{script}.py", "--help"], cwd=AUDIO_DIR)
    from_root = run(["-m", f"vocal_separation_sanity_check.{script}", "--help"], cwd=REPO_ROOT)
    for result in (from_folder, from_root):
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: ") and "--help" in result.stdout
    assert from_folder.stdout.split("\n", 1)[1] == from_root.stdout.split("\n", 1)[1]  # same options either way


def test_no_module_or_test_edits_the_import_path():
    """Only the scripts' one-line bootstrap may touch sys.path (pytest.ini gives the tests the root)."""
    offenders = []
    for path in list(AUDIO_DIR.rglob("*.py")) + list((REPO_ROOT / "tests").glob("*.py")):
        for line in path.read_text().splitlines():
            if "sys.path" in line and not line.startswith("if not __package__: import sys, pathlib; sys.path[0] = "):
                if path.name != "test_package.py":
                    offenders.append(f"{path.relative_to(REPO_ROOT)}: {line.strip()}")
    assert offenders == []


def test_the_package_exports_separator_lazily():
    result = run(["-c", "import sys, vocal_separation_sanity_check; print('torch' in sys.modules); "
                        "from vocal_separation_sanity_check import Separator; print(Separator.__module__)"], REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "vocal_separation_sanity_check.separator"]


def reference_mixture() -> np.ndarray:
    return sum(synthetic_stems(3.0, seed=5).values())


def test_a_checkpoint_of_the_first_format_loads_and_separates_as_before():
    separator = Separator.from_checkpoint(DATA / "separator_format1.pth", device="cpu", amp=False, chunk_seconds=1.0)
    assert separator.targets == ["vocals"] and separator.output_names == ["vocals", "accompaniment"]
    assert separator.model.max_bin == 48 and separator.model.full_resolution_bins == 16
    stems = separator.separate(reference_mixture())
    expected = np.load(DATA / "separator_format1_expected.npz")
    for name in ("vocals", "accompaniment"):
        assert stems[name].shape == (2, 3 * 44100)
        np.testing.assert_allclose(stems[name][:, ::8], expected[name], atol=2e-5)
    assert np.abs(expected["vocals"]).max() > 0.1  # the reference is not silence


def test_the_first_format_is_read_as_the_current_one():
    checkpoint = read_checkpoint(DATA / "separator_format1.pth")
    assert checkpoint["format_version"] == FORMAT_VERSION and "max_bin" not in checkpoint
    assert checkpoint["model_config"]["max_bin"] == 48
    assert read_training_checkpoint(DATA / "separator_format1.pth")["epoch"] == 2  # a last.pth can be resumed


def test_a_newer_format_and_a_model_without_training_state_are_refused(tmp_path):
    checkpoint = read_checkpoint(DATA / "separator_format1.pth")
    save_checkpoint({**checkpoint, "format_version": FORMAT_VERSION + 1}, tmp_path / "future.pth")
    with pytest.raises(UserError, match=rf"future.pth: separator checkpoint format {FORMAT_VERSION + 1}, newer"):
        read_checkpoint(tmp_path / "future.pth")
    model_only = {key: checkpoint[key] for key in ("state_dict", "model_config", "stft", "targets")}
    save_checkpoint(model_only, tmp_path / "model.pth")
    with pytest.raises(UserError, match="--resume .*model.pth: holds no training state .*resume from the last.pth"):
        read_training_checkpoint(tmp_path / "model.pth")


def test_separate_gives_the_same_files_from_the_folder_and_from_the_root(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "song.wav", reference_mixture().T, 44100, subtype="FLOAT")
    model = DATA / "separator_format1.pth"
    common = ["-m", str(model), "-i", str(tmp_path / "song.wav"), "--no-amp", "-c", "1", "--bit-depth", "32"]  # float: exact
    assert run(["separate.py", *common, "-o", str(tmp_path / "a")], cwd=AUDIO_DIR).returncode == 0
    result = run(["-m", "vocal_separation_sanity_check.separate", *common, "-o", str(tmp_path / "b")], cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    expected = np.load(DATA / "separator_format1_expected.npz")
    for name in ("vocals", "accompaniment"):
        a, rate = sf.read(tmp_path / "a" / "song" / f"{name}.wav", dtype="float32")
        b, _ = sf.read(tmp_path / "b" / "song" / f"{name}.wav", dtype="float32")
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a.T[:, ::8], expected[name], atol=2e-5)
