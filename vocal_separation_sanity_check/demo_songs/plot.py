"""A picture of a song: the spectrograms of its mixture and stems, to see what the model will learn from."""
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # draw without a screen
import matplotlib.pyplot as plt  # noqa: E402

from vocal_separation_sanity_check.audio import DEFAULT_STFT, STFTSettings  # noqa: E402
from vocal_separation_sanity_check.transforms import stft  # noqa: E402
from utils.plotting import save_figure  # noqa: E402


def plot_song(song: dict[str, np.ndarray], path: Path, title: str, seconds: float = 12.0,
              settings: STFTSettings = DEFAULT_STFT) -> None:
    """Spectrograms (dB, up to 8 kHz) of the mixture and its four stems over the song's first seconds."""
    frequencies = np.fft.rfftfreq(settings.n_fft, 1.0 / settings.sample_rate)
    shown = frequencies <= 8000
    reference = np.abs(stft(song["mixture"].mean(axis=0, keepdims=True), settings)).max()
    figure, axes = plt.subplots(len(song), 1, figsize=(12, 2.2 * len(song)), sharex=True)
    for ax, (name, audio) in zip(axes, song.items()):
        clip = audio.mean(axis=0, keepdims=True)[:, :int(seconds * settings.sample_rate)]
        decibels = 20 * np.log10(np.abs(stft(clip, settings))[0][shown] / reference + 1e-6)
        ax.imshow(decibels, origin="lower", aspect="auto", vmin=-80, vmax=0, cmap="magma",
                  extent=(0, clip.shape[1] / settings.sample_rate, 0, frequencies[shown][-1]))
        ax.set_ylabel(f"{name}\nHz")
    axes[0].set_title(title)
    axes[-1].set_xlabel("seconds")
    figure.tight_layout()
    save_figure(figure, path, dpi=80)
