"""U-Net shapes, milesial-compatible parameter names, and the Dice / IoU scores against hand-computed values."""
import pytest
import torch

from unet import UNet
from unet.unet_model import standardize
from utils.dice_score import dice_coeff, dice_iou_per_image, dice_loss, multiclass_dice_coeff


@pytest.mark.parametrize("height, width", [(64, 64), (300, 200), (37, 53)])
def test_output_has_input_size_for_any_size(height, width):
    net = UNet(n_channels=3, n_classes=2, base_channels=8).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, height, width))
    assert out.shape == (1, 2, height, width)


def test_572_example_from_readme():
    # The README's "Test U-Net Architecture" example, with the full default model.
    net = UNet(n_channels=3, n_classes=2).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 572, 572))
    assert out.shape == (1, 2, 572, 572)
    assert torch.isfinite(out).all()


def test_bilinear_and_one_class_shapes():
    net = UNet(n_channels=1, n_classes=1, bilinear=True, base_channels=8).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 48, 80))
    assert out.shape == (2, 1, 48, 80)


def test_state_dict_matches_milesial_names_and_size():
    net = UNet(3, 2)
    state = net.state_dict()
    keys = list(state)
    assert keys[0] == "inc.double_conv.0.weight"
    assert keys[-1] == "outc.conv.bias"
    for name in ["down4.maxpool_conv.1.double_conv.3.weight", "up1.up.weight", "up4.conv.double_conv.4.running_var"]:
        assert name in state
    assert tuple(state["inc.double_conv.0.weight"].shape) == (64, 3, 3, 3)
    assert tuple(state["outc.conv.weight"].shape) == (2, 64, 1, 1)
    assert sum(p.numel() for p in net.parameters()) == 31_037_698


def test_config_rebuilds_the_same_model():
    net = UNet(3, 4, bilinear=True, base_channels=8)
    again = UNet(**net.config())
    again.load_state_dict(net.state_dict())  # raises if any shape differs
    assert net.config() == {"n_channels": 3, "n_classes": 4, "bilinear": True, "base_channels": 8,
                            "normalize_input": False, "norm": "batch"}


def test_ibn_puts_instance_norm_in_the_first_two_blocks_only():
    """norm="ibn": InstanceNorm (no running statistics: each image its own) in inc and down1, BatchNorm after."""
    net = UNet(3, 2, base_channels=8, norm="ibn")
    kinds = {name: type(module).__name__ for name, module in net.named_modules()
             if isinstance(module, (torch.nn.InstanceNorm2d, torch.nn.BatchNorm2d))}
    assert {name for name, kind in kinds.items() if kind == "InstanceNorm"} == {
        "inc.double_conv.1", "inc.double_conv.4", "down1.maxpool_conv.1.double_conv.1",
        "down1.maxpool_conv.1.double_conv.4"}
    assert sum(kind == "BatchNorm2d" for kind in kinds.values()) == 14
    state = net.state_dict()
    assert "inc.double_conv.1.weight" in state and "inc.double_conv.1.running_mean" not in state
    assert "down2.maxpool_conv.1.double_conv.1.running_mean" in state
    again = UNet(**net.config())
    again.load_state_dict(state)
    assert net.config()["norm"] == "ibn"
    # in eval mode too, an image is normalized by its own statistics: a batch gives each image's own output
    net.eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(images)[1:], net(images[1:]), atol=1e-5)
    # channels_last in, channels_last out (the layout bf16 training on a CPU uses), same numbers
    layer = net.inc.double_conv[1]
    features = torch.rand(2, 8, 16, 16)
    as_channels_last = layer(features.contiguous(memory_format=torch.channels_last))
    assert as_channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(as_channels_last, layer(features), atol=1e-6)
    with pytest.raises(ValueError, match="UNet norm 'layer': use one of batch, ibn"):
        UNet(3, 2, norm="layer")


def test_input_normalization_makes_the_model_blind_to_brightness_and_contrast():
    """normalize_input standardizes each image's channels inside the model: the same photo darker and with less
    contrast gives the same output; without it the output changes."""
    torch.manual_seed(0)
    image = torch.rand(1, 3, 32, 48)
    darker = 0.6 * image + 0.1
    for normalize, same in ((True, True), (False, False)):
        torch.manual_seed(0)
        net = UNet(3, 2, base_channels=4, normalize_input=normalize).eval()
        with torch.no_grad():
            assert torch.allclose(net(image), net(darker), atol=1e-3) is same
    flat = UNet(3, 2, base_channels=4, normalize_input=True).eval()(torch.full((1, 3, 16, 16), 0.5))
    assert torch.isfinite(flat).all()  # a flat image (std 0) stays finite
    assert standardize(image).mean(dim=(2, 3)).abs().max() < 1e-5


# --- Dice and IoU ---------------------------------------------------------------------------------


def test_binary_dice_and_iou_by_hand():
    # pred has pixels {0, 1}, truth {0, 3}: overlap 1, sizes 2 + 2 -> Dice 2*1/4 = 0.5, IoU 1/3.
    pred = torch.tensor([[[1, 1], [0, 0]]])
    true = torch.tensor([[[1, 0], [0, 1]]])
    dice, iou = dice_iou_per_image(pred, true, n_classes=2)
    assert dice.tolist() == pytest.approx([0.5])
    assert iou.tolist() == pytest.approx([1 / 3])


def test_multiclass_scores_exclude_background():
    # class 1: pred {1}, truth {1, 2} -> Dice 2/3, IoU 1/2; class 2: pred {2, 3}, truth {3} -> same.
    # Background (class 0) is perfect here; counting it would give Dice 7/9 instead of 2/3.
    pred = torch.tensor([[[0, 1, 2, 2]]])
    true = torch.tensor([[[0, 1, 1, 2]]])
    dice, iou = dice_iou_per_image(pred, true, n_classes=3)
    assert dice.item() == pytest.approx(2 / 3)
    assert iou.item() == pytest.approx(1 / 2)


def test_empty_prediction_and_truth_scores_one_and_miss_scores_zero():
    empty = torch.zeros(2, 4, 4, dtype=torch.long)
    full = torch.ones(2, 4, 4, dtype=torch.long)
    dice, iou = dice_iou_per_image(empty, empty, n_classes=1)
    assert dice.tolist() == [1.0, 1.0] and iou.tolist() == [1.0, 1.0]
    dice, iou = dice_iou_per_image(empty, full, n_classes=2)
    assert dice.tolist() == [0.0, 0.0] and iou.tolist() == [0.0, 0.0]


def test_scores_never_exceed_one():
    generator = torch.Generator().manual_seed(0)
    pred = torch.randint(0, 4, (8, 16, 16), generator=generator)
    true = torch.randint(0, 4, (8, 16, 16), generator=generator)
    dice, iou = dice_iou_per_image(pred, true, n_classes=4)
    assert (dice <= 1).all() and (dice >= 0).all() and (iou <= dice).all()
    dice, iou = dice_iou_per_image(true, true, n_classes=4)
    assert dice.tolist() == [1.0] * 8 and iou.tolist() == [1.0] * 8


def test_soft_dice_coeff_and_loss_by_hand():
    # 2 * (0.5 * 1) / (0.5 + 0.5 + 1) = 0.5
    input = torch.tensor([[0.5, 0.5], [0.0, 0.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    assert dice_coeff(input, target).item() == pytest.approx(0.5, abs=1e-5)
    assert dice_loss(input[None], target[None]).item() == pytest.approx(0.5, abs=1e-5)
    assert dice_coeff(torch.zeros(2, 2), torch.zeros(2, 2)).item() == pytest.approx(1.0)


def test_multiclass_soft_dice_is_mean_over_classes():
    target = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2) one-hot
    perfect_then_wrong = torch.tensor([[[[1.0, 0.0]], [[1.0, 0.0]]]])  # class 0 right (1), class 1 wrong (0)
    assert multiclass_dice_coeff(perfect_then_wrong, target).item() == pytest.approx(0.5, abs=1e-5)
    assert dice_loss(target, target, multiclass=True).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        dice_coeff(torch.zeros(2, 2), torch.zeros(3, 3))
