"""Running the repository's scripts from a benchmark, and reading their figures back: what the image benchmarks
share (benchmark_image.py, benchmark_photos.py). A benchmark is a script; this is the library they import."""
import re
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def run(command: list[str]) -> tuple[float, str]:
    """Run a repository script; (seconds, stdout + stderr). Stops the benchmark if it fails."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *command], cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"FAILED ({result.returncode}): {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return seconds, result.stdout + result.stderr


def epoch_lines(output: str) -> list[str]:
    """train.py's 'Epoch k/N: Loss = ...' lines (the progress bars share the output, split by carriage returns)."""
    return [line.strip() for line in re.split(r"[\r\n]", output) if re.match(r"\s*Epoch \d+/\d+: Loss", line)]
