"""The image checkpoint format (utils/image_checkpoint.py): files written by earlier code load and predict exactly
as they did, the one writer makes what the one reader reads, and every other file is refused by name.

The reference files in tests/data (see its README) were written by the code at commit b716a72, before the
format had a version: a checkpoint_epochN.pth and a last.pth of train.py, and a milesial/Pytorch-UNet file.
"""
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
from image_helpers import SEPARATOR_CHECKPOINT, assert_user_error, run_script
from unet import UNet
from utils.errors import UserError
from utils.image_checkpoint import (FORMAT_VERSION, PRETRAINED_WEIGHTS, TRAINING_KEYS, load_unet, make_checkpoint,
                                    read_image_checkpoint, read_training_state, shipped_weights_path)
from utils.inference import predict_img

DATA = REPO_ROOT / "tests" / "data"
FIXTURES = {"epoch": DATA / "image_format1_epoch.pth", "state": DATA / "image_format1_state.pth",
            "milesial": DATA / "image_milesial.pth", "pretrained": REPO_ROOT / PRETRAINED_WEIGHTS}
CURRENT_KEYS = {"format_version", "state_dict", "model_config", "mask_values", "epoch", "history", "args",
                "validation images"}


@pytest.fixture(scope="module")
def expected() -> dict:
    return dict(np.load(DATA / "image_format1_expected.npz"))


@pytest.fixture(scope="module")
def test_image() -> Image.Image:
    return Image.open(REPO_ROOT / "data" / "imgs" / "test_0.png").convert("RGB")


@pytest.mark.parametrize("name", FIXTURES)
def test_files_of_earlier_code_load_and_predict_as_they_did(name, expected, test_image):
    net, mask_values, checkpoint = load_unet(FIXTURES[name])
    assert checkpoint["format_version"] == FORMAT_VERSION
    assert CURRENT_KEYS <= set(checkpoint)
    assert mask_values == ([0, 1] if name == "milesial" else [0, 255])
    mask = predict_img(net, test_image, torch.device("cpu"), scale_factor=0.5)
    assert mask.shape == (256, 256)
    np.testing.assert_array_equal(mask, expected[name])
    pixels = np.asarray(test_image.resize((64, 64)), dtype=np.float32) / 255
    with torch.no_grad():
        logits = net.eval()(torch.from_numpy(pixels).permute(2, 0, 1)[None]).numpy()
    np.testing.assert_allclose(logits, expected[f"{name}_logits"], rtol=0, atol=1e-5)


def test_upgrade_fills_what_format_1_and_milesial_lack():
    milesial = read_image_checkpoint(FIXTURES["milesial"])
    assert milesial["model_config"] == {"n_channels": 3, "n_classes": 2, "bilinear": True, "base_channels": 2,
                                        "normalize_input": False, "norm": "batch"}
    assert (milesial["epoch"], milesial["history"], milesial["args"]) == (0, {}, {})
    epoch = read_image_checkpoint(FIXTURES["epoch"])
    assert epoch["epoch"] == 2 and epoch["args"]["scale"] == 0.5 and len(epoch["validation images"]) == 1
    shipped = read_image_checkpoint(shipped_weights_path())
    assert shipped["epoch"] == 0 and "stage" not in shipped and "set" in shipped["pretraining"]
    assert shipped["state_dict"]["inc.double_conv.0.weight"].dtype == torch.float16  # stays as shipped


def test_make_checkpoint_is_what_the_reader_reads(tmp_path):
    torch.manual_seed(0)
    net = UNet(3, 3, base_channels=4)
    checkpoint = make_checkpoint(net, [0, 128, 255], args={"scale": 0.25}, epoch=3, history={"train loss": [1.0]},
                                 validation_images=["a"])
    assert set(checkpoint) == CURRENT_KEYS
    torch.save(checkpoint, tmp_path / "c.pth")
    loaded, mask_values, read = load_unet(tmp_path / "c.pth")
    assert mask_values == [0, 128, 255] and read["epoch"] == 3 and read["validation images"] == ["a"]
    for name, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_make_checkpoint_in_half_precision_with_its_training_state():
    net = UNet(3, 2, base_channels=4)
    optimizer = torch.optim.AdamW(net.parameters())
    half = make_checkpoint(net, [0, 255], args={}, epoch=1, history={}, half_precision=True,
                           pretraining={"set": "recipe"})
    assert half["state_dict"]["inc.double_conv.0.weight"].dtype == torch.float16 and half["pretraining"]
    with pytest.raises(ValueError, match="lacks scheduler, grad_scaler, ema"):
        make_checkpoint(net, [0, 255], args={}, epoch=1, history={}, training={"optimizer": optimizer.state_dict()})
    state = make_checkpoint(net, [0, 255], args={}, epoch=1, history={},
                            training={key: {} for key in TRAINING_KEYS})
    assert set(state) == CURRENT_KEYS | set(TRAINING_KEYS)


def test_a_newer_format_is_refused_with_the_fix(tmp_path):
    checkpoint = torch.load(FIXTURES["epoch"], weights_only=True)
    checkpoint["format_version"] = FORMAT_VERSION + 1
    torch.save(checkpoint, tmp_path / "future.pth")
    with pytest.raises(UserError, match=rf"future.pth: image checkpoint format {FORMAT_VERSION + 1}, newer than this code reads .*\(git pull\)"):
        read_image_checkpoint(tmp_path / "future.pth")


def test_training_state_reader_says_what_to_give():
    assert set(TRAINING_KEYS) <= set(read_training_state(FIXTURES["state"]))
    with pytest.raises(UserError, match=r"^--resume .*image_format1_epoch.pth: holds only the weights .*last.pth"):
        read_training_state(FIXTURES["epoch"])
    with pytest.raises(UserError, match=r"^--resume .*image_milesial.pth: not a train.py checkpoint .*--load"):
        read_training_state(FIXTURES["milesial"])
    with pytest.raises(UserError, match=r"is a stem-separation checkpoint .*vocal_separation_sanity_check.separate"):
        read_image_checkpoint(SEPARATOR_CHECKPOINT)


def test_train_resumes_and_loads_files_of_earlier_code(tmp_path):
    """The fixture's run (make_demo_data.py --count 4 --size 64, --base-channels 2, 2 epochs) goes on to epoch 3
    from its format-1 last.pth, and a new run starts from its checkpoint_epoch2.pth."""
    data = tmp_path / "data"
    assert run_script("make_demo_data.py", "--count", "4", "--size", "64", "--out", str(data)).returncode == 0
    common = ["--data-dir", str(data), "--batch-size", "2", "--validation", "25", "--epochs", "3"]
    resumed = run_script("train.py", *common, "--checkpoint-dir", str(tmp_path / "resumed"),
                         "--resume", str(FIXTURES["state"]))
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in resumed.stderr and "Epoch 3/3: Loss = " in resumed.stdout
    assert "Epoch 2/3" not in resumed.stdout
    state = torch.load(tmp_path / "resumed" / "last.pth", weights_only=True)
    assert state["format_version"] == FORMAT_VERSION and state["epoch"] == 3 and len(state["history"]["train loss"]) == 3
    loaded = run_script("train.py", *common, "--checkpoint-dir", str(tmp_path / "loaded"), "--load",
                        str(FIXTURES["epoch"]))
    assert loaded.returncode == 0, loaded.stderr
    assert "base_channels=2" in loaded.stderr
    assert_user_error(run_script("train.py", *common, "--checkpoint-dir", str(tmp_path / "x"), "--resume",
                                 str(FIXTURES["epoch"])), "only the weights")
