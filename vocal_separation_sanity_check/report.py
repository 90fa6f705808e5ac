"""evaluate.py --report for songs: a page to listen and look, worst song first, under the summary evaluate.py prints.

For each song:
  - players for an excerpt (EXCERPT_SECONDS around the loudest vocal passage) of the mixture, each estimated stem,
    the true stem and the oracle's; pressing play on another player of the song goes on at the same moment, so
    the sources can be switched while listening;
  - the SDR of every second of the whole song, the model's beside the oracle's: where it fails;
  - the excerpt's mel spectrograms side by side (mixture, true, estimate, oracle) with the mask the estimate
    implies (|estimate| / |mixture| in each bin: for a masking model without Wiener, its own mask);
  - the song's SDRs beside the oracle's (the ceiling of masking) and the mixture's (the floor).
On top: the summary evaluate.py prints (summary.summarize), its chart (results.png) and the songs ranked.

Size, whatever the songs' length: the sound is MP3 at a constant bit rate, the highest that keeps one song's clips
within SONG_AUDIO_BUDGET (64 kbit/s for vocals + accompaniment with the oracle: 7 clips of 25 s, 1.40 MB; 32 kbit/s
for 4 stems), plus one JPEG of a fixed size (about 85 kB) and 2.5 kB of HTML: under 1.7 MB a song, 85 MB for
MUSDB18's 50 test songs (measured: 74.7 MB for 50 three-minute songs, vocals + accompaniment).
"""
import logging
import math
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librosa
import matplotlib
import numpy as np
import soundfile as sf

matplotlib.use("Agg")  # draw without a screen
import matplotlib.pyplot as plt  # noqa: E402

from utils.errors import UserError, raise_if_interrupted  # noqa: E402
from utils.plotting import save_figure  # noqa: E402
from utils.report import ReportFolder, bar, esc, html_table, number, page, picture  # noqa: E402
from vocal_separation_sanity_check.audio import STFTSettings, resample  # noqa: E402
from vocal_separation_sanity_check.transforms import stft  # noqa: E402
from vocal_separation_sanity_check.metrics import sdr  # noqa: E402
from vocal_separation_sanity_check.outputs import MP3_RATES  # noqa: E402
from vocal_separation_sanity_check.summary import COLUMN_LABELS, SUMMARY_KEYS, SUMMARY_TITLE  # noqa: E402

EXCERPT_SECONDS = 25.0
PASSAGE_SECONDS = 5.0  # the excerpt is centred on the loudest 5 s of the vocal
FADE_SECONDS = 0.02  # fade the excerpt in and out: no click where it cuts the song
SONG_AUDIO_BUDGET = 1_500_000  # bytes of MP3 per song, whatever the number of targets
# (kbit/s, libsndfile's compression level that gives it): LAME at a constant bit rate
MP3_BIT_RATES = ((96, 0.8), (80, 0.85), (64, 0.88), (56, 0.91), (48, 0.95), (40, 0.97), (32, 0.99))
SPECTROGRAM_FFT, SPECTROGRAM_HOP, N_MELS, F_MIN, F_MAX = 2048, 512, 128, 40.0, 16000.0
DYNAMIC_RANGE_DB = 80.0  # darkest colour: this far below the song's loudest bin
FIGURE_DPI = 80
SDR_AXIS = (-30.0, 40.0)  # the widest range the SDR-per-second panel shows, dB
EAGER_SONGS = 3  # the first songs' pictures load with the page, the others as they are scrolled near
ORACLE = "oracle IRM"
LINE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")

# Press play on a player: the song's other player that was playing pauses and this one goes on from its moment.
SWITCH_SCRIPT = """
for (const song of document.querySelectorAll('.song')) {
  const players = song.querySelectorAll('audio');
  for (const player of players) {
    player.addEventListener('play', () => {
      for (const other of players) {
        if (other !== player && !other.paused) {
          player.currentTime = other.currentTime;
          other.pause();
        }
      }
    });
  }
}
"""


def check_mp3_support() -> None:
    if "MP3" not in sf.available_formats():
        raise UserError(f"--report: this system's libsndfile ({sf.__libsndfile_version__}) cannot write mp3, which "
                        "the page plays; `pip install --upgrade soundfile` installs one that can (1.1 or newer)")


def mp3_bit_rate(clips: int, seconds: float = EXCERPT_SECONDS) -> tuple[int, float]:
    """(kbit/s, compression level): the highest bit rate at which `clips` clips of `seconds` fit the budget."""
    for kbps, level in MP3_BIT_RATES:
        if clips * seconds * kbps * 1000 / 8 <= SONG_AUDIO_BUDGET:
            return kbps, level
    return MP3_BIT_RATES[-1]


def loudest_passage(audio: np.ndarray, rate: int, seconds: float = EXCERPT_SECONDS) -> tuple[int, int]:
    """[start, stop) in samples of an excerpt `seconds` long centred on the loudest PASSAGE_SECONDS of `audio`
    (channels, samples), kept inside the song; the whole song when it is shorter."""
    length, size = audio.shape[-1], int(round(seconds * rate))
    if length <= size:
        return 0, length
    hop = max(1, rate // 10)
    energy = np.square(audio, dtype=np.float64).sum(axis=0)
    blocks = energy[: length // hop * hop].reshape(-1, hop).sum(axis=1)
    span = max(1, min(len(blocks), int(round(PASSAGE_SECONDS * rate / hop))))
    first = int(np.argmax(np.convolve(blocks, np.ones(span), mode="valid")))
    start = int(np.clip((first + span / 2) * hop - size / 2, 0, length - size))
    return start, start + size


def frame_sdrs(reference: np.ndarray, estimate: np.ndarray, rate: int, frame_seconds: float = 1.0) -> np.ndarray:
    """The SDR of every frame that metrics.framewise_sdr takes the median of; NaN where the reference is silent."""
    frame = int(round(frame_seconds * rate))
    scores = []
    for start in range(0, reference.shape[-1] - frame + 1, frame):
        reference_frame = reference[..., start: start + frame]
        silent = np.sum(reference_frame.astype(np.float64) ** 2) == 0
        scores.append(math.nan if silent else sdr(reference_frame, estimate[..., start: start + frame]))
    return np.array(scores)


def mel_magnitudes(audio: np.ndarray, rate: int) -> np.ndarray:
    """(N_MELS, frames) mel-band magnitudes of the channels' mean."""
    settings = STFTSettings(rate, SPECTROGRAM_FFT, SPECTROGRAM_HOP)
    magnitude = np.abs(stft(audio.mean(axis=0, keepdims=True), settings)[0])
    bank = librosa.filters.mel(sr=rate, n_fft=SPECTROGRAM_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=min(F_MAX, rate / 2))
    return bank @ magnitude


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def song_figure(rate: int, length: int, excerpt: tuple[int, int], timelines: dict[str, dict[str, np.ndarray]],
                panels: dict[str, list[tuple[str, np.ndarray, bool]]]) -> plt.Figure:
    """Top: the SDR of each second of the song per target and method, the excerpt shaded. Below, one row per
    target: the excerpt's mel spectrograms (dB) and the estimate's mask (0 black .. 1 white)."""
    columns = max(len(row) for row in panels.values())
    fig = plt.figure(figsize=(2.5 * columns, 2.0 + 1.75 * len(panels)))
    grid = fig.add_gridspec(1 + len(panels), columns, height_ratios=[1.25] + [1.0] * len(panels))
    ax = fig.add_subplot(grid[0, :])
    for (target, lines), colour in zip(timelines.items(), LINE_COLOURS):
        for method, scores in lines.items():
            oracle = method == ORACLE
            ax.plot(np.arange(len(scores)) + 0.5, scores, color=colour, linewidth=0.9 if oracle else 1.5,
                    linestyle=":" if oracle else "-", label=f"{method} {target}")
    ax.axvspan(excerpt[0] / rate, excerpt[1] / rate, color="#f2c94c", alpha=0.25, label="excerpt below")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlim(0, length / rate)
    every = np.concatenate([scores for lines in timelines.values() for scores in lines.values()])
    if np.isfinite(every).any():  # a near-silent second can score +-100 dB: keep the axis on the music
        ax.set_ylim(max(SDR_AXIS[0], np.nanmin(every) - 2), min(SDR_AXIS[1], np.nanmax(every) + 2))
    ax.set_ylabel("SDR of each\nsecond (dB)", fontsize=8)
    ax.set_xlabel("seconds into the song")
    entries = 1 + sum(len(lines) for lines in timelines.values())
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=min(entries, 5), borderaxespad=0,
              frameon=False)
    ax.grid(alpha=0.3)

    loudest = max(np.max(magnitude) for row in panels.values() for _, magnitude, is_mask in row if not is_mask)
    top = 20 * np.log10(loudest + 1e-12)
    centres = librosa.mel_frequencies(N_MELS + 2, fmin=F_MIN, fmax=min(F_MAX, rate / 2))[1:-1]
    ticks = [hz for hz in (200, 1000, 4000, 12000) if centres[0] <= hz <= centres[-1]]
    extent = (excerpt[0] / rate, excerpt[1] / rate, 0, N_MELS)
    for row, (target, row_panels) in enumerate(panels.items(), 1):
        for column, (label, values, is_mask) in enumerate(row_panels):
            ax = fig.add_subplot(grid[row, column])
            if is_mask:
                ax.imshow(values, origin="lower", aspect="auto", cmap="gray", vmin=0, vmax=1, extent=extent,
                          interpolation="antialiased")
            else:
                ax.imshow(20 * np.log10(values + 1e-12), origin="lower", aspect="auto", cmap="magma",
                          vmin=top - DYNAMIC_RANGE_DB, vmax=top, extent=extent, interpolation="antialiased")
            ax.set_title(label, fontsize=9)
            ax.set_yticks(np.interp(ticks, centres, np.arange(N_MELS)) if column == 0 else [])
            if column == 0:
                ax.set_yticklabels([f"{hz // 1000}k" if hz >= 1000 else str(hz) for hz in ticks], fontsize=7)
                ax.set_ylabel("Hz", fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout(h_pad=0.6, w_pad=0.4)
    return fig


class SongReport:
    """The page of an evaluation: add_song() for each song as it is scored (its clips and picture are written
    then, so no song's audio is kept), finish() once the summary is known."""

    def __init__(self, folder: str | Path, method: str, targets: list[str], oracle: bool, subtitle: str):
        check_mp3_support()
        self.report = ReportFolder(folder)
        self.method, self.targets, self.oracle, self.subtitle = method, list(targets), oracle, subtitle
        self.kbps, self.level = mp3_bit_rate(1 + len(self.targets) * (3 if oracle else 2))
        self.songs: list[dict] = []

    def write_clip(self, name: str, audio: np.ndarray, rate: int) -> str:
        """An MP3 of (channels, samples) audio at this report's bit rate; returns its address on the page."""
        if rate not in MP3_RATES:
            audio, rate = resample(audio, rate, 44100), 44100
        fade = min(audio.shape[-1] // 2, int(FADE_SECONDS * rate))
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        audio = np.clip(audio, -1.0, 1.0).astype(np.float32)  # a copy: the song's arrays are left as they are
        if fade:
            audio[:, :fade] *= ramp
            audio[:, -fade:] *= ramp[::-1]
        path, address = self.report.file(name)
        sf.write(path, audio.T, rate, format="MP3", subtype="MPEG_LAYER_III", compression_level=self.level,
                 bitrate_mode="CONSTANT")
        return address

    def add_song(self, name: str, mixture: np.ndarray, references: dict[str, np.ndarray],
                 estimates: dict[str, dict[str, np.ndarray]], rows: list[dict], rate: int) -> None:
        """One scored song: `estimates` {method: {target: (C, S)}}, the evaluated method first (then the oracle);
        `rows` its result rows (evaluate.score), every method's."""
        raise_if_interrupted()
        index = len(self.songs)
        excerpt = loudest_passage(references.get("vocals", next(iter(references.values()))), rate)
        cut = slice(*excerpt)
        folder = f"songs/{index:03d}"
        sounds = {("mixture", ""): (f"{folder}/mixture.mp3", mixture[:, cut])}
        for target, reference in references.items():
            sounds[("true", target)] = (f"{folder}/{target}_true.mp3", reference[:, cut])
            for method, by_target in estimates.items():
                kind = "oracle" if method == ORACLE else "estimate"
                sounds[(method, target)] = (f"{folder}/{target}_{kind}.mp3", by_target[target][:, cut])
        with ThreadPoolExecutor(min(len(sounds), os.cpu_count() or 1)) as pool:  # LAME is most of the time
            clips = dict(zip(sounds, pool.map(lambda sound: self.write_clip(*sound, rate), sounds.values())))

        timelines = {target: {method: frame_sdrs(reference, by_target[target], rate)
                              for method, by_target in estimates.items()} for target, reference in references.items()}
        mixture_mel = mel_magnitudes(mixture[:, cut], rate)
        panels = {}
        for target, reference in references.items():
            row = [("mixture", mixture_mel, False), (f"true {target}", mel_magnitudes(reference[:, cut], rate), False)]
            estimate_mel = None
            for method, by_target in estimates.items():
                magnitude = mel_magnitudes(by_target[target][:, cut], rate)
                row.append((f"{method} {target}", magnitude, False))
                estimate_mel = magnitude if estimate_mel is None else estimate_mel
            row.append((f"{target} mask of the {self.method}",
                        np.clip(estimate_mel / np.maximum(mixture_mel, 1e-9), 0.0, 1.0), True))
            panels[target] = row
        path, figure_address = self.report.file(f"{folder}/spectrograms.jpg")
        save_figure(song_figure(rate, mixture.shape[-1], excerpt, timelines, panels), path, dpi=FIGURE_DPI)
        self.songs.append({"name": name, "number": index, "rows": rows, "clips": clips, "figure": figure_address,
                           "excerpt": (excerpt[0] / rate, excerpt[1] / rate), "seconds": mixture.shape[-1] / rate,
                           "methods": list(estimates)})

    def value(self, song: dict, method: str, target: str, key: str = "SDR") -> float:
        return next((row[key] for row in song["rows"] if row["method"] == method and row["target"] == target),
                    math.nan)

    def song_card(self, song: dict, rank: int) -> str:
        """One song's section: its players, its SDRs beside the oracle's and the mixture's, its picture."""
        first, keys = self.targets[0], ("SDR", "SDR_median")
        methods = list(dict.fromkeys(row["method"] for row in song["rows"]))
        scores = html_table(["dB"] + [f"{esc(target)} {esc(COLUMN_LABELS[key])}" for target in self.targets
                                      for key in keys],
                            [[esc(method)] + [number(self.value(song, method, target, key), 2)
                                              for target in self.targets for key in keys] for method in methods],
                            "scores")

        def player(source: str, target: str) -> str:
            return (f'<audio controls preload="metadata" src="{esc(song["clips"][(source, target)])}" '
                    f'title="{esc(f"{source} {target}".strip())}"></audio>')

        rows = [["mixture", player("mixture", "")] + [""] * len(song["methods"])]
        rows += [[esc(target)] + [player(source, target) for source in ["true"] + song["methods"]]
                 for target in self.targets]
        players = html_table(["", "true"] + [esc(method) for method in song["methods"]], rows, "players")
        start, stop = song["excerpt"]
        oracle = self.value(song, ORACLE, first)
        versus = (f"oracle {number(oracle, 2)}, " if not math.isnan(oracle) else "") + \
            f"mixture {number(self.value(song, 'mixture', first), 2)}"
        figure = picture(song["figure"], "SDR of each second of the whole song; the excerpt's mel spectrograms "
                         f"and the mask of the {esc(self.method)}", f"{song['name']}: spectrograms",
                         lazy=rank > EAGER_SONGS)
        return (f'<section class="song" id="song-{song["number"]}"><h2>{esc(song["name"])}<span class="score">'
                f"{esc(first)} SDR {number(self.value(song, self.method, first), 2)} dB</span> <small>({versus}) · "
                f"worst {rank} of {len(self.songs)} · excerpt {clock(start)}-{clock(stop)} of "
                f"{clock(song['seconds'])}, {self.kbps} kbit/s</small></h2>"
                f'<div class="overview">{players}{scores}</div>{figure}</section>')

    def summary_section(self, summary: list[dict], chart: str | None) -> str:
        tracks = summary[0]["tracks"] if summary else 0
        tables = [(SUMMARY_TITLE.format(tracks=tracks), SUMMARY_KEYS)]
        if any("museval_SDR" in entry for entry in summary):
            tables.append(("museval BSSEval v4 SDR, median over frames then tracks (dB)", ("museval_SDR",)))
        tables_html = ""
        for title, keys in tables:
            columns = [(target, key) for target in self.targets for key in keys]
            methods = list(dict.fromkeys(entry["method"] for entry in summary))
            values = {(entry["method"], entry["target"], key): entry.get(key) for entry in summary for key in keys}
            header = [""] + [f"{esc(target)} {esc(COLUMN_LABELS[key])}" for target, key in columns]
            rows = [[esc(method)] + [number(values.get((method, target, key)), 2) for target, key in columns]
                    for method in methods]
            tables_html += f"<h2>{esc(title)}</h2>{html_table(header, rows, 'summary')}"
        image = f'<img src="{esc(chart)}" alt="the summary as bar charts">' if chart else ""
        return (f'<section><div class="overview"><div style="flex: 0 1 640px">{tables_html}<p class="note">'
                f"As evaluate.py prints it. <b>{esc(self.method)}</b>: what is measured; "
                + (f"<b>{ORACLE}</b>: the ideal mask from the true stems, the ceiling of masking; " if self.oracle
                   else "")
                + "<b>mixture</b>: the song itself as the estimate, the floor. SDR in dB, "
                "higher is better: mean SDR is the whole song's (loud passages weigh most), 1s-median the median "
                "over 1 s frames (the MUSDB papers' figure).</p></div>"
                f"{image}</div></section>")

    def ranking_section(self, ranked: list[dict]) -> str:
        """The songs as a table, worst first: the first target's SDR as a bar, the oracle's and the mixture's as
        ticks on it, each name a link to the song's section."""
        first = self.targets[0]
        sources = (self.method, ORACLE, "mixture") if self.oracle else (self.method, "mixture")
        values = [self.value(song, source, first) for song in ranked for source in sources]
        finite = [value for value in values if math.isfinite(value)]
        low, high = min(finite + [0.0]), max(finite + [1.0])
        median = float(np.median([self.value(song, self.method, first) for song in ranked]))
        ticks = {ORACLE: "#111", "mixture": "#9aa1ab"}
        rows = []
        for song in ranked:
            scores = {source: self.value(song, source, first) for source in sources}
            marks = [(scores[source], ticks[source], f"{source} {scores[source]:.2f} dB") for source in sources[1:]]
            rows.append([f'<a href="#song-{song["number"]}">{esc(song["name"])}</a>']
                        + [number(scores[source], 2) for source in sources]
                        + [bar(scores[self.method], low, high, marks, poor=scores[self.method] < median)]
                        + [number(self.value(song, self.method, target), 2) for target in self.targets[1:]])
        legend = ", ".join([f"{esc(self.method)} (bar)"] + [f"{esc(source)} ({'black' if source == ORACLE else 'grey'})"
                                                              for source in sources[1:]])
        header = (["worst first", f"{esc(self.method)} {esc(first)} SDR"] + [esc(source) for source in sources[1:]]
                  + [legend] + [f"{esc(self.method)} {esc(target)} SDR" for target in self.targets[1:]])
        return (f"<section><h2>Songs, worst first <small>by the whole-song {esc(first)} SDR of the {esc(self.method)} "
                "(dB); red: below the median song</small></h2>"
                f'<div class="overview">{html_table(header, rows, "ranking")}</div>'
                '<p class="note">Each song below: listen (pressing play on another player of the song goes on at '
                "the same moment, to switch between the mixture, the truth and the estimates), then look: "
                "the SDR of each second shows the passages where it fails, the spectrograms what leaks (energy in "
                "the estimate that the true stem lacks), the mask what the model keeps (white) and removes "
                "(black).</p></section>")

    def finish(self, summary: list[dict], chart: Path | None = None) -> Path:
        """Write the page, the summary on top (`summary`: summary.summarize of every row; `chart`: results.png)."""
        chart_address = None
        if chart is not None and chart.is_file():
            path, chart_address = self.report.file("summary.png")
            shutil.copyfile(chart, path)
        ranked = sorted(self.songs, key=lambda song: (self.value(song, self.method, self.targets[0]), song["name"]))
        headline = next((entry for entry in summary if entry["method"] == self.method
                         and entry["target"] == self.targets[0]), None)
        title = f"Separation report: {len(self.songs)} songs"
        if headline is not None:
            title += (f", {self.targets[0]} {number(headline['SDR_mean'], 2)} dB mean SDR, "
                      f"{number(headline['SDR_median'], 2)} dB 1s-median")
        body = (self.summary_section(summary, chart_address) + self.ranking_section(ranked)
                + "\n".join(self.song_card(song, rank) for rank, song in enumerate(ranked, 1)))
        page_path = self.report.finish(page(title, self.subtitle, body, SWITCH_SCRIPT))
        logging.debug(f"Report: {len(self.songs)} songs at {self.kbps} kbit/s")
        return page_path

    def size_bytes(self) -> int:
        return self.report.size_bytes()
