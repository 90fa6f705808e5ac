"""The summary over songs that evaluate.py prints, writes to results.json and shows on its --report page: one
function aggregates, so the three always agree.

Per method and target: the mean over songs of the whole-song SDRs (the Music Demixing challenge's figure), the
median over songs of each song's median over 1 s frames (the MUSDB papers' figure), and that same median for
each museval metric when museval is installed.
"""
import numpy as np

COLUMN_LABELS = {"SDR": "SDR", "SDR_median": "1s-median", "SDR_mean": "mean SDR", "museval_SDR": "museval SDR"}
SUMMARY_KEYS = ("SDR_mean", "SDR_median")  # the printed summary's columns, per target
SUMMARY_TITLE = "Summary over {tracks} track(s): mean of whole-song SDRs, median of 1 s-frame medians (dB)"


def summarize(rows: list[dict]) -> list[dict]:
    """Per method and target (in the rows' order): the number of tracks, SDR_mean (mean over tracks of the
    whole-song 'SDR'), SDR_median (median over tracks of the framewise 'SDR_median', NaN ignored: a song whose
    target is silent throughout has none), and the median over tracks of each museval_* value."""
    summary = []
    for method in dict.fromkeys(row["method"] for row in rows):
        for target in dict.fromkeys(row["target"] for row in rows):
            group = [row for row in rows if row["method"] == method and row["target"] == target]
            entry = {"method": method, "target": target, "tracks": len(group),
                     "SDR_mean": float(np.mean([row["SDR"] for row in group])),
                     "SDR_median": float(np.nanmedian([row["SDR_median"] for row in group]))}
            for key in [key for key in group[0] if key.startswith("museval_")]:
                entry[key] = float(np.nanmedian([row[key] for row in group]))
            summary.append(entry)
    return summary


def format_table(rows: list[dict], value_keys: tuple[str, ...], title: str) -> str:
    """Methods as rows, '<target> <metric>' as columns."""
    targets = list(dict.fromkeys(row["target"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    columns = [(target, key) for target in targets for key in value_keys]
    lines = [title, f"{'':<12}" + "".join(f"{target + ' ' + COLUMN_LABELS[key]:>26}" for target, key in columns)]
    for method in methods:
        values = {(row["target"], key): row[key] for row in rows if row["method"] == method for key in value_keys}
        lines.append(f"{method:<12}" + "".join(f"{values[column]:>26.2f}" for column in columns))
    return "\n".join(lines)
