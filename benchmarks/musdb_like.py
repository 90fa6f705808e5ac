"""What the benchmarks share: MUSDB18-HQ-layout song sets made from demo songs, and child processes measured
as they run (peak memory of the whole process tree, every output line with the time it came).

    build_song_set(root, songs=40, seconds=(60, 120))   ROOT/train/<song>/{mixture,vocals,drums,bass,other}.wav
    run_measured([sys.executable, script, ...])         a finished process: lines, wall time, peak RSS
    training_figures(log)                               the figures train_separator.py logs about its speed
"""
import multiprocessing
import os
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from vocal_separation_sanity_check.audio import DEFAULT_STFT
from vocal_separation_sanity_check.demo_songs import demo_song, planned_tracks
from vocal_separation_sanity_check.tracks import STEM_NAMES

# A demo song is made in memory whole: roughly 0.3 GB plus 10 MB per second (make_demo_songs.py), and a
# process that made one keeps some of it: budget 1.5x that per parallel process.
SONG_BYTES_BASE, SONG_BYTES_PER_SECOND = int(0.45 * 2**30), 15 * 2**20
GAIN = 0.5  # stems scaled so that the mixture never clips in 16 bits
SPEED_LINE = re.compile(r"(\d+) training steps in (\d+) s: ([\d.]+) steps/s, (\d+)% of the time waiting for data")
FIRST_STEP_LINE = re.compile(r"First training step after ([\d.]+) s")
DEVICE_LINE = re.compile(r"Device: (\S+), (\d+) process\(es\), ([^,\n]+)")
SAMPLE_SECONDS = 0.2  # how often run_measured reads the memory of the process tree


def song_lengths(songs: int, seconds: tuple[float, float], seed: int) -> list[int]:
    """Each song's length in whole seconds, drawn evenly from [shortest, longest] (the same for the same seed)."""
    rng = np.random.default_rng(seed)
    return [int(round(value)) for value in rng.uniform(seconds[0], seconds[1], size=songs)]


def write_song(folder: Path, seed: int, index: int, seconds: int) -> float:
    """Make training song `index` of the demo set `seed` and write its five 16-bit files; its length in seconds."""
    song = demo_song(seed, "train", index, seconds)
    folder.mkdir(parents=True, exist_ok=True)
    stems = {name: GAIN * song[name] for name in STEM_NAMES}
    stems["mixture"] = sum(stems.values())
    for name, audio in stems.items():
        sf.write(folder / f"{name}.wav", audio.T, DEFAULT_STFT.sample_rate, subtype="PCM_16")
    return song["mixture"].shape[1] / DEFAULT_STFT.sample_rate


def parallel_songs(songs: int, longest: float, cores: int | None = None) -> int:
    """How many songs to make at once: one per core, fewer where the RAM would not hold them."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    per_song = SONG_BYTES_BASE + SONG_BYTES_PER_SECOND * longest
    return max(1, min(songs, cores or os.cpu_count() or 1, int(0.7 * ram // per_song)))


def build_song_set(root: Path, songs: int, seconds: tuple[float, float], seed: int = 0,
                   workers: int | None = None) -> list[Path]:
    """ROOT/train/<song>/{mixture,vocals,drums,bass,other}.wav as in MUSDB18-HQ (16-bit stereo at 44.1 kHz), the
    demo songs made in parallel processes, one per core; reused when ROOT already holds this very set."""
    names = [name for _, _, name in planned_tracks(seed, songs, 0)]
    lengths = song_lengths(songs, seconds, seed)
    folders = [root / "train" / name for name in names]
    done, recipe = root / "train" / ".complete", f"{songs} songs, {lengths} s, seed {seed}"
    if done.is_file() and done.read_text() == recipe:
        print(f"INFO: Reusing {root} ({songs} songs, {sum(lengths) / 60:.1f} min of audio)", flush=True)
        return folders
    done.unlink(missing_ok=True)
    if (root / "train").is_dir():  # another set's songs: they would be trained on too
        for stale in sorted(set((root / "train").iterdir()) - set(folders)):
            shutil.rmtree(stale)
    workers = workers or parallel_songs(songs, max(lengths))
    start = time.perf_counter()
    print(f"INFO: Making {songs} demo songs of {min(lengths)}-{max(lengths)} s in {root}, {workers} at a time",
          flush=True)
    # Spawned, not forked: a fork of a process that already runs torch's thread pool can hang.
    with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn")) as executor:
        jobs = [executor.submit(write_song, folder, seed, index, length)
                for index, (folder, length) in enumerate(zip(folders, lengths))]
        for job in jobs:
            job.result()
    done.write_text(recipe)
    print(f"INFO: Made {songs} songs ({sum(lengths) / 60:.1f} min of audio) in {time.perf_counter() - start:.0f} s",
          flush=True)
    return folders


def write_long_song(path: Path, source: Path, minutes: float) -> None:
    """`source` (a WAV file) repeated to `minutes`, in its own format, written block by block (small RAM)."""
    info = sf.info(source)
    total = round(minutes * 60 * info.samplerate)
    with sf.SoundFile(path, "w", info.samplerate, info.channels, info.subtype) as out:
        written = 0
        while written < total:
            for block in sf.blocks(source, blocksize=2**18, frames=min(info.frames, total - written)):
                out.write(block)
                written += len(block)


def tree_rss(pid: int) -> int:
    """Resident memory in bytes of a process and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, AttributeError, ProcessLookupError):
            continue
        stack += [int(child) for child in children]
    return total


@dataclass
class Finished:
    """A child process that ran to its end: each output line with the seconds since the start when it came."""

    returncode: int
    wall: float  # seconds
    peak_rss: int  # bytes, the process and its children together, sampled
    lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def first(self, pattern: re.Pattern | str) -> tuple[float, re.Match] | None:
        """The time and match of the first line that matches `pattern`, or None."""
        for seconds, line in self.lines:
            match = re.search(pattern, line)
            if match:
                return seconds, match
        return None

    def every(self, pattern: re.Pattern | str) -> list[tuple[float, re.Match]]:
        """The time and match of every line that matches `pattern`."""
        return [(seconds, match) for seconds, line in self.lines if (match := re.search(pattern, line))]


def run_measured(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Finished:
    """Run `command` to its end, stdout and stderr read together line by line (a progress bar's \\r counts as a
    line end), its peak memory sampled every 0.2 s from another thread."""
    env = {**(env or os.environ), "PYTHONUNBUFFERED": "1"}  # each line as it is written, for its time
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_rss(process.pid))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = [(time.perf_counter() - start, line.rstrip("\n")) for line in process.stdout]
    process.wait()
    sampler.join()
    return Finished(process.returncode, time.perf_counter() - start, peak[0], lines)


def training_figures(log: str) -> dict:
    """What train_separator.py logs about its speed: steps, training seconds (validation excluded), steps/s,
    share of that time waiting for data (%), seconds to the first step, and where its training data lives."""
    speed = SPEED_LINE.search(log)
    first = FIRST_STEP_LINE.search(log)
    data = re.search(r"Training data: (.*)", log)
    if speed is None or first is None:
        raise ValueError("no speed line in the log of train_separator.py (did it train at all?)")
    return {"steps": int(speed[1]), "seconds": int(speed[2]), "steps_per_second": float(speed[3]),
            "waiting": int(speed[4]), "first_step": float(first[1]), "data": data[1] if data else ""}
