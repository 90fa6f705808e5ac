"""Checkpoints: written atomically, read with weights_only=True so a checkpoint can never run code."""
import os
import pickle
import re
from pathlib import Path

import torch
import torch.distributed as dist

from .errors import UserError


def save_checkpoint(checkpoint: dict, path: str | Path) -> None:
    """Write to a temporary file then rename, so a crash never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(path.name + ".tmp")
    try:
        torch.save(checkpoint, tmp_path)
        os.replace(tmp_path, path)
    finally:  # Ctrl-C or a full disk mid-write: no half-written .tmp left behind
        tmp_path.unlink(missing_ok=True)


def natural_order(path: Path) -> list:
    """Sort key that puts checkpoint_epoch2.pth before checkpoint_epoch10.pth."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def prepare_checkpoint_dir(folder: str | Path, resume: str | Path | None, overwrite: bool,
                           flag: str = "--checkpoint-dir", create: bool = True) -> Path:
    """The folder a training run writes its checkpoints to, checked so that runs never mix silently.

    A new run refuses a folder that already holds checkpoints (*.pth) of another run: they would be overwritten
    or, worse, mixed with this run's. --overwrite deletes them (and the curves) first; --resume from a
    checkpoint in the folder continues that run there. create=False only checks: nothing is deleted or made,
    so a run that then stops on its data leaves no empty folder and loses no earlier checkpoint.
    """
    folder = Path(folder)
    existing = sorted(folder.glob("*.pth"), key=natural_order) if folder.is_dir() else []
    continuing = resume is not None and Path(resume).resolve().parent == folder.resolve()
    if existing and not continuing:
        if not overwrite:
            names = ", ".join(path.name for path in existing[:3]) + (", ..." if len(existing) > 3 else "")
            raise UserError(f"{flag} {folder}: already holds checkpoints of another run ({names}); give another "
                            f"{flag} (e.g. {folder}/run2) or add --overwrite to delete them")
    if not create:
        return folder
    if existing and not continuing:
        for path in existing + [folder / "training_curves.png"]:
            path.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def prepare_checkpoint_dir_once(folder: str | Path, resume: str | Path | None, overwrite: bool,
                                flag: str = "--checkpoint-dir", create: bool = True) -> Path:
    """prepare_checkpoint_dir under torchrun: rank 0 checks (and with --overwrite clears) the folder, every other
    process waits for its verdict and stops with the same UserError. So no process writes before the check, two
    processes never delete at once, and no process is left waiting for one that stopped. Without torchrun:
    prepare_checkpoint_dir itself."""
    if not (dist.is_available() and dist.is_initialized()):
        return prepare_checkpoint_dir(folder, resume, overwrite, flag, create)
    verdict = [None]
    if dist.get_rank() == 0:
        try:
            prepare_checkpoint_dir(folder, resume, overwrite, flag, create)
        except UserError as error:
            verdict = [str(error)]
    dist.broadcast_object_list(verdict, src=0)
    if verdict[0] is not None:
        raise UserError(verdict[0])
    return Path(folder)


def checkpoint_kind(checkpoint: dict) -> str:
    """"separator" (train_separator.py: it stores its targets and STFT settings), "image" (train.py's, or
    milesial/Pytorch-UNet's bare state_dict with its mask values) or "unknown": each format's reader refuses the
    other kind by name, instead of failing later on its weights."""
    if "targets" in checkpoint and "stft" in checkpoint:
        return "separator"
    if "mask_values" in checkpoint or "inc.double_conv.0.weight" in checkpoint:
        return "image"
    return "unknown"


def load_checkpoint(path: str | Path, flag: str = "--model") -> dict:
    """Load a checkpoint dict on the CPU; any problem is a one-line UserError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{flag} {path}: file not found; give the path of a .pth checkpoint (see checkpoints/)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's message starts with advice to load with weights_only=False (running the file's code):
        # quote only the name of the refused Python object.
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if refused is None:  # not a pickle of a checkpoint at all (text, another format)
            raise UserError(f"{flag} {path}: not a PyTorch checkpoint; give a .pth file saved by train.py") from None
        raise UserError(
            f"{flag} {path}: refused to load, it holds a Python object ({refused.group(1)}) that could run code; "
            "only checkpoints of plain tensors and numbers are loaded, re-save it as a state_dict"
        ) from None
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise UserError(
            f"{flag} {path}: not a PyTorch checkpoint ({type(error).__name__}); give a .pth file saved by train.py"
        ) from None
    if not isinstance(checkpoint, dict):
        raise UserError(f"{flag} {path}: holds a {type(checkpoint).__name__}, not a checkpoint dict or state_dict")
    return checkpoint
