"""Measure the separator's quality target (printed, never asserted):

  train_separator.py --max-minutes 10 on 6 demo songs of 30 s, then vocals SDR on the 2 held-out songs
  against the ideal-ratio-mask oracle at the same STFT settings (4096/1024, mixture phase).
  The target: the model within 3 dB of the oracle (museval median when museval is installed,
  else the NumPy median of 1 s frames).

    python3 benchmarks/benchmark_separation_quality.py              # 10 minutes of training
    python3 benchmarks/benchmark_separation_quality.py --minutes 1  # a quick look
    python3 benchmarks/benchmark_separation_quality.py --train-songs 40 --test-songs 4 --work W -- --data pool

Arguments after `--` go to train_separator.py (e.g. --data pool or --seed 1).
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

AUDIO_DIR = Path(__file__).resolve().parent.parent / "vocal_separation_sanity_check"


def run_script(script: str, *args: str) -> None:
    """Run one of the folder's scripts as a user would; its log goes to this terminal."""
    subprocess.run([sys.executable, str(AUDIO_DIR / script), *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="Training budget (train_separator.py --max-minutes)")
    parser.add_argument("--work", type=Path, default=None, help="Folder for songs, model and results (default: temporary)")
    parser.add_argument("--train-songs", type=int, default=6, help="Demo songs to train on (a --work folder keeps its set)")
    parser.add_argument("--test-songs", type=int, default=2, help="Demo songs to evaluate on")
    parser.add_argument("extra", nargs="*", help="After --: more train_separator.py flags")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        songs, checkpoints, results = work / "demo_songs", work / "checkpoints", work / "evaluation"
        if not (songs / "test").is_dir():
            run_script("make_demo_songs.py", "--out", str(songs), "--train", str(args.train_songs),
                       "--test", str(args.test_songs), "--seconds", "30")
        run_script("train_separator.py", "--root", str(songs), "--max-minutes", str(args.minutes),
                   "--checkpoint-dir", str(checkpoints), "--overwrite", *args.extra)  # a reused --work: the last run
        run_script("evaluate.py", "--root", str(songs), "-m", str(checkpoints / "best.pth"), "--out", str(results))
        summary = json.loads((results / "results.json").read_text())["summary"]

    vocals = {entry["method"]: entry for entry in summary if entry["target"] == "vocals"}
    key = "museval_SDR" if vocals["model"].get("museval_SDR") is not None else "SDR_median"
    label = "museval median" if key == "museval_SDR" else "NumPy median of 1 s frames"
    model, oracle = vocals["model"][key], vocals["oracle IRM"][key]
    print(f"\nvocals SDR ({label}) after {args.minutes:g} min of training: model {model:.2f} dB, "
          f"oracle {oracle:.2f} dB, mixture {vocals['mixture'][key]:.2f} dB")
    print(f"gap to the oracle: {oracle - model:.2f} dB (target <= 3 dB): {'met' if oracle - model <= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
