"""The image U-Net's checkpoint format: its version, the one function that writes the dict, the one reader.

A checkpoint (format 2) is a dict of tensors and plain Python values, so torch.load(weights_only=True) reads it:

    format_version       2
    state_dict          the U-Net's weights (half precision in the shipped pretrained/unet_objects.pth)
    model_config        UNet(**model_config) rebuilds the architecture
    mask_values         the training masks' values: class i is written back as mask_values[i]
    args                train.py's arguments ({} when unknown): predict.py and evaluate.py take --scale from them
    epoch, history      the epochs trained, and the loss and validation Dice of each
    validation images   the names of the validation images, to score them again with evaluate.py
  in a training state (last.pth, INTERRUPTED.pth), for train.py --resume, also:
    optimizer, scheduler, grad_scaler, ema
  in the shipped pretrained weights, also:
    pretraining         the commands of every stage that made them (pretrained/pretrain.py)

Read as well, and upgraded as they are read: format 1 (train.py's files before the format had a version: the same
keys without format_version; the shipped weights without epoch and validation images) and milesial/Pytorch-UNet's
files (a bare state_dict with a 'mask_values' entry; the architecture is read from the weight shapes).
The stem separator's checkpoints have their own owner (vocal_separation_sanity_check/separator.py).
"""
from pathlib import Path

import torch

from unet import UNet
from utils.checkpoint import checkpoint_kind, load_checkpoint
from utils.errors import UserError

FORMAT_VERSION = 2
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
PRETRAINED_WEIGHTS = Path("pretrained") / "unet_objects.pth"  # the shipped weights, relative to REPOSITORY_ROOT
TRAINING_KEYS = ("optimizer", "scheduler", "grad_scaler", "ema")  # what --resume needs beyond the weights


def make_checkpoint(model: UNet, mask_values: list, *, args: dict, epoch: int, history: dict,
                    validation_images: list[str] | None = None, training: dict | None = None,
                    pretraining: dict | None = None, half_precision: bool = False) -> dict:
    """The checkpoint dict of the current format. train.py saves one every epoch (checkpoint_epochN.pth) and,
    with `training` (TRAINING_KEYS), its full state (last.pth); pretrain.py the shipped weights, in half
    precision (what a starting point needs, half the size) with the commands that made them."""
    state_dict = model.state_dict()
    if half_precision:
        state_dict = {name: value.half() if value.is_floating_point() else value for name, value in state_dict.items()}
    checkpoint = {"format_version": FORMAT_VERSION, "state_dict": state_dict, "model_config": model.config(),
                  "mask_values": mask_values, "epoch": epoch, "history": history, "args": dict(args),
                  "validation images": list(validation_images or [])}
    if training is not None:
        missing = [key for key in TRAINING_KEYS if key not in training]
        if missing:
            raise ValueError(f"training state lacks {', '.join(missing)}")
        checkpoint.update(training)
    if pretraining is not None:
        checkpoint["pretraining"] = pretraining
    return checkpoint


def read_image_checkpoint(path: str | Path, flag: str = "--model") -> dict:
    """An image checkpoint of any format (ours of any version, milesial's), upgraded to the current one; a one-line
    UserError for anything else, naming the file and what to give instead."""
    return upgrade(_load(path, flag), path, flag)


def read_training_state(path: str | Path, flag: str = "--resume") -> dict:
    """A training state to continue from (last.pth or INTERRUPTED.pth), or a UserError saying what to give."""
    raw = _load(path, flag)
    if "state_dict" in raw and "optimizer" not in raw:  # a checkpoint_epochN.pth, or the shipped weights
        raise UserError(f"{flag} {path}: holds only the weights (for predict.py and evaluate.py), not the "
                        f"optimizer state; resume from {Path(path).parent / 'last.pth'} (or INTERRUPTED.pth), "
                        f"or start a new run from these weights with --load {path}")
    missing = [key for key in ("state_dict", "model_config", "epoch", "history", *TRAINING_KEYS) if key not in raw]
    if missing:
        raise UserError(f"{flag} {path}: not a train.py checkpoint (no {', '.join(missing)}); "
                        f"use --load {path} to start a new run from its weights")
    return upgrade(raw, path, flag)


def upgrade(checkpoint: dict, path: str | Path, flag: str) -> dict:
    """Any readable format as the current one: milesial's and format 1 gain the keys format 2 always has."""
    version = checkpoint.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(f"{flag} {path}: image checkpoint format {version}, newer than this code reads "
                        f"({FORMAT_VERSION}); update the repository (git pull)")
    if "state_dict" not in checkpoint:  # milesial's: the state_dict itself, plus one extra 'mask_values' entry
        state_dict = dict(checkpoint)
        mask_values = state_dict.pop("mask_values", None)
        checkpoint = {"state_dict": state_dict, "model_config": infer_unet_config(state_dict, path, flag),
                      "mask_values": mask_values}
    elif "model_config" not in checkpoint:
        checkpoint["model_config"] = infer_unet_config(checkpoint["state_dict"], path, flag)
    if checkpoint.get("mask_values") is None:
        checkpoint["mask_values"] = default_mask_values(int(checkpoint["model_config"].get("n_classes", 2)))
    for key, value in (("epoch", 0), ("history", {}), ("args", {}), ("validation images", [])):
        if checkpoint.get(key) is None:
            checkpoint[key] = value
    checkpoint["format_version"] = FORMAT_VERSION
    return checkpoint


def load_unet(path: str | Path, flag: str = "--model") -> tuple[UNet, list, dict]:
    """(model on the CPU, mask_values, the checkpoint upgraded to the current format) from an image checkpoint."""
    checkpoint = read_image_checkpoint(path, flag)
    return unet_from_checkpoint(checkpoint, path, flag), checkpoint["mask_values"], checkpoint


def unet_from_checkpoint(checkpoint: dict, path: str | Path, flag: str) -> UNet:
    """The U-Net a (current-format) checkpoint describes, with its weights in float32."""
    config = checkpoint["model_config"]
    try:
        net = UNet(**config)
    except TypeError:
        raise UserError(f"{flag} {path}: its 'model_config' {config} does not describe a UNet; re-train it") from None
    load_weights(net, checkpoint["state_dict"], path, flag)
    return net


def training_scale(checkpoint: dict, default: float = 0.5) -> float:
    """The --scale the model was trained with (train.py stores its arguments), else milesial's default 0.5."""
    scale = checkpoint.get("args", {}).get("scale")
    return float(scale) if isinstance(scale, (int, float)) else default


def shipped_weights_path() -> Path:
    """The shipped pretrained weights in this repository, whatever the working directory."""
    return REPOSITORY_ROOT / PRETRAINED_WEIGHTS


def _load(path: str | Path, flag: str) -> dict:
    """load_checkpoint, refusing a stem-separation checkpoint with the script that uses it."""
    checkpoint = load_checkpoint(path, flag)
    if checkpoint_kind(checkpoint) == "separator":
        raise UserError(f"{flag} {path} is a stem-separation checkpoint (train_separator.py), not an image U-Net; "
                        "separate audio with python3 -m vocal_separation_sanity_check.separate "
                        f"-m {path} -i <song or folder>")
    return checkpoint


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
