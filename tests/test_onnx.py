"""export_onnx.py and the .onnx runners: the files give PyTorch's answers in float32 on real inputs (the shipped
image weights on the demo photos, a trained separator checkpoint on a demo song), at any size, with the settings
in their metadata; predict.py and separate.py run them with every option and without importing PyTorch; every bad
input is one line. Skipped where onnx or onnxruntime is not installed (they are optional)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from conftest import AUDIO_DIR, REPO_ROOT  # noqa: E402
from image_helpers import constant_unet, save_our_checkpoint  # noqa: E402
from separator_helpers import save_tiny_checkpoint  # noqa: E402
from unet import UNet  # noqa: E402
from utils import data_loading  # noqa: E402
from utils.image_checkpoint import load_unet, shipped_weights_path, training_scale  # noqa: E402
from utils.inference import predict_img  # noqa: E402
from utils.onnx_export import ImageGraph, export_image_model  # noqa: E402
from utils.onnx_image import OnnxUNet  # noqa: E402
from utils import images, onnx_image  # noqa: E402
from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings, write_audio  # noqa: E402
from vocal_separation_sanity_check.demo_songs import demo_song  # noqa: E402
from vocal_separation_sanity_check.model import SpectrogramUNet  # noqa: E402
from vocal_separation_sanity_check.onnx_export import MatrixSTFT, export_separator_model, snr_db  # noqa: E402
from vocal_separation_sanity_check.onnx_separator import OnnxSeparator  # noqa: E402
from vocal_separation_sanity_check.separator import Separator, save_separator  # noqa: E402
from vocal_separation_sanity_check.transforms import istft_tensor, stft_tensor  # noqa: E402

DATA = REPO_ROOT / "tests" / "data"
IMAGES = sorted((REPO_ROOT / "data" / "imgs").glob("*.png"))
TRAINED_SEPARATOR = DATA / "separator_format1.pth"  # trained by train_separator.py (tests/data/README.md)
MIN_SNR_DB = 40.0  # the bar; float32 gives about 100 dB
MIN_AGREEMENT = 0.999  # of mask pixels


@pytest.fixture(scope="module")
def shipped_image_onnx(tmp_path_factory) -> Path:
    """The shipped pretrained weights (trained on photos) as .onnx."""
    path = tmp_path_factory.mktemp("image") / "unet_objects.onnx"
    export_image_model(shipped_weights_path(), path)
    return path


@pytest.fixture(scope="module")
def separator_onnx(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """{name: (checkpoint, its .onnx)}: the trained format-1 checkpoint (an old architecture: 48 bins, no frequency
    channel) and a model of today's architecture (frequency mixing, coherence and frequency channels, bins in pairs
    above 128, the mask extended above max_bin), untrained but with varied statistics."""
    folder = tmp_path_factory.mktemp("separator")
    checkpoints = {"trained": TRAINED_SEPARATOR, "current": save_tiny_checkpoint(folder / "current.pth", ["vocals"])}
    files = {}
    for name, checkpoint in checkpoints.items():
        export_separator_model(checkpoint, folder / f"{name}.onnx")
        files[name] = (checkpoint, folder / f"{name}.onnx")
    return files


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    """8 s of a demo song (stereo, 44.1 kHz): real music for the separator."""
    return demo_song(0, "test", 0, 8.0)["mixture"]


def without(*packages: str, folder: Path) -> dict:
    """An environment in which importing any of `packages` fails, as on a machine without them."""
    for package in packages:
        (folder / package).mkdir(parents=True, exist_ok=True)
        (folder / package / "__init__.py").write_text(f"raise ImportError('{package} is not installed here')\n")
    return {**os.environ, "PYTHONPATH": str(folder), "OMP_NUM_THREADS": "1"}


def run(script: Path, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env or {**os.environ, "OMP_NUM_THREADS": "1"})


def assert_one_error_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    for text in expected:
        assert text in errors[0], errors[0]


# ---------------------------------------------------------------------------------------------
# Image U-Net


@pytest.mark.parametrize("options", [{}, {"tta": True}, {"tta": True, "tta_scales": [0.75]}])
def test_shipped_weights_predict_the_same_masks_on_the_demo_photos(shipped_image_onnx, options):
    net, _, checkpoint = load_unet(shipped_weights_path())
    model = OnnxUNet(shipped_image_onnx)
    assert model.scale == training_scale(checkpoint)
    for path in IMAGES:
        image = data_loading.load_image(path)
        expected = predict_img(net, image, torch.device("cpu"), model.scale, **options)
        found = model.predict(image, model.scale, **options)
        assert found.shape == expected.shape and found.dtype == expected.dtype
        agreement = (found == expected).mean()
        assert agreement >= MIN_AGREEMENT, (path.name, agreement)
        assert 0.05 < expected.mean() < 0.95  # a real mask, not all background


def test_shipped_weights_give_pytorchs_probabilities_at_any_size(shipped_image_onnx):
    """Float32 on both sides: the largest difference of the probabilities is about 1e-6."""
    net, _, _ = load_unet(shipped_weights_path())
    graph = ImageGraph(net).eval()
    model = OnnxUNet(shipped_image_onnx)
    image = images.image_array(data_loading.load_image(IMAGES[0]))
    batch = np.stack([image, image[:, ::-1, ::-1]])  # two images at once
    for size in ((256, 256), (117, 203), (61, 37)):
        resized = onnx_image.resize_bilinear(batch, size).astype(np.float32)
        with torch.no_grad():
            expected = graph(torch.from_numpy(resized)).numpy()
        found = model.probabilities(resized)
        assert found.shape == expected.shape == (2, 2, *size)
        assert np.abs(found - expected).max() < 1e-4


@pytest.mark.parametrize("config", [
    {"n_classes": 1, "bilinear": True, "norm": "batch"},  # sigmoid, bilinear upsampling
    {"n_classes": 3, "bilinear": False, "norm": "ibn", "normalize_input": True},  # softmax, InstanceNorm, standardize
])
def test_every_architecture_exports(tmp_path, config):
    torch.manual_seed(0)
    net = UNet(3, base_channels=4, **config).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
    checkpoint = save_our_checkpoint(net, list(range(max(config["n_classes"], 2))), tmp_path / "net.pth")
    export_image_model(checkpoint, tmp_path / "net.onnx")
    model = OnnxUNet(tmp_path / "net.onnx")
    rng = np.random.default_rng(0)
    for shape in ((1, 3, 33, 50), (2, 3, 64, 48)):
        images = rng.random(shape, dtype=np.float32)
        with torch.no_grad():
            expected = ImageGraph(net)(torch.from_numpy(images)).numpy()
        assert np.abs(model.probabilities(images) - expected).max() < 1e-4


def test_image_metadata_round_trip(tmp_path):
    colours = [[0, 0, 0], [255, 0, 0], [0, 0, 255]]
    checkpoint = save_our_checkpoint(constant_unet(3, winner=1), colours, tmp_path / "c.pth", scale=0.4)
    export_image_model(checkpoint, tmp_path / "c.onnx")
    metadata = {prop.key: prop.value for prop in onnx.load(tmp_path / "c.onnx").metadata_props}
    assert metadata["kind"] == "image" and metadata["format_version"] == "1" and metadata["source"] == "c.pth"
    assert json.loads(metadata["mask_values"]) == colours and json.loads(metadata["scale"]) == 0.4
    assert json.loads(metadata["model_config"]) == constant_unet(3, winner=1).config()
    model = OnnxUNet(tmp_path / "c.onnx")
    assert (model.n_channels, model.n_classes, model.mask_values, model.scale) == (3, 3, colours, 0.4)
    inputs = model.model.session.get_inputs()[0]
    assert inputs.name == "image" and inputs.shape == ["batch", 3, "height", "width"]


def test_predict_cli_runs_the_onnx_file_without_torch(shipped_image_onnx, tmp_path):
    """The same masks as the .pth file, every option; the ONNX run has no torch to import."""
    args = ["-i", *IMAGES[:2], "--tta", "--tta-scales", "0.75", "--viz"]
    result = run(REPO_ROOT / "predict.py", "-m", shipped_image_onnx, *args, "-o", tmp_path / "onnx",
                 env=without("torch", folder=tmp_path / "blocked"))
    assert result.returncode == 0, result.stderr
    assert "Using device cpu (onnxruntime, CPUExecutionProvider)" in result.stderr
    result = run(REPO_ROOT / "predict.py", "-m", shipped_weights_path(), *args, "-o", tmp_path / "pth")
    assert result.returncode == 0, result.stderr
    for path in IMAGES[:2]:
        found = np.array(Image.open(tmp_path / "onnx" / f"{path.stem}_OUT.png"))
        expected = np.array(Image.open(tmp_path / "pth" / f"{path.stem}_OUT.png"))
        assert found.shape == expected.shape and (found == expected).mean() >= MIN_AGREEMENT
        assert (tmp_path / "onnx" / f"{path.stem}_OUT_viz.png").is_file()


def test_predict_cli_writes_mask_values_of_a_multiclass_onnx_model(tmp_path):
    checkpoint = save_our_checkpoint(constant_unet(3, winner=2), [0, 100, 200], tmp_path / "c.pth")
    export_image_model(checkpoint, tmp_path / "c.onnx")
    result = run(REPO_ROOT / "predict.py", "-m", tmp_path / "c.onnx", "-i", IMAGES[0], "-o", tmp_path / "m.png",
                 "--scale", "0.5")
    assert result.returncode == 0, result.stderr
    assert np.unique(np.array(Image.open(tmp_path / "m.png"))).tolist() == [200]


# ---------------------------------------------------------------------------------------------
# Stem separator


def test_the_matrix_stft_is_torch_stft():
    """The STFT and inverse STFT the graph computes with matrix products, against torch.stft / torch.istft, for
    even and odd n_fft."""
    for settings in (DEFAULT_STFT, STFTSettings(22050, 2048, 512), STFTSettings(16000, 999, 333)):
        transform = MatrixSTFT(settings)
        for length in (settings.n_fft + 1, 3 * settings.sample_rate + 17):
            audio = torch.from_numpy(np.random.default_rng(length).standard_normal((2, length)).astype(np.float32))
            expected = stft_tensor(audio, settings)
            re, im = transform.stft(audio)
            found = torch.complex(transform.to_bins(re), transform.to_bins(im))
            assert found.shape == expected.shape
            assert (found - expected).abs().max() < 1e-5 * expected.abs().max()
            masks = torch.rand(1, 2, *expected.shape[1:], generator=torch.Generator().manual_seed(0))
            weighted = transform.from_bins(masks)
            back = transform.istft(weighted * re, weighted * im, length)
            assert snr_db(istft_tensor(masks[0] * expected, settings, length=length).numpy(), back[0].numpy()) > 100


@pytest.mark.parametrize("name", ["trained", "current"])
@pytest.mark.parametrize("options", [{"chunk_seconds": 3.0}, {"chunk_seconds": 2.0, "shifts": 2},
                                     {"two_stems": "vocals", "wiener_iterations": 1}])
def test_separated_vocals_agree_with_pytorchs(separator_onnx, song, name, options):
    """A demo song, stereo, mono and at 48 kHz, chunked and cross-faded: within 40 dB of Separator in float32
    (about 100 dB in fact)."""
    checkpoint, exported = separator_onnx[name]
    expected_separator = Separator.from_checkpoint(checkpoint, "cpu", amp=False, **options)
    onnx_separator_ = OnnxSeparator(exported, **options)
    assert onnx_separator_.output_names == expected_separator.output_names == ["vocals", "accompaniment"]
    for audio, rate in ((song, 44100), (song[:1, : 5 * 44100], 44100), (song, 48000)):
        expected = expected_separator.separate(audio, rate)
        found = onnx_separator_.separate(audio, rate)
        for stem in expected:
            assert found[stem].shape == expected[stem].shape == audio.shape
            assert snr_db(expected[stem], found[stem]) > MIN_SNR_DB, (stem, rate, audio.shape)
        assert np.abs(expected["vocals"]).max() > 0.01  # not silence


def test_the_separator_graph_takes_any_length(separator_onnx, song):
    """Stems, spectrogram and masks of two song lengths against torch.stft, the model and torch.istft."""
    checkpoint, exported = separator_onnx["current"]
    separator = Separator.from_checkpoint(checkpoint, "cpu", amp=False)
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    for length in (5 * 4096 + 321, 3 * 44100):
        chunk = np.ascontiguousarray(song[:, :length])
        spectrogram = stft_tensor(torch.from_numpy(chunk))
        masks = separator.masks(spectrogram)
        stems = istft_tensor(masks * spectrogram[None], length=length).numpy()
        found_stems, found_spectrogram, found_masks = session.run(None, {"audio": chunk})
        assert found_stems.shape == (1, 2, length) and snr_db(stems, found_stems) > 100
        np.testing.assert_allclose(found_spectrogram[..., 0] + 1j * found_spectrogram[..., 1], spectrogram.numpy(),
                                   atol=1e-4 * float(spectrogram.abs().max()))
        assert np.abs(found_masks - masks.numpy()).max() < 1e-4


def test_separator_metadata_round_trip(separator_onnx):
    checkpoint, exported = separator_onnx["trained"]
    metadata = {prop.key: prop.value for prop in onnx.load(exported).metadata_props}
    stored = torch.load(checkpoint, weights_only=True)
    assert metadata["kind"] == "separator" and metadata["format_version"] == "1"
    for key in ("sample_rate", "n_fft", "hop_length"):
        assert json.loads(metadata[key]) == stored["stft"][key]
    assert metadata["window"] == "hann" and json.loads(metadata["bins"]) == 2049
    assert json.loads(metadata["targets"]) == ["vocals"] and metadata["residual"] == "accompaniment"
    assert json.loads(metadata["max_bin"]) == 48 and json.loads(metadata["frame_multiple"]) == 16
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("audio", [2, "samples"])]
    assert [o.name for o in session.get_outputs()] == ["stems", "spectrogram", "masks"]


def test_separate_cli_runs_the_onnx_file_without_torch(separator_onnx, song, tmp_path):
    checkpoint, exported = separator_onnx["trained"]
    write_audio(tmp_path / "in" / "Demo Song.wav", song, 44100)
    common = ["-i", tmp_path / "in", "--chunk-seconds", "3", "--shifts", "1", "--bit-depth", "32"]
    result = run(AUDIO_DIR / "separate.py", "-m", exported, *common, "-o", tmp_path / "onnx",
                 env=without("torch", folder=tmp_path / "blocked"))
    assert result.returncode == 0, result.stderr
    assert "Device: cpu, float32 (onnxruntime, CPUExecutionProvider)" in result.stderr
    result = run(AUDIO_DIR / "separate.py", "-m", checkpoint, *common, "--no-amp", "-o", tmp_path / "pth")
    assert result.returncode == 0, result.stderr
    for stem in ("vocals", "accompaniment"):
        found, rate = sf.read(tmp_path / "onnx" / "Demo Song" / f"{stem}.wav", dtype="float32")
        expected, _ = sf.read(tmp_path / "pth" / "Demo Song" / f"{stem}.wav", dtype="float32")
        assert rate == 44100 and found.shape == expected.shape == song.T.shape
        assert snr_db(expected, found) > MIN_SNR_DB


# ---------------------------------------------------------------------------------------------
# One-line errors


def test_exporter_errors_are_one_line(tmp_path):
    script = REPO_ROOT / "export_onnx.py"
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    odd_hop = tmp_path / "odd_hop.pth"
    save_separator(odd_hop, SpectrogramUNet(1, max_bin=64, base_channels=2), STFTSettings(44100, 4096, 1000),
                   ["vocals"])
    cases = [
        (["-m", tmp_path / "notes.pth", "-o", tmp_path / "x.onnx"],
         ["--model", "notes.pth", "not a PyTorch checkpoint"]),
        (["-m", shipped_weights_path(), "-o", tmp_path / "x.pt"], ["--output", "x.pt", "ending in .onnx"]),
        (["-m", tmp_path / "x.onnx", "-o", tmp_path / "y.onnx"], ["--model", "x.onnx", "already an ONNX model"]),
        (["-m", odd_hop, "-o", tmp_path / "x.onnx"], ["--model", "odd_hop.pth", "hop 1000 with n_fft 4096",
                                                        "run this model with the .pth file"]),
    ]
    for args, expected in cases:
        assert_one_error_line(run(script, *args), *expected)
    assert not (tmp_path / "x.onnx").exists()
    result = run(script, "-m", TRAINED_SEPARATOR, "-o", tmp_path / "x.onnx", env=without("onnx", folder=tmp_path / "b"))
    assert_one_error_line(result, "--output", "x.onnx", "needs onnx; pip install onnx onnxruntime")


def test_runner_errors_are_one_line(shipped_image_onnx, separator_onnx, tmp_path):
    _, separator_file = separator_onnx["trained"]
    write_audio(tmp_path / "song.wav", np.zeros((2, 44100), np.float32), 44100)
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx model")
    blank = onnx.load(separator_file)
    del blank.metadata_props[:]
    onnx.save(blank, tmp_path / "blank.onnx")
    image = ["-i", IMAGES[0], "-o", tmp_path / "m.png"]
    song = ["-i", tmp_path / "song.wav", "-o", tmp_path / "out"]
    predict, separate = REPO_ROOT / "predict.py", AUDIO_DIR / "separate.py"
    cases = [
        (predict, ["-m", separator_file, *image], ["is an exported separator model",
                                                   "python3 -m vocal_separation_sanity_check.separate -m"]),
        (separate, ["-m", shipped_image_onnx, *song], ["is an exported image model", "python3 predict.py -m"]),
        (predict, ["-m", tmp_path / "missing.onnx", *image], ["missing.onnx", "file not found", "export_onnx.py"]),
        (separate, ["-m", tmp_path / "broken.onnx", *song], ["broken.onnx", "onnxruntime cannot load it"]),
        (separate, ["-m", tmp_path / "blank.onnx", *song], ["blank.onnx", "not written by export_onnx.py"]),
        (separate, ["-m", separator_file, *song, "--two-stems", "drums"], ["--two-stems drums", "vocals"]),
        (predict, ["-m", shipped_image_onnx, *image, "--device", "mps"], ["--device mps", "cpu or cuda"]),
    ]
    for script, args, expected in cases:
        assert_one_error_line(run(script, *args), *expected)
    env = without("onnxruntime", "torch", folder=tmp_path / "blocked")
    assert_one_error_line(run(predict, "-m", shipped_image_onnx, *image, env=env),
                          "running ONNX models needs onnxruntime; pip install onnxruntime")
    assert_one_error_line(run(separate, "-m", separator_file, *song, env=env),
                          "running ONNX models needs onnxruntime; pip install onnxruntime")
    assert not (tmp_path / "m.png").exists() and not (tmp_path / "out").exists()


def test_a_song_at_another_rate_without_soxr_is_one_line(separator_onnx, tmp_path):
    _, exported = separator_onnx["trained"]
    sf.write(tmp_path / "song.wav", np.zeros((48000, 2), np.float32), 48000)
    result = run(AUDIO_DIR / "separate.py", "-m", exported, "-i", tmp_path / "song.wav", "-o", tmp_path / "out",
                 env=without("soxr", "torch", folder=tmp_path / "blocked"))
    assert_one_error_line(result, "song.wav", "48000 Hz", "resampling needs soxr; pip install soxr")


def test_the_onnx_modules_import_no_torch():
    """The ONNX path shares its code with the PyTorch path (images.py, chunking.py, sources.py, ...): those
    modules must stay free of torch and librosa."""
    code = ("import sys, predict, utils.onnx_image, utils.onnx_runtime, vocal_separation_sanity_check.separate, "
            "vocal_separation_sanity_check.onnx_separator, vocal_separation_sanity_check.chunking; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'librosa')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_benchmark_runs_quickly(tmp_path):
    result = run(REPO_ROOT / "benchmarks" / "benchmark_onnx.py", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    for text in ("x real time", "onnxruntime", "PyTorch", "MB"):
        assert text in result.stdout, result.stdout
