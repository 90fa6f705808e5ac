"""Pictures of results, drawn headless (Agg) so they work on servers without a screen."""
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .errors import ctrl_c_deferred  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 100) -> None:
    """Save a figure (format from the file's suffix) and close it. Written under a temporary name then renamed,
    so a picture is never half-written; Ctrl-C waits for the drawing to end (see ctrl_c_deferred)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with ctrl_c_deferred():
            fig.savefig(partial, dpi=dpi, format=path.suffix.lstrip(".") or None)
            os.replace(partial, path)
    finally:
        plt.close(fig)
        partial.unlink(missing_ok=True)


def training_curves_figure(history: dict[str, list[float]], title: str = "Training") -> plt.Figure | None:
    """One panel per curve (e.g. 'train loss', 'validation Dice'), x axis = epoch, y axis = the curve's name.

    A curve that is never negative (a loss, a Dice score) is drawn from 0, so its panel shows how far it fell or
    rose, not a zoom into its last digits; one that can be negative (an SDR in dB) keeps matplotlib's range.
    None when there is nothing to draw yet.
    """
    names = [name for name, values in history.items() if values]
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = history[name]
        ax.plot(range(1, len(values) + 1), values, marker="o")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if min(values) >= 0:
            ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_training_curves(history: dict[str, list[float]], path: str | Path, title: str = "Training") -> None:
    """training_curves_figure saved as a PNG (nothing is written before the first epoch)."""
    with ctrl_c_deferred():  # building the figure draws text too
        fig = training_curves_figure(history, title)
        if fig is not None:
            save_figure(fig, path)
