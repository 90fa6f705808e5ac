"""Train the U-Net to separate stems from multitrack songs (MUSDB18-HQ layout, e.g. make_demo_songs.py).

    python3 train_separator.py --root data/demo_songs --max-minutes 10

The U-Net looks at magnitude-spectrogram patches of a mixture and predicts one soft mask per target;
the loss is the L1 distance between the masked mixture and the target's magnitude (Jansson et al. 2017,
Spleeter). Every patch is a new remix of random sources (training.py says how).

Every epoch validates: held-out audio is separated with the same code as separate.py and scored (SDR).
CHECKPOINT_DIR (default checkpoints/separator) gets best.pth (the best validation SDR), last.pth (the latest
state, for --resume), training_curves.png, and INTERRUPTED.pth on Ctrl-C.
Runs under torchrun too: torchrun --nproc_per_node=2 train_separator.py --root ...
"""
if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader
from tqdm import tqdm

from utils.checkpoint import prepare_checkpoint_dir_once
from utils.cli import DefaultsHelpFormatter
from utils.device import autocast, grad_scaler, memory_format, pick_device, precision_name
from utils.distributed import all_reduce_mean, cleanup_distributed, finish_distributed, setup_distributed
from utils.errors import UserError, raise_if_interrupted, run_cli
from utils.plotting import plot_training_curves
from utils.wandb_logging import init_wandb
from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings
from vocal_separation_sanity_check.model import (DEFAULT_BASE_CHANNELS, DEFAULT_FULL_RESOLUTION_BINS, DEFAULT_MAX_BIN,
                                                 SpectrogramUNet)
from vocal_separation_sanity_check.separator import Separator, read_training_checkpoint, save_separator
from vocal_separation_sanity_check.tracks import TARGET_NAMES
from vocal_separation_sanity_check.training import (PRESETS, AudioExcerpts, PoolPlan, RemixDataset, SpectrogramCache,
                                                    SpectrogramPool, TrainingData, build_training_data,
                                                    default_workers, drop_short_tracks, ema_with_warmup,
                                                    input_statistics, learning_rate, loader_workers,
                                                    mixture_spectrograms, model_inputs, plan_training_data,
                                                    speed_shifts, validate, worker_error_message)

DEFAULT_CHECKPOINT_DIR = "checkpoints/separator"  # a folder of its own: never mixed with the image tutorial's


def check_args(args: argparse.Namespace) -> None:
    """Refuse a flag out of range with a one-line UserError, before any work."""
    for flag, value, minimum in [("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1),
                                 ("--patch-frames", args.patch_frames, 16), ("--samples-per-epoch", args.samples_per_epoch, 1),
                                 ("--base-channels", args.base_channels, 1), ("--max-bin", args.max_bin, 16),
                                 ("--full-resolution-bins", args.full_resolution_bins, 1),
                                 ("--workers", 0 if args.workers is None else args.workers, 0),
                                 ("--speed-semitones", args.speed_semitones, 0), ("--valid-tracks", args.valid_tracks, 1)]:
        if value < minimum:
            raise UserError(f"{flag} {value}: must be at least {minimum}")
    if not 0 <= args.ema < 1:
        raise UserError(f"--ema {args.ema}: must be in [0, 1), e.g. 0.998; 0 turns it off")
    if not args.valid_seconds >= 1:
        raise UserError(f"--valid-seconds {args.valid_seconds}: must be at least 1 (SDR is scored on 1 s frames)")
    if not args.learning_rate > 0:
        raise UserError(f"--learning-rate {args.learning_rate}: must be positive, e.g. 1e-3")
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise UserError(f"--max-minutes {args.max_minutes}: must be positive, e.g. 10 or 0.5")
    for target in args.targets:
        if target not in TARGET_NAMES:
            raise UserError(f"--targets {target}: unknown target; choose from {', '.join(TARGET_NAMES)}")
    if len(set(args.targets)) != len(args.targets):
        raise UserError(f"--targets {' '.join(args.targets)}: a target is repeated; name each once")


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags; a --preset sets defaults that flags given still override."""
    parser = argparse.ArgumentParser(description="Train the U-Net to separate stems (masks on spectrograms)",
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--root", "-r", required=True, help="Songs in MUSDB18-HQ layout: ROOT/train/<song>/*.wav")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="Defaults for a real dataset, e.g. musdb-gpu: MUSDB18-HQ on one GPU (flags you give still "
                             "win; the audio README explains the choices)")
    parser.add_argument("--targets", "-t", nargs="+", default=["vocals"], help="Stems to separate, e.g. vocals drums bass other")
    parser.add_argument("--epochs", "-e", type=int, default=1000, help="Upper bound; --max-minutes usually ends training")
    parser.add_argument("--max-minutes", "-M", type=float, default=None,
                        help="Stop cleanly after this long, fractions allowed (default: no time limit)")
    parser.add_argument("--batch-size", "-b", type=int, default=8, help="Patches per step (per process under torchrun)")
    parser.add_argument("--learning-rate", "-l", type=float, default=3e-3, help="Adam learning rate at the start (cosine decay to 5%%)")
    parser.add_argument("--patch-frames", "-p", type=int, default=64, help="STFT frames per patch (43 frames = 1 s)")
    parser.add_argument("--samples-per-epoch", "-s", type=int, default=256, help="Patches per epoch (all processes)")
    parser.add_argument("--speed-semitones", type=int, default=2,
                        help="Also train on every song played up to this many semitones faster and slower (0: off)")
    parser.add_argument("--base-channels", type=int, default=DEFAULT_BASE_CHANNELS, help="U-Net width (the image model uses 64)")
    parser.add_argument("--max-bin", type=int, default=DEFAULT_MAX_BIN, help="STFT bins the U-Net sees (512 of 2049 = 5.5 kHz)")
    parser.add_argument("--full-resolution-bins", type=int, default=DEFAULT_FULL_RESOLUTION_BINS,
                        help="Bins below this are rows of their own; above it, up to --max-bin, pairs are averaged "
                             "(fewer rows: faster steps)")
    parser.add_argument("--frequency-channel", action=argparse.BooleanOptionalAction, default=True,
                        help="An input channel telling the U-Net each row's frequency")
    parser.add_argument("--coherence-channel", action=argparse.BooleanOptionalAction, default=True,
                        help="An input channel of stereo phase coherence, |L+R| / (|L|+|R|)")
    parser.add_argument("--frequency-mixing", action=argparse.BooleanOptionalAction, default=True,
                        help="Input channels from a small MLP across all rows of each frame")
    parser.add_argument("--ema", type=float, default=0.998,
                        help="Validate and save a running average of the weights with this decay (0: off)")
    parser.add_argument("--checkpoint-dir", "-c", default=DEFAULT_CHECKPOINT_DIR,
                        help="Where best.pth, last.pth and training_curves.png go")
    parser.add_argument("--overwrite", action="store_true",
                        help="Delete the checkpoints of an earlier run in --checkpoint-dir instead of refusing to start")
    parser.add_argument("--resume", default=None, help="Continue from a last.pth or INTERRUPTED.pth (default: a new run)")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True,
                        help="Mixed precision: fp16 on CUDA, bf16 on CPUs with native bf16 (about 2x faster), "
                             "fp32 on other CPUs; --no-amp for fp32 everywhere")
    parser.add_argument("--device", "-d", default=None, help="cpu, cuda, cuda:N or mps (default: the best available)")
    parser.add_argument("--seed", type=int, default=0, help="Random seed")
    parser.add_argument("--workers", "-w", type=int, default=None,
                        help="Processes that read audio: DataLoader workers for streamed data, background processes "
                             "for a pool (default: 1 on a CPU, up to 8 on a GPU; none for data in RAM)")
    parser.add_argument("--data", choices=["auto", "memory", "pool", "stream"], default="auto",
                        help="Training data: spectrograms in RAM (small sets), a pool of random segments' spectrograms "
                             "renewed every epoch, or audio streamed from disk; auto: RAM when they fit in 2 GB and "
                             "a quarter of the RAM, else a pool on a CPU and streaming on a GPU")
    parser.add_argument("--valid-seconds", type=float, default=10.0,
                        help="Length of each validation excerpt (the held-out end of a song may be shorter)")
    parser.add_argument("--valid-tracks", type=int, default=14,
                        help="Validation excerpts per epoch at most, one per track (MUSDB18 has 14 validation tracks)")
    parser.add_argument("--wandb", action="store_true", help="Log to Weights & Biases (offline without an API key)")
    preset = parser.parse_known_args(argv)[0].preset
    if preset is not None:
        parser.set_defaults(**PRESETS[preset])
    return parser.parse_args(argv)


def build_model(args: argparse.Namespace, resume: dict | None, max_bin: int, data) -> SpectrogramUNet:
    """A new model from the flags, normalized on the training mixtures, or the --resume run's raw weights."""
    if resume is not None:
        if resume["targets"] != args.targets:
            raise UserError(f"--resume {args.resume}: trained for targets {resume['targets']}, "
                            f"not {args.targets}; give matching --targets")
        model = SpectrogramUNet.from_config(resume["model_config"])
        model.load_state_dict(resume.get("training_state_dict", resume["state_dict"]))
        return model
    model = SpectrogramUNet(len(args.targets), max_bin=max_bin, base_channels=args.base_channels,
                            frequency_channel=args.frequency_channel, coherence_channel=args.coherence_channel,
                            full_resolution_bins=args.full_resolution_bins, frequency_mixing=args.frequency_mixing)
    model.set_input_statistics(*input_statistics(model, mixture_spectrograms(data)))
    return model


@dataclass(frozen=True)
class Processes:
    """This process under torchrun (one process per GPU or CPU slot), or the only one (rank 0 of 1) without it."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """The process that validates, logs and saves."""
        return self.rank == 0


@dataclass
class TrainingExamples:
    """The songs to train on, the held-out validation excerpts, and the batches of remixed patches drawn from them."""

    plan: TrainingData  # the training songs and the validation excerpts
    settings: STFTSettings
    max_bin: int  # the STFT bins the U-Net sees
    data: SpectrogramCache | AudioExcerpts | SpectrogramPool  # a pool has background processes to close
    dataset: RemixDataset
    loader: DataLoader


@dataclass
class Clock:
    """The --max-minutes budget, and what the speed line at the end reports."""

    start_time: float
    budget: float  # seconds; inf without --max-minutes
    validation_seconds: float = 0.0  # how long the last validation took: time to keep for the next one
    first_step_seconds: float | None = None
    steps: int = 0
    training_seconds: float = 0.0  # validation excluded
    waiting_seconds: float = 0.0  # the model idle, waiting for batches


@dataclass
class TrainingRun:
    """Everything the training steps share: the model and its averaged copy, optimizer, history, where to save."""

    args: argparse.Namespace
    processes: Processes
    examples: TrainingExamples
    checkpoint_dir: Path
    clock: Clock
    model: SpectrogramUNet  # the raw weights that the optimizer steps
    ddp_model: torch.nn.Module  # the model itself, or wrapped in DistributedDataParallel under torchrun
    averaged: AveragedModel | None  # the running average of the weights (--ema), or None
    separator: Separator  # separates the validation excerpts with the weights that get saved
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    history: dict[str, list[float]]
    start_epoch: int  # 0, or the epoch --resume continues after
    best_sdr: float
    wandb_run: object | None
    finished_epoch: int = 0  # the last epoch validated and saved: what INTERRUPTED.pth holds
    out_of_time: bool = False

    @property
    def inference_model(self) -> SpectrogramUNet:
        """The weights validated and saved: the running average with --ema, else the raw weights."""
        return self.averaged.module if self.averaged is not None else self.model

    def save(self, path: Path, epoch: int) -> None:
        """The averaged weights to separate with, and the raw weights and optimizer state to --resume from."""
        training = {"optimizer": self.optimizer.state_dict(), "grad_scaler": self.scaler.state_dict(),
                    "history": self.history, "epoch": epoch, "best_sdr": self.best_sdr, "args": vars(self.args)}
        if self.averaged is not None:
            training["training_state_dict"] = self.model.state_dict()
        save_separator(path, self.inference_model, self.examples.settings, self.args.targets, training)


def set_up_processes(args: argparse.Namespace) -> Processes:
    """Step 1: the device, and the processes torchrun started (one per GPU or CPU slot); the random seed."""
    rank, world_size, device = setup_distributed(pick_device(args.device))
    processes = Processes(rank, world_size, device)
    if not processes.is_main:
        logging.getLogger().setLevel(logging.WARNING)
    torch.manual_seed(args.seed)
    logging.info(f"Device: {device}, {world_size} process(es), {precision_name(device, args.amp)}"
                 f"{f', preset {args.preset}' if args.preset else ''}")
    return processes


def set_up_examples(args: argparse.Namespace, processes: Processes, resume: dict | None) -> TrainingExamples:
    """Steps 2 and 3: the songs, split into training songs and validation excerpts, and the training batches."""
    # Songs, indexed from their headers: ROOT/train (or ROOT) to train on; validation excerpts from ROOT/valid,
    # MUSDB18's validation tracks, or the last 15% of each training song
    settings = DEFAULT_STFT
    plan = plan_training_data(Path(args.root), args.targets, settings, args.valid_seconds, args.valid_tracks)
    shifts = speed_shifts(args.speed_semitones)
    plan.train = drop_short_tracks(plan.train, args.patch_frames, shifts, plan.usable_fraction, settings)
    logging.info(f"{len(plan.train)} training songs, {len(plan.validation)} validation excerpts from "
                 f"{plan.validation_source}, targets {' '.join(args.targets)}")

    # Training examples: spectrograms in RAM for small sets; for large ones a pool of segments renewed in the
    # background (CPU) or audio streamed from disk by DataLoader workers (GPU)
    device, world_size = processes.device, processes.world_size
    max_bin = min(args.max_bin, settings.n_bins)
    seed = args.seed * 1000 + processes.rank  # every process draws its own examples
    readers = args.workers if args.workers is not None else default_workers(device)
    pool = PoolPlan.for_training(args.samples_per_epoch // world_size, args.patch_frames, settings, readers, seed)
    data = build_training_data(plan, args.targets, settings, max_bin, shifts, args.data, device.type, pool)
    workers = loader_workers(data.kind, args.workers, device)
    stft_in_workers = data.kind == "stream" and device.type == "cpu" and workers > 0
    dataset = RemixDataset(data, args.targets, args.patch_frames, args.samples_per_epoch // world_size,
                           seed=seed, spectrograms_of=(settings, max_bin) if stft_in_workers else None)
    # A pool is filled here, before training starts (after --resume: as it was at that epoch).
    dataset.set_epoch((resume["epoch"] if resume else 0) + 1)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False, num_workers=workers, drop_last=True,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    if len(loader) == 0:
        raise UserError(f"--samples-per-epoch {args.samples_per_epoch}: fewer than one batch per process; "
                        f"use at least {args.batch_size * world_size}")
    return TrainingExamples(plan, settings, max_bin, data, dataset, loader)


def set_up_training(args: argparse.Namespace, processes: Processes, examples: TrainingExamples, resume: dict | None,
                    checkpoint_dir: Path, clock: Clock) -> TrainingRun:
    """Step 4: the model (new, or from --resume), its optimizer, loss scaling and averaged weights (--ema)."""
    device = processes.device
    model = build_model(args, resume, examples.max_bin, examples.data)
    # On the device before the optimizer exists: Adam's restored state must live where the weights live.
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    scaler = grad_scaler(device, args.amp)
    history: dict[str, list[float]] = {"train loss": []}
    start_epoch, best_sdr = 0, float("-inf")
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        scaler.load_state_dict(resume["grad_scaler"])
        history, start_epoch, best_sdr = resume["history"], resume["epoch"], resume["best_sdr"]
        logging.info(f"Resumed from {args.resume} after epoch {start_epoch} (best SDR {best_sdr:.2f} dB)")
    model = model.to(memory_format=memory_format(device, args.amp))
    # A running average of the weights (--ema) is what gets validated and saved: it smooths out the noise
    # of the last steps. The raw weights are saved too, to --resume from.
    averaged = AveragedModel(model, multi_avg_fn=ema_with_warmup(args.ema), use_buffers=True) if args.ema else None
    if averaged is not None and resume is not None and "training_state_dict" in resume:
        # Continue the average where it was, warm-up included, instead of restarting it from the raw weights.
        averaged.module.load_state_dict(resume["state_dict"])
        averaged.n_averaged.fill_(start_epoch * len(examples.loader))
    inference_model = averaged.module if averaged is not None else model
    # Validation separates with the same chunking, masking and ISTFT that separate.py uses.
    separator = Separator(inference_model, examples.settings, args.targets, device, amp=args.amp)
    model.train()
    ddp_model = DistributedDataParallel(model) if processes.world_size > 1 else model
    wandb_run = init_wandb(args.wandb and processes.is_main, "unet-stem-separation", vars(args))
    logging.info(f"Model: U-Net base {model.unet.base_channels} on {examples.max_bin} bins as "
                 f"{model.row_count(examples.max_bin)} rows, "
                 f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
    return TrainingRun(args, processes, examples, checkpoint_dir, clock, model, ddp_model, averaged, separator,
                       optimizer, scaler, history, start_epoch, best_sdr, wandb_run, finished_epoch=start_epoch)


def train_step(run: TrainingRun, batch: torch.Tensor) -> float:
    """One optimizer step on a batch: L1 between masked mixture and target magnitudes; the average follows."""
    args, device, examples = run.args, run.processes.device, run.examples
    mixture, mid_magnitude, target = model_inputs(batch.to(device, non_blocking=True), len(args.targets),
                                                  examples.settings, examples.max_bin)
    if run.clock.first_step_seconds is None:
        run.clock.first_step_seconds = time.time() - run.clock.start_time
        logging.info(f"First training step after {run.clock.first_step_seconds:.1f} s")
    with autocast(device, args.amp):
        masks = run.ddp_model(mixture, mid_magnitude)
    loss = F.l1_loss(masks * mixture[:, None], target)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.averaged is not None:
        run.averaged.update_parameters(run.model)
    return loss.item()


def train_one_epoch(run: TrainingRun, epoch: int) -> float:
    """Step 5: an epoch of random remixed patches (less if --max-minutes runs out); the mean loss of all processes."""
    args, device, clock, loader = run.args, run.processes.device, run.clock, run.examples.loader
    run.model.train()
    losses = []
    epoch_start = waiting_since = time.time()
    run.examples.dataset.set_epoch(epoch)  # a pool may wait here for its new segments: counted as waiting for data
    with tqdm(loader, desc=f"Epoch {epoch}/{args.epochs}", unit="batch", disable=not run.processes.is_main,
              leave=False) as bar:
        for step, batch in enumerate(bar):
            raise_if_interrupted()
            step_start = time.time()
            clock.waiting_seconds += step_start - waiting_since  # the model idle, waiting for this batch
            # Progress is through the epochs, or through --max-minutes if that runs out first.
            progress = max((epoch - 1 + step / len(loader)) / args.epochs,
                           (step_start - clock.start_time) / clock.budget)
            for group in run.optimizer.param_groups:
                group["lr"] = learning_rate(args.learning_rate, progress)
            losses.append(train_step(run, batch))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            # Stop early enough to validate and save within the budget; all processes stop together.
            step_seconds = time.time() - step_start
            over = time.time() - clock.start_time + step_seconds + 1.2 * clock.validation_seconds + 1 > clock.budget
            waiting_since = time.time()
            if all_reduce_mean(float(over), device) > 0:
                run.out_of_time = True
                break
    clock.steps += len(losses)
    clock.training_seconds += time.time() - epoch_start
    return all_reduce_mean(float(np.mean(losses)), device)


def validate_and_save(run: TrainingRun, epoch: int, epoch_loss: float) -> None:
    """Step 6 (the main process only): validation SDR, the epoch's log line, last.pth, best.pth and the curves."""
    validation_start = time.time()
    scores = validate(run.separator, run.examples.plan.validation)
    run.clock.validation_seconds = time.time() - validation_start
    mean_sdr = float(np.mean(list(scores.values())))
    is_best = mean_sdr > run.best_sdr
    run.best_sdr = max(run.best_sdr, mean_sdr)
    run.history["train loss"].append(epoch_loss)
    for name, value in scores.items():
        run.history.setdefault(f"validation SDR {name} (dB)", []).append(value)
    summary = ", ".join(f"{name} {value:.2f} dB" for name, value in scores.items())
    logging.info(f"Epoch {epoch}/{run.args.epochs}: loss {epoch_loss:.4f}, validation SDR {summary}"
                 f"{' (best)' if is_best else ''}{' (time budget reached)' if run.out_of_time else ''}")
    run.save(run.checkpoint_dir / "last.pth", epoch)
    if is_best:
        run.save(run.checkpoint_dir / "best.pth", epoch)
    plot_training_curves(run.history, run.checkpoint_dir / "training_curves.png", title="U-Net stem separation")
    if run.wandb_run:
        run.wandb_run.log({"epoch": epoch, "train loss": epoch_loss, **{f"val SDR {k}": v for k, v in scores.items()}})


def save_interrupted(run: TrainingRun) -> None:
    """Ctrl-C: keep what was learned so far; --resume then continues after the last finished epoch."""
    run.history = {name: values[:run.finished_epoch] for name, values in run.history.items()}  # one per finished epoch
    path = run.checkpoint_dir / "INTERRUPTED.pth"
    run.save(path, run.finished_epoch)
    logging.info(f"Interrupted: saved {path} (continue with --resume {path})")


def train(run: TrainingRun) -> None:
    """Steps 5 and 6, epoch after epoch until --epochs or the --max-minutes budget; INTERRUPTED.pth on Ctrl-C."""
    # Until the first validation is timed, guess it runs at 10x real time.
    validation_samples = sum(mixture.shape[1] for _, mixture, _ in run.examples.plan.validation)
    run.clock.validation_seconds = validation_samples / run.examples.settings.sample_rate / 10
    is_main, world_size, device = run.processes.is_main, run.processes.world_size, run.processes.device
    try:
        for epoch in range(run.start_epoch + 1, run.args.epochs + 1):
            epoch_loss = train_one_epoch(run, epoch)
            if is_main:
                validate_and_save(run, epoch, epoch_loss)
            run.finished_epoch = epoch
            raise_if_interrupted()
            # Only the main process validated: share its time so every process stops at the same step.
            run.clock.validation_seconds = all_reduce_mean(run.clock.validation_seconds if is_main else 0.0,
                                                           device) * world_size
            if run.out_of_time:
                break
    except UserError as error:  # a file that fails to read mid-training, perhaps in a DataLoader worker
        cleanup_distributed()
        raise UserError(worker_error_message(error)) from None
    except KeyboardInterrupt:
        if is_main:
            save_interrupted(run)
        cleanup_distributed()
        raise
    finally:
        if run.examples.data.kind == "pool":
            run.examples.data.close()
        if run.wandb_run:
            run.wandb_run.finish()


def log_summary(run: TrainingRun) -> None:
    """Step 7 (the main process only): the training speed, the time taken and the best validation SDR."""
    clock = run.clock
    minutes = (time.time() - clock.start_time) / 60
    training_seconds = max(clock.training_seconds, 1e-9)
    logging.info(f"{clock.steps} training steps in {clock.training_seconds:.0f} s: "
                 f"{clock.steps / training_seconds:.2f} steps/s, "
                 f"{100 * clock.waiting_seconds / training_seconds:.0f}% of the time waiting for data "
                 "(validation excluded)")
    mean = " (mean over targets)" if len(run.args.targets) > 1 else ""
    logging.info(f"Training done in {minutes:.1f} min; best validation SDR{mean} {run.best_sdr:.2f} dB "
                 f"-> {run.checkpoint_dir / 'best.pth'}")


def main(argv: list[str] | None = None) -> None:
    """Set up (steps 1-4), train, validate and save epoch after epoch (5, 6), then sum up (7)."""
    args = get_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    check_args(args)
    clock = Clock(start_time=time.time(), budget=args.max_minutes * 60 if args.max_minutes else float("inf"))

    # 1. Device and processes (torchrun starts one process per GPU or CPU slot)
    processes = set_up_processes(args)
    # Checked before any work, so a folder holding another run fails at once, on every process.
    resume = read_training_checkpoint(args.resume) if args.resume else None
    checkpoint_dir = prepare_checkpoint_dir_once(args.checkpoint_dir, args.resume, args.overwrite)
    # 2. and 3. Songs and training examples
    examples = set_up_examples(args, processes, resume)
    # 4. Model, optimizer, loss scaling, averaged weights
    run = set_up_training(args, processes, examples, resume, checkpoint_dir, clock)
    # 5. and 6. Train, validate, save
    train(run)
    # 7. Done
    if processes.is_main:
        log_summary(run)
    finish_distributed()


if __name__ == "__main__":
    run_cli(main)
