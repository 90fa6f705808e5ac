"""Pictures of results, drawn headless (Agg) so they work on servers without a screen."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_training_curves(history: dict[str, list[float]], path: str | Path, title: str = "Training") -> None:
    """One panel per curve (e.g. 'train loss', 'validation Dice'), x axis = epoch."""
    names = [name for name, values in history.items() if values]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = history[name]
        ax.plot(range(1, len(values) + 1), values, marker="o")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
