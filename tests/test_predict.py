"""predict.py: mask values and sizes, both checkpoint formats, output naming, --viz, and bad inputs."""
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO_ROOT
import predict
from image_helpers import (SEPARATOR_CHECKPOINT, assert_user_error, constant_unet, make_square_dataset, run_script,
                           save_milesial_checkpoint, save_our_checkpoint)
from unet import UNet
from utils.errors import UserError
from utils.image_checkpoint import infer_unet_config, load_unet, training_scale
from utils.data_loading import image_to_tensor
from utils.dice_score import class_probabilities, probabilities_to_classes
from utils.inference import predict_img

TEST_0 = REPO_ROOT / "data" / "imgs" / "test_0.png"


@pytest.fixture(scope="module")
def trained_binary(tmp_path_factory):
    """A small U-Net trained on bright squares (mask 255) on dark noise: (checkpoint, data folder)."""
    root = tmp_path_factory.mktemp("binary")
    data = make_square_dataset(root / "data", count=8, size=(48, 48), mask_values=[0, 255])
    result = run_script("train.py", "--data-dir", str(data), "--epochs", "4", "--batch-size", "4", "--scale", "1",
                        "--validation", "25", "--base-channels", "8", "--no-augment",
                        "--checkpoint-dir", str(root / "checkpoints"))
    assert result.returncode == 0, result.stderr
    return root / "checkpoints" / "checkpoint_epoch4.pth", data


def test_binary_mask_is_0_255_at_the_input_size(trained_binary, tmp_path):
    checkpoint, _ = trained_binary
    # An odd-sized image the model never saw: a bright square on the left of a 61x37 picture.
    image = np.random.default_rng(1).integers(0, 60, (37, 61, 3)).astype(np.uint8)
    image[5:30, 4:30] = (255, 60, 60)
    Image.fromarray(image).save(tmp_path / "odd.png")
    result = run_script("predict.py", "-m", str(checkpoint), "-i", str(tmp_path / "odd.png"),
                        "-o", str(tmp_path / "odd_mask.png"), "--scale", "1")
    assert result.returncode == 0, result.stderr
    for line in [f"INFO: Loading model {checkpoint}", "INFO: Using device ", "INFO: Model loaded!",
                 f"INFO: Predicting image {tmp_path / 'odd.png'} ...", f"INFO: Mask saved to {tmp_path / 'odd_mask.png'}"]:
        assert line in result.stderr
    mask = Image.open(tmp_path / "odd_mask.png")
    assert mask.mode == "L" and mask.size == (61, 37)
    values = np.array(mask)
    assert set(np.unique(values).tolist()) == {0, 255}
    assert values[5:30, 4:30].mean() > values[:, 35:].mean()  # the square is found, not the dark side


def test_folder_input_output_folder_and_viz(trained_binary, tmp_path):
    checkpoint, data = trained_binary
    out = tmp_path / "predictions"
    result = run_script("predict.py", "-m", str(checkpoint), "-i", str(data / "imgs"), "-o", str(out), "--viz")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"sq_{i}_OUT.png" for i in range(8)] + [f"sq_{i}_OUT_viz.png" for i in range(8)])
    viz = Image.open(out / "sq_0_OUT_viz.png")
    assert viz.size[0] > 2 * viz.size[1]  # three panels side by side
    # The model was trained at scale 1 and predict.py takes that scale from the checkpoint.
    assert Image.open(out / "sq_0_OUT.png").size == (48, 48)


def test_default_output_name_beside_input_and_no_save(trained_binary, tmp_path):
    checkpoint, _ = trained_binary
    shutil.copy(TEST_0, tmp_path / "car.png")
    result = run_script("predict.py", "-m", str(checkpoint), "-i", str(tmp_path / "car.png"))
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "car_OUT.png").size == (256, 256)
    # A second run on the folder ignores the earlier output; -n saves nothing.
    result = run_script("predict.py", "-m", str(checkpoint), "-i", str(tmp_path), "-n")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Predicting image") == 1
    assert "Mask saved" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["car.png", "car_OUT.png"]


def test_milesial_checkpoint_loads_and_writes_0_255(tmp_path):
    path = save_milesial_checkpoint(constant_unet(2, winner=1), [0, 1], tmp_path / "m.pth")
    result = run_script("predict.py", "-m", str(path), "-i", str(TEST_0), "-o", str(tmp_path / "p.png"))
    assert result.returncode == 0, result.stderr
    assert np.unique(np.array(Image.open(tmp_path / "p.png"))).tolist() == [255]  # 255, not 1


def predict_in_process(checkpoint_path, image_path=TEST_0) -> np.ndarray:
    """What predict.py writes for one image, without starting a new Python."""
    net, mask_values, checkpoint = load_unet(checkpoint_path)
    image = Image.open(image_path)
    mask = predict_img(net, image, torch.device("cpu"), scale_factor=training_scale(checkpoint))
    return np.array(predict.mask_to_image(mask, mask_values, net.n_classes))


def test_bilinear_milesial_checkpoint(tmp_path):
    path = save_milesial_checkpoint(constant_unet(2, winner=1, bilinear=True), [0, 1], tmp_path / "m.pth")
    mask = predict_in_process(path)
    assert mask.shape == (256, 256) and np.unique(mask).tolist() == [255]


def test_multiclass_mask_in_original_values(tmp_path):
    path = save_our_checkpoint(constant_unet(3, winner=2), [0, 100, 200], tmp_path / "c.pth")
    assert np.unique(predict_in_process(path)).tolist() == [200]  # class 2 -> value 200, not 2


def test_colour_mask_values_give_rgb_masks(tmp_path):
    colours = [[0, 0, 0], [255, 0, 0], [0, 0, 255]]
    mask = predict_in_process(save_our_checkpoint(constant_unet(3, winner=1), colours, tmp_path / "c.pth"))
    assert mask.shape == (256, 256, 3)
    assert (mask == [255, 0, 0]).all()


@pytest.mark.parametrize("bilinear, n_classes, base, norm", [(False, 2, 64, "batch"), (True, 1, 8, "batch"),
                                                             (False, 5, 4, "batch"), (False, 2, 8, "ibn")])
def test_architecture_read_from_state_dict(bilinear, n_classes, base, norm):
    net = UNet(3, n_classes, bilinear=bilinear, base_channels=base, norm=norm)
    assert infer_unet_config(net.state_dict(), "x.pth", "--model") == net.config()


def test_bad_inputs_give_one_line_errors(tmp_path):
    good = save_milesial_checkpoint(constant_unet(2, winner=1), [0, 1], tmp_path / "good.pth")
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "linear.pth")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    (tmp_path / "empty").mkdir()
    cases = [
        (["-m", str(tmp_path / "notes.pth"), "-i", str(TEST_0)], ["notes.pth", "not a PyTorch checkpoint"]),
        (["-m", str(tmp_path / "linear.pth"), "-i", str(TEST_0)], ["linear.pth", "not a U-Net checkpoint"]),
        (["-m", str(good), "-i", str(tmp_path / "empty")], ["-i", "empty", "no images"]),
        (["-m", str(good), "-i", str(tmp_path / "nowhere.png")], ["-i", "nowhere.png"]),
        (["-m", str(good), "-i", str(tmp_path / "broken.png")], ["broken.png", "cannot read"]),
        (["-m", str(good), "-i", str(TEST_0), str(TEST_0), "-o", str(tmp_path / "one.png")],
         ["-o", "2 input images but 1 output"]),
    ]
    for args, expected in cases:
        assert_user_error(run_script("predict.py", *args), *expected)


def test_stem_separation_checkpoint_names_the_audio_script(tmp_path):
    # One place (load_unet) recognises the audio scripts' checkpoints; predict.py says which script takes them.
    result = run_script("predict.py", "-m", str(SEPARATOR_CHECKPOINT), "-i", str(TEST_0), "-o", str(tmp_path / "p.png"))
    assert_user_error(result, f"--model {SEPARATOR_CHECKPOINT} is a stem-separation checkpoint (train_separator.py)",
                      f"python3 -m vocal_separation_sanity_check.separate -m {SEPARATOR_CHECKPOINT}")
    assert not (tmp_path / "p.png").exists()
    with pytest.raises(UserError, match="stem-separation checkpoint"):
        load_unet(SEPARATOR_CHECKPOINT)


@pytest.mark.parametrize("size", [(256, 256), (61, 37), (40, 120)])
def test_visualization_titles_are_inside_the_picture(size):
    image = Image.fromarray(np.zeros((size[1], size[0], 3), dtype=np.uint8))
    mask = np.zeros((size[1], size[0]), dtype=np.int64)
    mask[: size[1] // 2] = 1
    fig = predict.visualization_figure(image, mask)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        titles = [ax.title for ax in fig.axes]
        assert [title.get_text() for title in titles] == ["Input image", "Predicted mask", "Overlay"]
        for title in titles:
            box = title.get_window_extent(renderer)
            assert fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1, (title.get_text(), box, fig.bbox)
            assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, (title.get_text(), box, fig.bbox)
    finally:
        plt.close(fig)


def test_tta_prediction_of_a_mirrored_image_is_the_mirrored_prediction():
    """--tta averages the image's and its mirror image's probabilities, so mirroring the input mirrors the mask
    exactly; an untrained U-Net on its own has no such symmetry (the check below would catch a TTA that does
    nothing or forgets to mirror back)."""
    torch.manual_seed(0)
    net = UNet(3, 2, base_channels=4)
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (40, 56, 3)).astype(np.uint8))
    mirrored = image.transpose(Image.FLIP_LEFT_RIGHT)
    cpu = torch.device("cpu")
    with torch.no_grad():  # move the decision boundary into the image: about half of the pixels each class
        difference = net.eval()(image_to_tensor(image)[None]).diff(dim=1)
        net.outc.conv.bias[1] -= difference.median()
    plain = predict_img(net, image, cpu, scale_factor=1.0)
    assert not np.array_equal(predict_img(net, mirrored, cpu, scale_factor=1.0), plain[:, ::-1])
    tta = predict_img(net, image, cpu, scale_factor=1.0, tta=True)
    assert np.array_equal(predict_img(net, mirrored, cpu, scale_factor=1.0, tta=True), tta[:, ::-1])
    assert 0 < tta.mean() < 1 and not np.array_equal(tta, plain)


def test_tta_scales_average_the_probabilities_of_each_scale_at_full_size():
    """--tta-scales 0.5: the mask is the class of the mean of the probabilities predicted at the scale and at half
    of it, each resized to the image's size; with --tta each of them is mirrored too (still mirror-exact)."""
    torch.manual_seed(0)
    net = UNet(3, 2, base_channels=4).eval()
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (40, 56, 3)).astype(np.uint8))
    cpu = torch.device("cpu")
    with torch.no_grad():
        difference = net(image_to_tensor(image)[None]).diff(dim=1)
        net.outc.conv.bias[1] -= difference.median()
        views = [torch.nn.functional.interpolate(class_probabilities(net(image_to_tensor(image, s)[None])),
                                                 size=(40, 56), mode="bilinear") for s in (1.0, 0.5)]
    expected = probabilities_to_classes((views[0] + views[1]) / 2, 0.5)[0].numpy()
    both = predict_img(net, image, cpu, scale_factor=1.0, tta_scales=[0.5])
    assert np.array_equal(both, expected)
    assert not np.array_equal(both, predict_img(net, image, cpu, scale_factor=1.0))
    mirrored = image.transpose(Image.FLIP_LEFT_RIGHT)
    four = predict_img(net, image, cpu, scale_factor=1.0, tta=True, tta_scales=[0.5])
    assert np.array_equal(predict_img(net, mirrored, cpu, scale_factor=1.0, tta=True, tta_scales=[0.5]),
                          four[:, ::-1])


def test_tta_scales_out_of_range_are_refused(trained_binary, tmp_path):
    checkpoint, data = trained_binary
    for script, flags in (("predict.py", ["-i", str(data / "imgs" / "sq_0.png"), "-o", str(tmp_path / "m.png")]),
                          ("evaluate.py", ["--data-dir", str(data)])):
        result = run_script(script, "-m", str(checkpoint), *flags, "--tta-scales", "1.5")
        assert_user_error(result, "--tta-scales 1.5", "between 0 and 1", "e.g. --tta-scales 0.75")
    assert not (tmp_path / "m.png").exists()


def test_tta_flag_of_predict_and_evaluate(trained_binary, tmp_path):
    checkpoint, data = trained_binary
    result = run_script("predict.py", "-m", str(checkpoint), "-i", str(data / "imgs" / "sq_0.png"),
                        "-o", str(tmp_path / "tta.png"), "--tta")
    assert result.returncode == 0, result.stderr
    truth = np.array(Image.open(data / "masks" / "sq_0_mask.png")) > 0
    found = np.array(Image.open(tmp_path / "tta.png")) > 0
    assert 2 * (found & truth).sum() / (found.sum() + truth.sum()) > 0.5
    scores = {}
    for flags in ([], ["--tta"], ["--tta", "--tta-scales", "0.75"]):
        result = run_script("evaluate.py", "-m", str(checkpoint), "--data-dir", str(data), *flags)
        assert result.returncode == 0, result.stderr
        scores[len(flags)] = result.stdout.strip().splitlines()[-1]
    assert scores[1].endswith("(8 images)") and scores[1] != scores[0]
    assert scores[3].endswith("(8 images)") and scores[3] != scores[1]
