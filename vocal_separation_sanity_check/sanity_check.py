"""Prove that masking works before training anything.

Given a mixture and its isolated vocal, build the ideal ratio mask (IRM) from the true sources,
apply it to the mixture's STFT and listen/measure: this is the best any mask-predicting model
(the U-Net included) can do at these STFT settings. If the oracle sounds bad, training will not help;
if the files are misaligned, the oracle (and training) silently fails, so alignment is checked first.

    python3 sanity_check.py --mixture song-full.wav --vocals song-stem.wav
    python3 sanity_check.py --track data/demo_songs/test/demo_000 --frames 100
"""
import argparse
import logging
from pathlib import Path

if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root
import matplotlib
import numpy as np
import scipy.signal

matplotlib.use("Agg")  # draw without a screen
import matplotlib.pyplot as plt  # noqa: E402

from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings, write_audio
from vocal_separation_sanity_check.transforms import stft
from vocal_separation_sanity_check.masking import ideal_ratio_masks, oracle_separation
from vocal_separation_sanity_check.metrics import sdr
from vocal_separation_sanity_check.tracks import load_matching, read_track_folder
from utils.cli import DefaultsHelpFormatter
from utils.errors import UserError, run_cli
from utils.plotting import save_figure

SILENCE_RATIO = 1e-6  # a vocal 60 dB below the mixture counts as silent
PLOT_MAX_HZ = 8000  # voices and most instruments live below 8 kHz; the full band would squash them


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Oracle ideal-ratio-mask separation of a mixture and its vocal", formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--mixture", "-m", type=Path, help="The full mix (wav, flac, ...)")
    parser.add_argument("--vocals", "-v", type=Path, help="The isolated vocal of the same song")
    parser.add_argument("--track", "-t", type=Path, help="A MUSDB-layout track folder (mixture.wav + vocals.wav)")
    parser.add_argument("--out", "-o", type=Path, default=Path("output/sanity_check"), help="Output folder")
    parser.add_argument("--frames", "-f", type=int, default=None, help="Quick mode: only the first N STFT frames")
    parser.add_argument("--align", "-a", action="store_true", help="Shift the vocal by the detected offset")
    parser.add_argument("--max-offset", type=float, default=1.0, help="Largest offset searched, in seconds")
    parser.add_argument("--n-fft", type=int, default=DEFAULT_STFT.n_fft, help="STFT window length in samples")
    parser.add_argument("--hop-length", type=int, default=DEFAULT_STFT.hop_length, help="STFT hop in samples")
    args = parser.parse_args(argv)
    if args.track is None and (args.mixture is None or args.vocals is None):
        parser.error("give --mixture M.wav and --vocals V.wav, or --track DIR")
    if args.track is not None and (args.mixture is not None or args.vocals is not None):
        parser.error("give either --track or --mixture/--vocals, not both")
    if args.frames is not None and args.frames < 2:
        raise UserError(f"--frames {args.frames}: need at least 2 STFT frames; try --frames 100")
    if args.n_fft < 16 or args.hop_length < 1 or args.hop_length > args.n_fft:
        raise UserError(
            f"--n-fft {args.n_fft} --hop-length {args.hop_length}: need n_fft >= 16 and 1 <= hop <= n_fft"
        )
    return args


def find_offset(mixture: np.ndarray, vocals: np.ndarray, max_lag: int) -> int:
    """Lag (samples) that best lines the vocal up with the mixture: vocals[n + lag] ~ vocal part of mixture[n].

    Cross-correlation of the mono signals, computed with FFTs; the accompaniment in the mixture is
    uncorrelated with the vocal, so the peak sits at the vocal's offset.
    """
    correlation = scipy.signal.correlate(vocals.mean(axis=0), mixture.mean(axis=0), mode="full", method="fft")
    lags = scipy.signal.correlation_lags(vocals.shape[-1], mixture.shape[-1], mode="full")
    in_range = np.abs(lags) <= max_lag
    return int(lags[in_range][np.argmax(correlation[in_range])])


def shift(audio: np.ndarray, lag: int, length: int) -> np.ndarray:
    """audio[:, n + lag] for n in [0, length), zeros where that falls outside the file."""
    shifted = np.zeros((audio.shape[0], length), dtype=audio.dtype)
    start = max(lag, 0)
    piece = audio[:, start : start + length - max(-lag, 0)]
    shifted[:, max(-lag, 0) : max(-lag, 0) + piece.shape[1]] = piece
    return shifted


def align(mixture: np.ndarray, vocals: np.ndarray, args: argparse.Namespace, paths: tuple[Path, Path],
          rate: int) -> np.ndarray:
    """Report the offset; with --align shift the vocal onto the mixture, otherwise require equal lengths."""
    offset = find_offset(mixture, vocals, max_lag=int(args.max_offset * rate))
    milliseconds = 1000 * offset / rate
    length_difference = vocals.shape[-1] - mixture.shape[-1]
    if offset == 0:
        print("Alignment: offset 0 samples (0.0 ms)")
    elif args.align:
        print(f"Alignment: offset {offset} samples ({milliseconds:.1f} ms), corrected (--align)")
    else:
        logging.warning(
            f"Alignment: the vocal is offset by {offset} samples ({milliseconds:.1f} ms) against the mixture; "
            "run again with --align to correct it"
        )
    if not args.align or offset == 0:
        if length_difference != 0:
            raise UserError(
                f"{paths[0]} has {mixture.shape[-1]} samples but {paths[1]} has {vocals.shape[-1]} "
                f"(at {rate} Hz); export both with the same length"
                + (" or run with --align" if offset else "")
            )
        return vocals
    if abs(length_difference) > abs(offset):
        raise UserError(
            f"{paths[0]} has {mixture.shape[-1]} samples but {paths[1]} has {vocals.shape[-1]} (at {rate} Hz), "
            f"more than the {offset}-sample offset explains; export both with the same length"
        )
    # Say what the shift costs: vocal samples that now fall outside the mixture, and silence added
    kept = min(vocals.shape[-1] - max(offset, 0), mixture.shape[-1] - max(-offset, 0))
    logging.info(f"--align: vocal shifted by {offset} samples; {vocals.shape[-1] - kept} vocal samples dropped, "
                 f"{mixture.shape[-1] - kept} samples of silence added")
    return shift(vocals, offset, mixture.shape[-1])


def plot_spectrograms(mixture: np.ndarray, vocals: np.ndarray, mask: np.ndarray, estimate: np.ndarray,
                      settings: STFTSettings, path: Path) -> None:
    """Four log-magnitude spectrograms (channel mean), time in s and frequency in Hz:
    mixture, true vocal, oracle mask, estimate. imshow copes with full-length songs quickly."""
    def decibels(audio: np.ndarray) -> np.ndarray:
        return 20 * np.log10(np.abs(stft(audio, settings)).mean(axis=0) + 1e-5)

    panels = [
        ("Mixture (dB)", decibels(mixture), "magma", None),
        ("True vocal (dB)", decibels(vocals), "magma", None),
        ("Ideal ratio mask for the vocal (0..1)", mask.mean(axis=0), "gray_r", (0, 1)),
        ("Oracle estimate = mask x mixture (dB)", decibels(estimate), "magma", None),
    ]
    peak = panels[0][1].max()
    seconds = mixture.shape[-1] / settings.sample_rate
    extent = (0, seconds, 0, settings.sample_rate / 2)
    fig, axes = plt.subplots(4, 1, figsize=(10, 12), sharex=True)
    for ax, (title, image, colormap, limits) in zip(axes, panels):
        vmin, vmax = limits if limits else (peak - 80, peak)  # 80 dB of dynamic range
        shown = ax.imshow(image, origin="lower", aspect="auto", extent=extent, cmap=colormap, vmin=vmin, vmax=vmax,
                          interpolation="nearest")
        fig.colorbar(shown, ax=ax)
        ax.set_ylim(0, min(PLOT_MAX_HZ, settings.sample_rate / 2))
        ax.set_title(title)
        ax.set_ylabel("Hz")
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args(argv)
    settings = STFTSettings(DEFAULT_STFT.sample_rate, args.n_fft, args.hop_length, DEFAULT_STFT.window)
    rate = settings.sample_rate

    # 1. Load the mixture and its vocal
    if args.track is not None:
        track = read_track_folder(args.track)
        if "vocals" not in track.stem_paths:
            raise UserError(f"--track {args.track}: no vocals.wav (or .flac) in this folder; add the isolated vocal")
        mixture_path, vocals_path = track.mixture_path, track.stem_paths["vocals"]
    else:
        mixture_path, vocals_path = args.mixture, args.vocals
    # Lengths may differ by an offset that --align corrects, so they are checked in step 2
    mixture, vocals = load_matching([mixture_path, vocals_path], settings, same_length=False)
    if not np.any(vocals):
        raise UserError(f"{vocals_path}: the vocal is silent; give the isolated vocal of this mixture")
    print(f"Mixture: {mixture_path} ({mixture.shape[0]} ch, {mixture.shape[-1] / rate:.2f} s)")
    print(f"Vocals:  {vocals_path}")
    print(
        f"STFT: {rate} Hz, n_fft {settings.n_fft} ({1000 * settings.n_fft / rate:.1f} ms), "
        f"hop {settings.hop_length} ({1000 * settings.hop_length / rate:.1f} ms), {settings.window} window, "
        f"{settings.n_bins} bins"
    )

    # 2. Check (and on request correct) the alignment: a few ms of offset already ruins the mask
    vocals = align(mixture, vocals, args, (mixture_path, vocals_path), rate)

    # 3. Quick mode: keep the first N STFT frames (centred frames: N frames span (N - 1) * hop samples)
    if args.frames is not None:
        samples = (args.frames - 1) * settings.hop_length
        if samples < mixture.shape[-1]:
            logging.info(
                f"Quick mode: first {args.frames} STFT frames "
                f"({samples / rate:.2f} s of {mixture.shape[-1] / rate:.2f} s)"
            )
            mixture, vocals = mixture[:, :samples], vocals[:, :samples]
            # An intro without singing leaves nothing to score: the SDR of silence means nothing
            if np.sum(vocals.astype(np.float64) ** 2) < SILENCE_RATIO * np.sum(mixture.astype(np.float64) ** 2):
                raise UserError(
                    f"--frames {args.frames}: the vocal is silent in the first {samples / rate:.2f} s; "
                    f"give more frames (e.g. --frames {4 * args.frames}) or leave --frames out"
                )
        else:
            logging.info(f"Quick mode: the song is shorter than {args.frames} frames, using all of it")

    # 4. The oracle: ideal ratio mask of vocals vs accompaniment, applied with the mixture's phase
    references = {"vocals": vocals, "accompaniment": mixture - vocals}
    estimates = oracle_separation(mixture, references, settings)

    # 5. Score: the mixture itself as the estimate is the floor, the oracle mask the ceiling
    scores = {
        name: {"mixture": sdr(reference, mixture), "oracle": sdr(reference, estimates[name])}
        for name, reference in references.items()
    }
    print(f"\n{'SDR (dB)':<16}{'mixture as estimate':>22}{'oracle IRM':>14}")
    for name, score in scores.items():
        print(f"{name:<16}{score['mixture']:>22.2f}{score['oracle']:>14.2f}")
    print()

    # 6. Write the oracle audio and the figure
    args.out.mkdir(parents=True, exist_ok=True)
    for name, estimate in estimates.items():
        write_audio(args.out / f"{name}_oracle.wav", estimate, rate)
    magnitudes = {name: np.abs(stft(audio, settings)) for name, audio in references.items()}
    vocal_mask = ideal_ratio_masks(magnitudes)["vocals"]
    plot_spectrograms(mixture, vocals, vocal_mask, estimates["vocals"], settings, args.out / "sanity_check.png")
    logging.info(f"Wrote vocals_oracle.wav, accompaniment_oracle.wav and sanity_check.png to {args.out}")
    return scores


if __name__ == "__main__":
    run_cli(main)
