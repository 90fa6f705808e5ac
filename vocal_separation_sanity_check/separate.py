"""Separate songs with a model trained by train_separator.py.

    python3 separate.py -m checkpoints/best.pth -i song.wav more_songs/ -o separated

writes separated/<song>/vocals.wav (one file per target; <song> is the track folder for MUSDB's mixture.wav) and accompaniment.wav (the mixture minus the
targets, so the stems always sum back to the mixture), full band, exactly as long as the input.

Songs of any length run in bounded memory: the input is read in chunks (30 s by default) with a few
seconds of context on both sides, each chunk goes STFT -> model masks -> optional Wiener -> inverse STFT,
neighbouring chunks are cross-faded, and each piece is written straight to the open output files.
Chunk borders sit on the U-Net's 16-frame grid, so chunked output matches whole-file output.
"""
import _paths  # noqa: F401  (makes `unet` and `utils` importable)

import argparse
import logging
import math
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from audio import STFTSettings, find_audio_files, istft, load_audio, stft
from filtering import wiener
from model import UNET_MULTIPLE, SpectrogramUNet
from tracks import STEM_NAMES
from utils.checkpoint import load_checkpoint
from utils.device import autocast, memory_format, pick_device, precision_name
from utils.errors import UserError, run_cli

RESIDUAL_NAME = "accompaniment"
CONTEXT_SECONDS = 3.0  # model input beyond each side of a chunk: about the U-Net's receptive field

# A block reader returns samples [start, stop) of the song as float32 (channels, samples).
BlockReader = Callable[[int, int], np.ndarray]


class Separator:
    """A trained model plus everything needed to use it: STFT settings, targets, chunking, Wiener."""

    def __init__(self, model: SpectrogramUNet, settings: STFTSettings, targets: list[str], device: torch.device,
                 amp: bool = True, chunk_seconds: float = 30.0, wiener_iterations: int = 0):
        self.model = model.to(device).eval()
        self.settings = settings
        self.targets = list(targets)
        self.device = device
        self.amp = amp
        self.wiener_iterations = wiener_iterations
        # channels_last with fp16 on CUDA and bf16 on CPUs that have it, as in training; the plain layout in fp32
        self.model = self.model.to(memory_format=memory_format(device, amp))
        # Chunk borders on the 16-frame grid, so every chunk max-pools exactly like the whole song does.
        self.grid = UNET_MULTIPLE * settings.hop_length
        self.chunk = max(1, round(chunk_seconds * settings.sample_rate / self.grid)) * self.grid
        self.crossfade = self.grid
        self.context = math.ceil(CONTEXT_SECONDS * settings.sample_rate / self.grid) * self.grid

    @property
    def has_residual(self) -> bool:
        """A model for some of the stems also gives the rest (the accompaniment) as mixture minus targets."""
        return RESIDUAL_NAME not in self.targets and set(self.targets) != set(STEM_NAMES)

    @property
    def output_names(self) -> list[str]:
        return self.targets + ([RESIDUAL_NAME] if self.has_residual else [])

    @torch.inference_mode()
    def masks(self, spectrogram: np.ndarray) -> np.ndarray:
        """complex (channels, bins, frames) -> float32 masks (targets, channels, bins, frames)."""
        magnitude = torch.from_numpy(np.abs(spectrogram))[None].to(self.device)
        mid_magnitude = torch.from_numpy(SpectrogramUNet.mid_magnitude(spectrogram))[None].to(self.device)
        with autocast(self.device, self.amp):
            masks = self.model(magnitude, mid_magnitude)[0]
        return masks.float().cpu().numpy()

    def separate_chunk(self, mixture: np.ndarray) -> dict[str, np.ndarray]:
        """One chunk (channels, samples) -> {name: (channels, samples)}; mono is run as two equal channels."""
        channels, length = mixture.shape
        stereo = np.repeat(mixture, 2, axis=0) if channels == 1 else mixture
        spectrogram = stft(stereo, self.settings)
        masks = self.masks(spectrogram)
        estimates = masks * spectrogram[None]
        if self.wiener_iterations > 0:
            estimates = wiener(spectrogram, estimates, self.wiener_iterations, residual=self.has_residual)
        sources = {name: istft(estimates[j], self.settings, length=length) for j, name in enumerate(self.targets)}
        if channels == 1:
            sources = {name: audio.mean(axis=0, keepdims=True) for name, audio in sources.items()}
        if self.has_residual:
            # In the time domain, so the written stems sum to the mixture exactly.
            sources[RESIDUAL_NAME] = mixture - sum(sources.values())
        return sources

    def chunk_count(self, length: int) -> int:
        return max(1, math.ceil(length / self.chunk))

    def separate_blocks(self, read: BlockReader, length: int) -> Iterator[dict[str, np.ndarray]]:
        """Yield consecutive output pieces {name: (channels, n)}; together they are exactly `length` long."""
        fade_in = ((np.arange(self.crossfade) + 0.5) / self.crossfade).astype(np.float32)
        pending: dict[str, np.ndarray] = {}  # the previous chunk's last `crossfade` samples
        n_chunks = self.chunk_count(length)
        for k in range(n_chunks):
            # This chunk's output covers [out_start, out_stop); it starts `crossfade` early to overlap the last one.
            out_start = max(0, k * self.chunk - self.crossfade)
            out_stop = min(length, (k + 1) * self.chunk)
            in_start = max(0, out_start - self.context)
            in_stop = min(length, out_stop + self.context)
            sources = self.separate_chunk(read(in_start, in_stop))
            piece = {name: audio[:, out_start - in_start: out_stop - in_start] for name, audio in sources.items()}
            if k > 0:
                for name, audio in piece.items():
                    audio[:, : self.crossfade] = pending[name] * (1 - fade_in) + audio[:, : self.crossfade] * fade_in
            if k < n_chunks - 1:
                pending = {name: audio[:, -self.crossfade:].copy() for name, audio in piece.items()}
                piece = {name: audio[:, : -self.crossfade] for name, audio in piece.items()}
            yield piece

    def separate(self, mixture: np.ndarray) -> dict[str, np.ndarray]:
        """A whole song in memory (channels, samples) -> {name: (channels, samples)} (used by evaluate.py)."""
        mixture = np.asarray(mixture, dtype=np.float32)
        pieces: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        for piece in self.separate_blocks(lambda start, stop: mixture[:, start:stop], mixture.shape[1]):
            for name, audio in piece.items():
                pieces[name].append(audio)
        return {name: np.concatenate(parts, axis=1) for name, parts in pieces.items()}


def load_separator(path: str | Path, device: torch.device, amp: bool = True, chunk_seconds: float = 30.0,
                   wiener_iterations: int = 0) -> Separator:
    """Rebuild the model from a train_separator.py checkpoint (best.pth or last.pth)."""
    checkpoint = load_checkpoint(path, "--model")
    if "mask_values" in checkpoint or "inc.double_conv.0.weight" in checkpoint:
        raise UserError(f"--model {path} is an image segmentation checkpoint (train.py); "
                        "give a model trained by train_separator.py")
    missing = [key for key in ("state_dict", "model_config", "stft", "targets") if key not in checkpoint]
    if missing:
        raise UserError(f"--model {path}: not a separator checkpoint (no {', '.join(missing)}); "
                        "give a model trained by train_separator.py")
    model = SpectrogramUNet.from_config(checkpoint["model_config"])
    model.load_state_dict(checkpoint["state_dict"])
    settings = STFTSettings.from_dict(checkpoint["stft"])
    stft(np.zeros((1, settings.n_fft), dtype=np.float32), settings)  # librosa imports its FFT code on first use
    return Separator(model, settings, checkpoint["targets"], device,
                     amp=amp, chunk_seconds=chunk_seconds, wiener_iterations=wiener_iterations)


def open_reader(path: Path, sample_rate: int) -> tuple[BlockReader, int, int]:
    """A block reader for `path`, its length in samples and its channel count.

    Files soundfile can seek at the model's rate are streamed; anything else (another sample rate, mp3 on
    an old libsndfile) is decoded, resampled with a warning, and held in memory whole.
    """
    try:
        info = sf.info(path)
        streamable = info.samplerate == sample_rate and info.frames > 0
    except Exception:
        streamable = False
    if not streamable:
        audio = load_audio(path, sample_rate)  # logs the resampling, raises UserError on bad files
        logging.info(f"{path.name}: decoded whole into memory (not streamed)")
        return lambda start, stop: audio[:, start:stop], audio.shape[1], audio.shape[0]

    def read(start: int, stop: int) -> np.ndarray:
        with sf.SoundFile(path) as file:
            file.seek(start)
            block = file.read(stop - start, dtype="float32", always_2d=True).T
        if not np.all(np.isfinite(block)):
            raise UserError(f"{path}: contains NaN or Inf samples; re-export the file from your audio editor")
        return np.ascontiguousarray(block)

    return read, info.frames, info.channels


def open_writers(folder: Path, names: list[str], audio_format: str, sample_rate: int, channels: int):
    """One open soundfile per output stem: float wav keeps peaks above 1.0, flac is 24-bit (clipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if audio_format == "wav" else "PCM_24"
    return {name: sf.SoundFile(folder / f"{name}.{audio_format}", "w", samplerate=sample_rate, channels=channels,
                               subtype=subtype) for name in names}


def drop_track_stems(files: list[Path]) -> list[Path]:
    """In a MUSDB track folder only mixture.* is a song; its stem files (vocals.wav, ...) are the answers."""
    def is_track_stem(path: Path) -> bool:
        return path.stem in STEM_NAMES and any(path.parent.glob("mixture.*"))
    return [path for path in files if not is_track_stem(path)]


def output_names(files: list[Path]) -> list[str]:
    """OUT/<name>/ per input: the file name, or the track folder for MUSDB's <track>/mixture.wav.

    Two inputs with one name would overwrite each other's stems: that is a UserError, before any work.
    """
    names = [path.parent.name if path.stem == "mixture" else path.stem for path in files]
    for name in set(names):
        clashing = [str(path) for path, other in zip(files, names) if other == name]
        if len(clashing) > 1:
            raise UserError(f"--input {' and '.join(clashing[:2])} would both be written to OUT/{name}/; "
                            "rename one or separate them in two runs")
    return names


def separate_file(separator: Separator, path: Path, out_dir: Path, audio_format: str) -> None:
    rate = separator.settings.sample_rate
    read, length, channels = open_reader(path, rate)
    if channels > 2:
        raise UserError(f"{path}: has {channels} channels; the model takes mono or stereo, downmix it first")
    if length < separator.settings.n_fft:
        raise UserError(f"{path}: only {length} samples, at least {separator.settings.n_fft} needed; give a longer file")
    start_time = time.time()
    writers = open_writers(out_dir, separator.output_names, audio_format, rate, channels)
    try:
        blocks = separator.separate_blocks(read, length)
        for piece in tqdm(blocks, total=separator.chunk_count(length), desc=path.name, unit="chunk"):
            for name, audio in piece.items():
                writers[name].write((np.clip(audio, -1, 1) if audio_format == "flac" else audio).T)
    finally:
        for writer in writers.values():
            writer.close()
    seconds, elapsed = length / rate, time.time() - start_time
    logging.info(f"{path}: {seconds:.1f} s of audio in {elapsed:.1f} s ({seconds / elapsed:.1f}x real time) "
                 f"-> {out_dir}/{{{','.join(separator.output_names)}}}.{audio_format}")


def get_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Separate songs into stems with a trained U-Net")
    parser.add_argument("--model", "-m", required=True, help="Checkpoint from train_separator.py")
    parser.add_argument("--input", "-i", nargs="+", required=True, help="Audio files and/or folders of them")
    parser.add_argument("--output", "-o", default="separated", help="Output folder: OUT/<song>/<stem>.wav")
    parser.add_argument("--wiener", "-w", type=int, default=0, help="Multichannel Wiener EM iterations (0 = masks only)")
    parser.add_argument("--format", "-f", choices=["wav", "flac"], default="wav", help="Output file format")
    parser.add_argument("--device", "-d", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--chunk-seconds", "-c", type=float, default=30.0, help="Audio processed at once")
    parser.add_argument("--no-amp", action="store_true", help="Full float32 inference (slower, same result within bf16 error)")
    return parser.parse_args()


def main() -> None:
    args = get_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.wiener < 0:
        raise UserError(f"--wiener {args.wiener}: must be 0 (off) or a number of iterations such as 1")
    if not args.chunk_seconds > 0:
        raise UserError(f"--chunk-seconds {args.chunk_seconds}: must be positive, e.g. 30")
    # 1. Find the inputs first, so a typo fails before the model loads
    files = drop_track_stems(find_audio_files(args.input))
    names = output_names(files)
    # 2. Load the model once for all files
    device = pick_device(args.device)
    logging.info(f"Device: {device}, {precision_name(device, not args.no_amp)}")
    separator = load_separator(args.model, device, amp=not args.no_amp, chunk_seconds=args.chunk_seconds,
                               wiener_iterations=args.wiener)
    logging.info(f"Model: {', '.join(separator.targets)} ({Path(args.model).name}); writing {', '.join(separator.output_names)}")
    # 3. Separate each file chunk by chunk, straight into the output files
    for path, name in zip(files, names):
        separate_file(separator, path, Path(args.output) / name, args.format)


if __name__ == "__main__":
    run_cli(main)
