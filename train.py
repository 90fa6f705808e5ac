"""Train a U-Net on images and their segmentation masks.

    python3 train.py --epochs 10 --batch-size 2 --validation 20            # data/imgs + data/masks
    torchrun --nproc_per_node=2 train.py --epochs 10 --batch-size 2         # several processes (DDP)

Every epoch: train on the training images, measure the Dice score on the validation images, then write to
--checkpoint-dir (default checkpoints/):
    checkpoint_epochN.pth   what predict.py and evaluate.py need: weights, model settings, mask values, history
    last.pth                the full training state (adds the optimizer, schedule and loss scaling), for --resume;
                            overwritten every epoch (INTERRUPTED.pth, the same, on Ctrl-C)
    training_curves.png     loss and validation Dice per epoch
A new run refuses a folder that holds another run's checkpoints (--overwrite deletes them first).
"""
import argparse
import logging
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from unet import NORMS, UNet
from utils.cli import DefaultsHelpFormatter
from utils.checkpoint import prepare_checkpoint_dir_once, save_checkpoint
from utils.data_loading import AUGMENTATIONS, split_dataset
from utils.device import autocast, grad_scaler, memory_format, pick_device, precision_name
from utils.dice_score import dice_loss
from utils.distributed import all_reduce_mean, all_reduce_sum, cleanup_distributed, finish_distributed, setup_distributed
from utils.errors import UserError, raise_if_interrupted, run_cli
from utils.image_checkpoint import (PRETRAINED_WEIGHTS, load_unet, make_checkpoint, read_training_state,
                                    shipped_weights_path, unet_from_checkpoint)
from utils.inference import score_images
from utils.plotting import plot_training_curves
from utils.wandb_logging import init_wandb


RANDOM_START_LR = 1e-3
FINE_TUNE_LR = 1e-4


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the UNet on images and target masks",
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--epochs", "-e", metavar="E", type=int, default=5, help="Number of epochs")
    parser.add_argument("--batch-size", "-b", dest="batch_size", metavar="B", type=int, default=1, help="Batch size")
    parser.add_argument("--learning-rate", "-l", metavar="LR", type=float, default=None, dest="lr",
                        help=f"Learning rate (AdamW) (default: {RANDOM_START_LR} from random weights, "
                             f"{FINE_TUNE_LR} from the pretrained or --load weights: smaller steps keep what they know)")
    parser.add_argument("--load", "-f", type=str, default=None, metavar="CHECKPOINT",
                        help="Start a new run from the weights of this .pth file, taking its layers "
                             "(default: the pretrained weights, see --pretrained)")
    parser.add_argument("--scale", "-s", type=float, default=0.5, help="Downscaling factor of the images")
    parser.add_argument("--validation", "-v", dest="val", type=float, default=10.0,
                        help="Percent of the data that is used as validation (0-100)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                        help="Mixed precision: fp16 on CUDA, bf16 on CPUs with native bf16 (about 2x faster; both "
                             "with channels_last), fp32 on other CPUs; --no-amp for fp32 everywhere")
    parser.add_argument("--bilinear", action="store_true", default=None,
                        help="Use bilinear upsampling (the pretrained weights use transposed convolutions)")
    parser.add_argument("--classes", "-c", type=int, default=2,
                        help="Number of classes (2 = background + object; 1 = one sigmoid output)")
    parser.add_argument("--data-dir", default="data", help="Folder holding imgs/ and masks/")
    parser.add_argument("--checkpoint-dir", default="checkpoints",
                        help="Where checkpoints and curves go; one folder per run")
    parser.add_argument("--overwrite", action="store_true",
                        help="Delete the checkpoints of an earlier run in --checkpoint-dir instead of stopping")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, cuda:N or mps (default: the best available: cuda, then mps, then cpu)")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (split, initial weights, augmentation)")
    parser.add_argument("--workers", type=int, default=0, help="Data loading processes (0 = in the main process)")
    parser.add_argument("--resume", default=None, metavar="CHECKPOINT",
                        help="Continue a run up to --epochs from its last.pth or INTERRUPTED.pth (default: a new run)")
    parser.add_argument("--wandb", action="store_true", help="Log to Weights & Biases (offline without an API key)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="Random flips, crops and colour jitter of the training images; --no-augment turns them off")
    parser.add_argument("--augmentation", choices=sorted(AUGMENTATIONS), default="strong",
                        help="How far the augmentation goes: strong (rotations up to 30 degrees, crops down to 35%% "
                             "of the area, hue shifts, blur), or light (the tutorial's first version)")
    parser.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=True,
                        help="Start from the shipped weights pretrained/unet_objects.pth (a U-Net, --base-channels "
                             "32, that learnt to mark objects pasted on photographs: made by pretrain.py); "
                             "--no-pretrained, or an architecture flag below that differs from them, starts from "
                             "random weights")
    parser.add_argument("--base-channels", type=int, default=None,
                        help="Channels of the first layer (default: 32 pretrained, 64 from random weights = the "
                             "original U-Net; 16 trains ~16x faster than 64)")
    parser.add_argument("--input-norm", action=argparse.BooleanOptionalAction, default=None,
                        help="Standardize each image's colours (mean 0, std 1 per channel) inside the model, so "
                             "lighting and colour casts change less; --no-input-norm feeds the 0..1 pixels as they are "
                             "(default: on)")
    parser.add_argument("--norm", choices=NORMS, default=None,
                        help="Normalization layers: ibn (InstanceNorm in the first two blocks, each image "
                             "normalized by its own statistics, BatchNorm after them: unseen photos look more like "
                             "the training ones) or batch (BatchNorm everywhere, the original U-Net: 1.15x faster) "
                             "(default: ibn)")
    parser.add_argument("--schedule", choices=["plateau", "cosine"], default="cosine",
                        help="Learning rate: cosine (linear warm-up, then down to 0 at the last step) or plateau "
                             "(lowered when the validation Dice stalls for 5 epochs)")
    parser.add_argument("--warmup-epochs", type=float, default=1.0,
                        help="With --schedule cosine: epochs of linear warm-up from 0 to --learning-rate")
    parser.add_argument("--ema", type=float, default=0.9, metavar="DECAY",
                        help="Validate and save an exponential moving average of the weights with this decay per "
                             "step; 0 = the weights as trained")
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Bad numbers are caught here, with the flag named, before any work starts."""
    if args.epochs < 1:
        raise UserError(f"--epochs {args.epochs}: must be at least 1, e.g. --epochs 10")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be at least 1, e.g. --batch-size 2")
    if args.lr is not None and not 0 < args.lr < 1:
        raise UserError(f"--learning-rate {args.lr}: must be between 0 and 1, e.g. --learning-rate 0.001")
    if not 0 < args.scale <= 1:
        raise UserError(f"--scale {args.scale}: must be in (0, 1], e.g. --scale 0.5")
    if not 0 <= args.val < 100:
        raise UserError(f"--validation {args.val}: a percentage from 0 to 99, e.g. --validation 20")
    if args.classes < 1:
        raise UserError(f"--classes {args.classes}: must be at least 1 (2 for object vs background)")
    if args.base_channels is not None and args.base_channels < 1:
        raise UserError(f"--base-channels {args.base_channels}: must be at least 1, e.g. 64 or 16")
    if args.workers < 0:
        raise UserError(f"--workers {args.workers}: must be 0 or more")
    if args.warmup_epochs < 0:
        raise UserError(f"--warmup-epochs {args.warmup_epochs}: must be 0 or more, e.g. --warmup-epochs 1")
    if not 0 <= args.ema < 1:
        raise UserError(f"--ema {args.ema}: a decay from 0 (off) to below 1, e.g. --ema 0.95")
    if args.load and args.resume:
        raise UserError("--load and --resume together: --resume already restores the weights; give only one")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def compute_loss(logits: torch.Tensor, true_masks: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Cross-entropy (right class per pixel) + Dice loss (right overlap, so small objects count too)."""
    logits = logits.float()  # the loss in fp32, also under mixed precision
    if n_classes == 1:
        logits = logits.squeeze(1)
        target = true_masks.float()
        return F.binary_cross_entropy_with_logits(logits, target) + dice_loss(torch.sigmoid(logits), target)
    one_hot = F.one_hot(true_masks, n_classes).permute(0, 3, 1, 2).float()
    return F.cross_entropy(logits, true_masks) + dice_loss(F.softmax(logits, dim=1), one_hot, multiclass=True)


@torch.no_grad()
def recalibrate_batchnorm(model: UNet, loader: DataLoader, device: torch.device, amp: bool,
                          max_batches: int = 32) -> None:
    """Re-measure BatchNorm's running mean/variance with the current weights.

    BatchNorm normalizes with batch statistics in training but with running averages in eval mode
    (validation, predict.py). Those averages lag behind weights that changed a lot this epoch, which on a
    small data set makes the eval-mode model predict nothing at all. A forward pass over (up to
    max_batches of) the training images with a plain average (momentum=None) brings them up to date.
    """
    batchnorms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momentums = [bn.momentum for bn in batchnorms]
    for bn in batchnorms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the batches below
    model.train()
    for index, batch in enumerate(loader):
        if index == max_batches:
            break
        images = batch["image"].to(device=device, dtype=torch.float32, memory_format=memory_format(device, amp))
        with autocast(device, amp):
            model(images)
    for bn, momentum in zip(batchnorms, momentums):
        bn.momentum = momentum


def make_scheduler(optimizer: torch.optim.Optimizer, args: argparse.Namespace, steps_per_epoch: int):
    """--schedule plateau: ReduceLROnPlateau on the validation Dice (stepped once per epoch). --schedule cosine:
    per step, a linear warm-up over --warmup-epochs (large early steps on a few images throw BatchNorm and AdamW's
    moment estimates off), then half a cosine down to 0 at the last step."""
    if args.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "max", patience=5)
    total = max(1, args.epochs * steps_per_epoch)
    warmup = min(total - 1, round(args.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_ema(model: UNet, decay: float) -> AveragedModel:
    """An exponential moving average of the weights, updated after every step. Its decay starts low and rises
    to `decay` ((1 + n) / (10 + n) after n steps, as in TensorFlow's ExponentialMovingAverage): with a fixed 0.9
    a 20-step run (the README's first training) would still carry 12% of the random starting weights."""

    def average(averaged: torch.Tensor, current: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        weight = min(decay, (1 + steps.item()) / (10 + steps.item()))
        return averaged * weight + current * (1 - weight)

    return AveragedModel(model, avg_fn=average)


def validation_dice(model: UNet, val_set: Subset, device: torch.device, scale: float, rank: int,
                    world_size: int) -> float:
    """The mean Dice that evaluate.py prints for the validation images (evaluate.score_images: full-size masks,
    fp32, per-image mean), so the curve in the log is the score a learner gets afterwards. Under torchrun each
    process scores its share of the images and the sums are added up."""
    rows = score_images(model, val_set.dataset, val_set.indices[rank::world_size], device, scale)
    total, count = all_reduce_sum([sum(dice for _, dice, _ in rows), len(rows)], device)
    return total / count


def build_model(args: argparse.Namespace, resume_checkpoint: dict | None) -> UNet:
    """The --resume run's U-Net, --load's, the pretrained one (the default), or a new one with random weights.
    Architecture flags left out (None) are filled in with the U-Net's own values, so checkpoints record them."""
    if resume_checkpoint is not None:
        net = unet_from_checkpoint(resume_checkpoint, args.resume, "--resume")
        take_architecture(args, net, f"--resume {args.resume}: keeping the run's layers")
        return net
    if args.load:
        args.pretrained = False
        net, _, _ = load_unet(args.load, "--load")
        if net.n_classes != args.classes:
            raise UserError(f"--load {args.load}: a U-Net with {net.n_classes} classes, but --classes {args.classes}; "
                            f"give --classes {net.n_classes}, or train from random weights without --load")
        take_architecture(args, net, f"--load {args.load}: keeping its layers")
        logging.info(f"Model loaded from {args.load}")
        return net
    if args.pretrained:
        net = pretrained_model(args)
        if net is not None:
            return net
    for flag, (_, random_default) in ARCHITECTURE_FLAGS.items():
        if getattr(args, flag) is None:
            setattr(args, flag, random_default)
    return UNet(n_channels=3, n_classes=args.classes, bilinear=args.bilinear, base_channels=args.base_channels,
                normalize_input=args.input_norm, norm=args.norm)


def default_learning_rate(args: argparse.Namespace, resume_checkpoint: dict | None) -> float:
    """--learning-rate left out: the resumed run's, else smaller steps for weights that already know something."""
    if resume_checkpoint is not None:
        return (resume_checkpoint.get("args") or {}).get("lr", RANDOM_START_LR)
    return FINE_TUNE_LR if args.load or args.pretrained else RANDOM_START_LR


# Flags that shape the U-Net: the UNet attribute each one sets, and its value when training from random weights.
ARCHITECTURE_FLAGS = {"bilinear": ("bilinear", False), "base_channels": ("base_channels", 64),
                      "input_norm": ("normalize_input", True), "norm": ("norm", "ibn")}


def take_architecture(args: argparse.Namespace, net: UNet, reason: str) -> None:
    """Weights fit only layers like their own: the run takes the U-Net's shape, says so where a flag given
    differs, and records the shape in its checkpoints."""
    for flag, (attribute, _) in ARCHITECTURE_FLAGS.items():
        value, given = getattr(net, attribute), getattr(args, flag)
        if given is not None and given != value:
            shown = ("on" if value else "off") if isinstance(value, bool) else value
            logging.info(f"{reason}, --{flag.replace('_', '-')} {shown}")
        setattr(args, flag, value)


def pretrained_model(args: argparse.Namespace) -> UNet | None:
    """The shipped pretrained U-Net (made by pretrained/pretrain.py), with a new output layer when --classes differs
    from its 2; None when an architecture flag asks for another U-Net, which then starts from random weights."""
    path = shipped_weights_path()
    if not path.is_file():
        raise UserError(f"{path}: pretrained weights not found; restore them with git checkout {PRETRAINED_WEIGHTS}, "
                        "make them with python3 -m pretrained.pretrain, or add --no-pretrained")
    pretrained, _, _ = load_unet(path, "pretrained weights")
    for flag, (attribute, _) in ARCHITECTURE_FLAGS.items():
        value, given = getattr(pretrained, attribute), getattr(args, flag)
        if given is not None and given != value:
            logging.info(f"--{flag.replace('_', '-')} {given}: training from random weights (the pretrained "
                         f"weights are {attribute}={value}; leave the flag out to start from them)")
            args.pretrained = False
            return None
    take_architecture(args, pretrained, "pretrained weights")
    logging.info(f"Starting from the pretrained weights {PRETRAINED_WEIGHTS}")
    if pretrained.n_classes == args.classes:
        return pretrained
    net = UNet(n_channels=3, n_classes=args.classes, **{attribute: getattr(pretrained, attribute)
                                                       for attribute, _ in ARCHITECTURE_FLAGS.values()})
    body = {name: value for name, value in pretrained.state_dict().items() if not name.startswith("outc.")}
    net.load_state_dict(body, strict=False)  # all but the output layer, which keeps its random weights
    logging.info(f"New output layer for --classes {args.classes} (the pretrained one has {pretrained.n_classes})")
    return net


def load_resume_checkpoint(args: argparse.Namespace) -> dict:
    """The --resume file, checked to hold a full training state that has epochs left to train."""
    checkpoint = read_training_state(args.resume, "--resume")
    if checkpoint["epoch"] >= args.epochs:
        raise UserError(f"--resume {args.resume}: already trained for {checkpoint['epoch']} epochs; "
                        f"give --epochs larger than {checkpoint['epoch']}")
    return checkpoint


# How a run trained before these flags existed: a --resume of its last.pth carries on the same way.
SETTINGS_BEFORE_FLAGS = {"augmentation": "light", "schedule": "plateau", "warmup_epochs": 1.0, "ema": 0.0,
                         "norm": "batch"}


def continue_with_run_settings(args: argparse.Namespace, checkpoint: dict) -> None:
    """--resume continues with the resumed run's augmentation, schedule and weight averaging (its optimizer and
    schedule state only fit those), whatever today's defaults are."""
    saved = checkpoint.get("args") or {}
    for name, before in SETTINGS_BEFORE_FLAGS.items():
        value = saved.get(name, before)
        if getattr(args, name) not in (None, value):  # None: a flag left out
            logging.info(f"--resume: continuing with the run's own --{name.replace('_', '-')} {value}")
        setattr(args, name, value)


def check_resume_mask_values(checkpoint: dict, args: argparse.Namespace, mask_values: list) -> None:
    if checkpoint.get("mask_values") != mask_values:
        raise UserError(f"--resume {args.resume}: trained on masks with values {checkpoint.get('mask_values')}, "
                        f"but --data-dir {args.data_dir} has {mask_values}; resume on the same data")


@dataclass
class TrainingRun:
    """What a run carries from epoch to epoch: the model and its optimizer, the data, where it saves."""
    args: argparse.Namespace
    device: torch.device
    rank: int
    world_size: int
    model: UNet
    net: torch.nn.Module  # the model itself, or wrapped in DistributedDataParallel under torchrun
    layout: torch.memory_format
    checkpoint_dir: Path
    train_loader: DataLoader
    train_sampler: DistributedSampler | None
    val_set: Subset
    mask_values: list
    validation_names: list[str]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None
    history: dict = field(default_factory=lambda: {"train loss": [], "validation Dice": []})
    start_epoch: int = 1

    @property
    def is_main(self) -> bool:
        """Only the first process logs, saves and plots."""
        return self.rank == 0

    @property
    def final_model(self) -> UNet:
        """The weights that are validated and saved for predict.py: the average, with --ema."""
        return self.ema.module if self.ema is not None else self.model

    def checkpoint(self, model: UNet, epoch: int, with_training_state: bool = False) -> dict:
        """checkpoint_epochN.pth (what predict.py and evaluate.py need), or with the training state last.pth and
        INTERRUPTED.pth: the weights as trained plus the optimizer (AdamW keeps two numbers per weight), schedule,
        loss scaling and the --ema average, so that --resume continues exactly where the run stopped."""
        training = None
        if with_training_state:
            training = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                        "grad_scaler": self.scaler.state_dict(),
                        "ema": self.ema.state_dict() if self.ema is not None else {}}
        return make_checkpoint(model, self.mask_values, args=vars(self.args), epoch=epoch, history=self.history,
                               validation_images=self.validation_names, training=training)


def make_loaders(args: argparse.Namespace, world_size: int, device: torch.device
                 ) -> tuple[DataLoader, DistributedSampler | None, Subset, list]:
    """The images split into training and validation; the training loader gives each process its own share of
    them under torchrun."""
    data_dir = Path(args.data_dir)
    train_set, val_set, mask_values = split_dataset(
        data_dir / "imgs", data_dir / "masks", args.scale, None, args.classes, args.val, args.seed, args.augment,
        args.augmentation
    )
    train_sampler = DistributedSampler(train_set, seed=args.seed) if world_size > 1 else None
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=train_sampler is None,
                              sampler=train_sampler, generator=torch.Generator().manual_seed(args.seed),
                              num_workers=args.workers, pin_memory=device.type == "cuda")
    return train_loader, train_sampler, val_set, mask_values


def set_up_run(args: argparse.Namespace, rank: int, world_size: int, device: torch.device) -> TrainingRun:
    """The model (new, --load weights or the --resume run's), its folder, the data and the optimizer: every bad
    checkpoint, folder or image stops the run here, before any training."""
    # 1. Build the model: bad checkpoints stop the run here
    resume = load_resume_checkpoint(args) if args.resume else None
    if resume is not None:
        continue_with_run_settings(args, resume)
    model = build_model(args, resume)
    if args.lr is None:
        args.lr = default_learning_rate(args, resume)

    # 2. The run's own folder: an earlier run's checkpoints there stop this one (or go, with --overwrite, but
    #    only once the images have been read: a run that stops on its data loses nothing)
    prepare_checkpoint_dir_once(args.checkpoint_dir, args.resume, args.overwrite, create=False)

    # 3. Split the images into training and validation, and make the training loader
    train_loader, train_sampler, val_set, mask_values = make_loaders(args, world_size, device)
    if resume is not None:
        check_resume_mask_values(resume, args, mask_values)
    checkpoint_dir = prepare_checkpoint_dir_once(args.checkpoint_dir, args.resume, args.overwrite)

    # 4. Move the model to the device, channels_last only where autocast computes in bf16/fp16
    #    (utils.device.memory_format says why)
    layout = memory_format(device, args.amp)
    model.to(device=device, memory_format=layout)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if world_size > 1 else model

    # 5. The optimizer, the learning-rate schedule, the fp16 loss scaling and the weight average
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    run = TrainingRun(args, device, rank, world_size, model, net, layout, checkpoint_dir, train_loader,
                      train_sampler, val_set, mask_values, [val_set.dataset.ids[index] for index in val_set.indices],
                      optimizer, make_scheduler(optimizer, args, len(train_loader)), grad_scaler(device, args.amp),
                      make_ema(model, args.ema) if args.ema else None)
    if resume is not None:
        restore_training_state(run, resume)
    return run


def restore_training_state(run: TrainingRun, resume: dict) -> None:
    """--resume: the optimizer, schedule, loss scaling, weight average and history as the run left them."""
    run.optimizer.load_state_dict(resume["optimizer"])
    run.scheduler.load_state_dict(resume["scheduler"])
    if resume.get("grad_scaler"):  # empty when the run so far had no fp16 loss scaling (CPU, no --amp)
        run.scaler.load_state_dict(resume["grad_scaler"])
    if run.ema is not None and resume.get("ema"):
        run.ema.load_state_dict(resume["ema"])
    run.history = resume["history"]
    run.start_epoch = resume["epoch"] + 1
    logging.info(f"Resuming {run.args.resume} from epoch {run.start_epoch}")


def log_start(run: TrainingRun) -> None:
    """The settings of the run, as milesial's train.py prints them."""
    args, model = run.args, run.model
    logging.info(f"""Starting training:
        Epochs:          {args.epochs}
        Batch size:      {args.batch_size}
        Learning rate:   {args.lr}
        Training size:   {len(run.train_loader.dataset)}
        Validation size: {len(run.val_set)}
        Device:          {run.device.type}{f' x {run.world_size} processes' if run.world_size > 1 else ''}
        Images scaling:  {args.scale}
        Mixed precision: {precision_name(run.device, args.amp)}{'' if args.amp else ' (--no-amp)'}
        Model:           UNet({model.n_channels}, {model.n_classes}, bilinear={model.bilinear}, \
base_channels={model.base_channels}{', normalize_input=True' if model.normalize_input else ''}\
{f', norm={model.norm}' if model.norm != 'batch' else ''}), \
{sum(p.numel() for p in model.parameters()):,} parameters""")
    if args.schedule == "cosine" or run.ema is not None:
        logging.info(f"Schedule: {args.schedule}" + (f", {args.warmup_epochs:g} warm-up epochs" if args.schedule
                     == "cosine" else "") + (f"; weights averaged (EMA, decay {args.ema:g})" if run.ema else ""))


def train_one_epoch(run: TrainingRun, epoch: int) -> float:
    """One pass over this process's training images; the mean loss of its steps."""
    args = run.args
    run.model.train()
    if run.train_sampler is not None:
        run.train_sampler.set_epoch(epoch)  # a different shuffle each epoch, the same on every process
    epoch_loss, n_batches = 0.0, 0
    with tqdm(total=len(run.train_loader.sampler), desc=f"Epoch {epoch}/{args.epochs}", unit="img",
              leave=False, disable=not run.is_main) as pbar:
        for batch in run.train_loader:
            raise_if_interrupted()
            images = batch["image"].to(device=run.device, dtype=torch.float32, memory_format=run.layout)
            true_masks = batch["mask"].to(device=run.device, dtype=torch.long)
            with autocast(run.device, args.amp):
                logits = run.net(images)
            loss = compute_loss(logits, true_masks, run.model.n_classes)

            run.optimizer.zero_grad(set_to_none=True)
            run.scaler.scale(loss).backward()
            run.scaler.unscale_(run.optimizer)  # clip the true gradients, not the fp16-scaled ones
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
            run.scaler.step(run.optimizer)
            run.scaler.update()
            if args.schedule == "cosine":
                run.scheduler.step()  # per step: the warm-up lasts a fraction of an epoch on small sets
            if run.ema is not None:
                run.ema.update_parameters(run.model)

            epoch_loss += loss.item()
            n_batches += 1
            pbar.update(images.shape[0])
            pbar.set_postfix(loss=f"{loss.item():.3f}")
    return epoch_loss / max(n_batches, 1)


def validate(run: TrainingRun, epoch: int, process_loss: float) -> str:
    """Bring BatchNorm up to date, average the loss over the processes, score the validation images and record
    both in the history; the epoch's log line."""
    recalibrate_batchnorm(run.final_model, run.train_loader, run.device, run.args.amp)
    # Every process trained on its own share: average the loss and Dice over all of them.
    train_loss = all_reduce_mean(process_loss, run.device)
    run.history["train loss"].append(train_loss)
    line = f"Epoch {epoch}/{run.args.epochs}: Loss = {train_loss:.3f}"
    if len(run.val_set):
        val_dice = validation_dice(run.final_model, run.val_set, run.device, run.args.scale, run.rank,
                                   run.world_size)
        if run.args.schedule == "plateau":
            run.scheduler.step(val_dice)
        run.history["validation Dice"].append(val_dice)
        line += f", validation Dice = {val_dice:.3f}"
    return line


def save_epoch(run: TrainingRun, epoch: int, wandb_run) -> None:
    """checkpoint_epochN.pth, last.pth, the curves, and the epoch's figures to Weights & Biases."""
    save_checkpoint(run.checkpoint(run.final_model, epoch), run.checkpoint_dir / f"checkpoint_epoch{epoch}.pth")
    save_checkpoint(run.checkpoint(run.model, epoch, with_training_state=True), run.checkpoint_dir / "last.pth")
    logging.info(f"Checkpoint {epoch} saved!")
    plot_training_curves(run.history, run.checkpoint_dir / "training_curves.png", title="U-Net training")
    if wandb_run is not None:
        scores = {"validation Dice": run.history["validation Dice"][-1]} if len(run.val_set) else {}
        wandb_run.log({"epoch": epoch, "train loss": run.history["train loss"][-1],
                       "learning rate": run.optimizer.param_groups[0]["lr"], **scores})


def save_interrupted(run: TrainingRun, finished_epochs: int) -> None:
    """Ctrl-C: keep what was learned so far in INTERRUPTED.pth; --resume then redoes the unfinished epoch."""
    path = run.checkpoint_dir / "INTERRUPTED.pth"
    run.history = {name: values[:finished_epochs] for name, values in run.history.items()}
    save_checkpoint(run.checkpoint(run.model, finished_epochs, with_training_state=True), path)
    logging.info(f"Interrupted: saved {path} (continue with --resume {path})")


def train_model(args: argparse.Namespace, rank: int, world_size: int, device: torch.device) -> None:
    # 1. Set up: the model, its folder, the data, the optimizer (bad inputs stop the run here)
    run = set_up_run(args, rank, world_size, device)
    log_start(run)
    wandb_run = init_wandb(args.wandb and run.is_main, "U-Net", vars(args))
    finished_epochs = run.start_epoch - 1

    # 2. Every epoch: train on the training images, validate, then save the checkpoints and the curves
    try:
        for epoch in range(run.start_epoch, args.epochs + 1):
            process_loss = train_one_epoch(run, epoch)
            line = validate(run, epoch, process_loss)
            finished_epochs = epoch
            raise_if_interrupted()
            if run.is_main:
                print(line, flush=True)
                save_epoch(run, epoch, wandb_run)
    except KeyboardInterrupt:
        if run.is_main:
            save_interrupted(run, finished_epochs)
        raise
    finally:
        if wandb_run is not None:
            wandb_run.finish()
    if run.is_main:
        logging.info(f"Training curves saved to {run.checkpoint_dir / 'training_curves.png'}")


def main() -> None:
    args = get_args()
    check_args(args)

    # Only the first process logs; the others would print every line again.
    first_process = int(os.environ.get("RANK", 0)) == 0
    logging.basicConfig(level=logging.INFO if first_process else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    seed_everything(args.seed)

    device = pick_device(args.device)
    rank, world_size, device = setup_distributed(device)
    logging.info(f"Using device {device}")
    try:  # Ctrl-C: train_model saves INTERRUPTED.pth, run_cli exits with code 130
        train_model(args, rank, world_size, device)
        finish_distributed()
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    run_cli(main)
