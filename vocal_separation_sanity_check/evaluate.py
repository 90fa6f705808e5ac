"""Score separated stems against the true ones on a MUSDB-layout split, beside two yardsticks.

Rows per track and target:
  model / estimates  what you are measuring (a train_separator.py checkpoint, or a folder of wavs)
  oracle IRM         the ideal ratio mask from the true stems: the ceiling of masking at these STFT settings
  mixture            the unprocessed mixture as the estimate: the floor

Metrics: whole-song SDR (MDX challenge style, NumPy), the median SDR over 1 s frames (NumPy), and
museval's BSSEval v4 medians (SDR/SIR/SAR/ISR) when museval is installed.

    python3 evaluate.py --root data/demo_songs -m checkpoints/separator/best.pth
    python3 evaluate.py --root data/demo_songs --estimates output/separated --targets vocals accompaniment
    python3 evaluate.py --root data/demo_songs -m checkpoints/separator/best.pth --report output/report

--report DIR also writes DIR/index.html, a page to open in a browser: every song to listen to (an excerpt of the
mixture, the estimates, the true stems and the oracle's) and look at (SDR second by second, spectrograms, the
mask), worst song first, under the summary printed here.
"""
import argparse
import csv
import json
import logging
import math
from pathlib import Path
from typing import Callable

if not __package__: import sys, pathlib; sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])  # noqa: E401,E702  run as a file: import from the repository root
import matplotlib
import numpy as np
from tqdm import tqdm

matplotlib.use("Agg")  # draw without a screen
import matplotlib.pyplot as plt  # noqa: E402

from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings, load_audio
from vocal_separation_sanity_check.masking import oracle_separation
from vocal_separation_sanity_check.metrics import bsseval_v4, framewise_sdr, sdr
from vocal_separation_sanity_check.report import ORACLE, SongReport
from vocal_separation_sanity_check.summary import SUMMARY_KEYS, SUMMARY_TITLE, format_table, summarize
from vocal_separation_sanity_check.tracks import TRACK_EXTENSIONS, Track, find_tracks, load_track
from utils.cli import DefaultsHelpFormatter
from utils.errors import UserError, run_cli
from utils.plotting import save_figure
from utils.report import esc, megabytes

# A source of estimates: (track, mixture (C, S)) -> {target: (C, S)}
Estimator = Callable[[Track, np.ndarray], dict[str, np.ndarray]]


def get_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="SDR of separated stems, beside the oracle mask and the mixture", formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--root", "-r", type=Path, required=True, help="Dataset root in MUSDB18-HQ layout")
    parser.add_argument("--split", "-s", default="test", help="Subfolder of --root to score ('' for ROOT itself)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", "-m", type=Path, help="A train_separator.py checkpoint")
    source.add_argument("--estimates", "-e", type=Path, help="Folder with <track>/<target>.wav (separate.py output)")
    parser.add_argument("--targets", "-t", nargs="+", default=None,
                        help="Targets to score (default: the model's outputs, or vocals accompaniment for --estimates)")
    parser.add_argument("--out", "-o", type=Path, default=Path("output/evaluation"), help="Folder for results.*")
    parser.add_argument("--no-oracle", action="store_true", help="Skip the oracle IRM rows (saves time)")
    parser.add_argument("--report", type=Path, default=None, metavar="DIR",
                        help="Also write DIR/index.html: every song to listen to and look at, worst first, to open "
                             "in a browser")
    parser.add_argument("--device", "-d", default=None, help="cpu, cuda, mps (default: the best available)")
    return parser.parse_args(argv)


def model_estimator(path: Path, device_name: str | None) -> tuple[Estimator, STFTSettings, list[str]]:
    """Load a separator once; it separates each whole track in memory. Imported here so that
    --estimates works without torch or a trained model."""
    from vocal_separation_sanity_check.separator import Separator

    separator = Separator.from_checkpoint(path, device_name)
    logging.info(f"Model {path} on {separator.device}: {', '.join(separator.output_names)}")
    return (lambda track, mixture: separator.separate(mixture)), separator.settings, list(separator.output_names)


def estimate_path(folder: Path, track: Track, target: str) -> Path:
    """FOLDER/<track>/<target>.wav, or .flac when only that exists; a missing estimate is a UserError."""
    candidates = [folder / track.name / f"{target}{extension}" for extension in TRACK_EXTENSIONS]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        raise UserError(f"{candidates[0]}: estimate not found; run separate.py on {track.mixture_path} "
                        f"or leave {target} out of --targets")
    return path


def folder_estimator(folder: Path, tracks: list[Track], targets: list[str], settings: STFTSettings) -> Estimator:
    """Read FOLDER/<track>/<target>.wav at the evaluation rate; every file is checked before any scoring."""
    if not folder.is_dir():
        raise UserError(f"--estimates {folder}: no such folder; run separate.py -o {folder} first")
    for track in tracks:
        for target in targets:
            estimate_path(folder, track, target)

    def read(track: Track, mixture: np.ndarray) -> dict[str, np.ndarray]:
        estimates = {}
        for target in targets:
            path = estimate_path(folder, track, target)
            estimate = load_audio(path, settings.sample_rate)
            if estimate.shape != mixture.shape:
                raise UserError(f"{path}: {estimate.shape[0]} ch x {estimate.shape[1]} samples but the mixture "
                                f"{track.mixture_path} has {mixture.shape[0]} x {mixture.shape[1]}; "
                                "separate the same mixture again (estimates are never trimmed to fit)")
            estimates[target] = estimate
        return estimates

    return read


def oracle_estimates(
    mixture: np.ndarray, references: dict[str, np.ndarray], settings: STFTSettings
) -> dict[str, np.ndarray]:
    """One ideal ratio mask per target against everything else in the mixture, as each target is scored alone."""
    return {
        target: oracle_separation(mixture, {target: reference, "rest": mixture - reference}, settings)[target]
        for target, reference in references.items()
    }


def score(track: str, method: str, references: dict[str, np.ndarray], estimates: dict[str, np.ndarray],
          rate: int) -> list[dict]:
    """One result row per target: whole-song SDR, framewise median SDR, and museval's medians when available."""
    bss = bsseval_v4(references, estimates, rate)
    rows = []
    for target, reference in references.items():
        row = {
            "track": track, "target": target, "method": method,
            "SDR": sdr(reference, estimates[target]),
            "SDR_median": framewise_sdr(reference, estimates[target], rate),
        }
        if bss is not None:
            row.update({f"museval_{metric}": value for metric, value in bss[target].items()})
        rows.append(row)
    return rows


def json_safe(value):
    """NaN is not valid JSON: write null instead."""
    return None if isinstance(value, float) and math.isnan(value) else value


def write_results(out: Path, rows: list[dict], summary: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results = {**meta, "tracks": [{key: json_safe(value) for key, value in row.items()} for row in rows],
               "summary": [{key: json_safe(value) for key, value in entry.items()} for entry in summary]}
    (out / "results.json").write_text(json.dumps(results, indent=2))
    with open(out / "results.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# The two SDR summaries evaluate.py prints, as panels of results.png, labelled as in the printed table.
PLOTTED_METRICS = (("SDR_median", "median over 1 s frames, then over tracks (dB)"),
                   ("SDR_mean", "whole-song SDR, mean over tracks (dB)"))


def plot_results(summary: list[dict], path: Path, title: str) -> None:
    """Grouped bars, one panel per metric: one group per target, one bar per method."""
    targets = list(dict.fromkeys(entry["target"] for entry in summary))
    methods = list(dict.fromkeys(entry["method"] for entry in summary))
    width = 0.8 / len(methods)
    fig, axes = plt.subplots(1, len(PLOTTED_METRICS), figsize=(2 * (2 + 2.2 * len(targets)), 4.4), squeeze=False)
    for ax, (key, label) in zip(axes[0], PLOTTED_METRICS):
        for index, method in enumerate(methods):
            heights = [next(e[key] for e in summary if e["method"] == method and e["target"] == t) for t in targets]
            positions = np.arange(len(targets)) + (index - (len(methods) - 1) / 2) * width
            bars = ax.bar(positions, heights, width, label=method)
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(targets)), targets)
        ax.set_title(f"SDR: {label}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=len(methods))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # room for the legend below the panels, clear of the bars
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> list[dict]:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    args = get_args(argv)

    # 1. Find the tracks
    tracks = find_tracks(args.root, args.split or None)
    logging.info(f"{len(tracks)} track(s) in {args.root / args.split}")

    # 2. Where the estimates come from, at which STFT settings and for which targets
    if args.model is not None:
        estimate, settings, outputs = model_estimator(args.model, args.device)
        targets = args.targets or outputs
        unknown = [target for target in targets if target not in outputs]
        if unknown:
            raise UserError(f"--targets {' '.join(unknown)}: the model gives only {', '.join(outputs)}; "
                            "choose among those")
        method = "model"
    else:
        settings, targets, method = DEFAULT_STFT, args.targets or ["vocals", "accompaniment"], "estimates"
        estimate = folder_estimator(args.estimates, tracks, targets, settings)
    report = None
    if args.report is not None:  # a folder it cannot write is refused before any song is scored
        report = SongReport(args.report, method, targets, oracle=not args.no_oracle,
                            subtitle=f"{esc(args.model or args.estimates)} on {esc(args.root / args.split)}")

    # 3. Score every track: the estimates, the oracle mask and the mixture itself
    rows = []
    for track in tqdm(tracks, desc="Evaluating", unit="track"):
        mixture, references = load_track(track, targets, settings)
        estimates = {method: estimate(track, mixture)}
        track_rows = score(track.name, method, references, estimates[method], settings.sample_rate)
        if not args.no_oracle:
            estimates[ORACLE] = oracle_estimates(mixture, references, settings)
            track_rows += score(track.name, ORACLE, references, estimates[ORACLE], settings.sample_rate)
        mixture_as_estimate = {target: mixture for target in targets}
        track_rows += score(track.name, "mixture", references, mixture_as_estimate, settings.sample_rate)
        tqdm.write(format_table(track_rows, ("SDR", "SDR_median"), f"\n{track.name} (dB)"))
        rows += track_rows
        if report is not None:  # its clips and pictures now: no song's audio is kept
            report.add_song(track.name, mixture, references, estimates, track_rows, settings.sample_rate)

    # 4. Summary on screen, results on disk
    summary = summarize(rows)
    print(format_table(summary, SUMMARY_KEYS, "\n" + SUMMARY_TITLE.format(tracks=len(tracks))))
    if any("museval_SDR" in entry for entry in summary):
        print(format_table(summary, ("museval_SDR",), "\nmuseval BSSEval v4 SDR, median over frames then tracks (dB)"))
    meta = {"root": str(args.root), "split": args.split, "source": str(args.model or args.estimates),
            "stft": settings.to_dict(), "targets": targets}
    write_results(args.out, rows, summary, meta)
    plot_results(summary, args.out / "results.png", f"{len(tracks)} track(s) of {args.root.name}/{args.split}")
    logging.info(f"Wrote results.json, results.csv and results.png to {args.out}")
    if report is not None:
        page = report.finish(summary, args.out / "results.png")
        logging.info(f"Report saved to {page} ({len(tracks)} songs, {megabytes(report.size_bytes())}): "
                     "open it in a browser")
    return summary


if __name__ == "__main__":
    run_cli(main)
