"""Rebuild a U-Net from a checkpoint: ours (train.py) or milesial/Pytorch-UNet's (a state_dict + 'mask_values').

Used by predict.py, evaluate.py and train.py (--load, --resume), so the two checkpoint formats, and the refusal
of the audio scripts' stem-separation checkpoints, are handled in one place.
"""
from pathlib import Path

import torch

from unet import UNet
from utils.checkpoint import load_checkpoint
from utils.errors import UserError


def check_image_checkpoint(checkpoint: dict, path: str | Path, flag: str) -> None:
    """A stem-separation checkpoint (train_separator.py: it stores its 'targets' and 'stft' settings) is refused
    with the script that uses it, instead of failing later on its weights."""
    if "targets" in checkpoint and "stft" in checkpoint:
        raise UserError(f"{flag} {path} is a stem-separation checkpoint (train_separator.py), not an image U-Net; "
                        "separate audio with python3 -m vocal_separation_sanity_check.separate "
                        f"-m {path} -i <song or folder>")


def load_image_checkpoint(path: str | Path, flag: str = "--model") -> dict:
    """load_checkpoint, refusing stem-separation checkpoints: what every image script opens a .pth file with."""
    checkpoint = load_checkpoint(path, flag)
    check_image_checkpoint(checkpoint, path, flag)
    return checkpoint


def split_checkpoint(checkpoint: dict) -> tuple[dict, list | None]:
    """(state_dict, mask_values) from either format; mask_values is None when the file has none."""
    if "state_dict" in checkpoint:  # train.py's checkpoint
        return checkpoint["state_dict"], checkpoint.get("mask_values")
    state_dict = dict(checkpoint)  # milesial's: the state_dict itself, plus one extra 'mask_values' entry
    mask_values = state_dict.pop("mask_values", None)
    return state_dict, mask_values


def infer_unet_config(state_dict: dict, path: str | Path, flag: str) -> dict:
    """UNet constructor arguments read from the weight shapes (milesial's files do not store them)."""
    first_conv = state_dict.get("inc.double_conv.0.weight")  # (base_channels, n_channels, 3, 3)
    last_conv = state_dict.get("outc.conv.weight")  # (n_classes, base_channels, 1, 1)
    if not isinstance(first_conv, torch.Tensor) or not isinstance(last_conv, torch.Tensor):
        raise UserError(
            f"{flag} {path}: not a U-Net checkpoint (no 'inc.double_conv.0.weight' / 'outc.conv.weight' weights); "
            "give a .pth file saved by train.py or by milesial/Pytorch-UNet"
        )
    return {
        "n_channels": int(first_conv.shape[1]),
        "n_classes": int(last_conv.shape[0]),
        # Transposed-convolution upsampling has weights; bilinear upsampling has none.
        "bilinear": "up1.up.weight" not in state_dict,
        "base_channels": int(first_conv.shape[0]),
        "normalize_input": False,  # milesial's U-Net feeds the 0..1 pixels as they are
        # InstanceNorm keeps no running statistics: a first block without them is norm="ibn"
        "norm": "batch" if "inc.double_conv.1.running_mean" in state_dict else "ibn",
    }


def load_weights(net: torch.nn.Module, state_dict: dict, path: str | Path, flag: str) -> None:
    """load_state_dict, with a one-line error when the weights belong to another architecture."""
    try:
        net.load_state_dict(state_dict)
    except RuntimeError as error:
        detail = " ".join(str(error).split())
        if len(detail) > 160:
            detail = detail[:160] + "..."
        raise UserError(
            f"{flag} {path}: its weights do not fit this U-Net ({detail}); use a checkpoint trained with the "
            "same --classes, --bilinear and --base-channels"
        ) from None


def default_mask_values(n_classes: int) -> list:
    """Without stored mask values, class i is written as value i (binary masks are written 0/255 anyway)."""
    return list(range(max(n_classes, 2)))


def load_unet(path: str | Path, flag: str = "--model") -> tuple[UNet, list, dict]:
    """(model on the CPU, mask_values, raw checkpoint dict) from a checkpoint file of either format."""
    checkpoint = load_image_checkpoint(path, flag)
    state_dict, mask_values = split_checkpoint(checkpoint)
    config = checkpoint.get("model_config") or infer_unet_config(state_dict, path, flag)
    try:
        net = UNet(**config)
    except TypeError:
        raise UserError(f"{flag} {path}: its 'model_config' {config} does not describe a UNet; re-train it") from None
    load_weights(net, state_dict, path, flag)
    if mask_values is None:
        mask_values = default_mask_values(net.n_classes)
    return net, mask_values, checkpoint


def training_scale(checkpoint: dict, default: float = 0.5) -> float:
    """The --scale the model was trained with (train.py stores its arguments), else milesial's default 0.5."""
    train_args = checkpoint.get("args")
    if isinstance(train_args, dict) and isinstance(train_args.get("scale"), (int, float)):
        return float(train_args["scale"])
    return default
