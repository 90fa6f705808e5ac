"""The report page of `evaluate.py --report DIR` (images and songs alike): DIR/index.html and its pictures and
sounds in DIR/index_files/, a folder that opens from disk in any browser, with no server and no internet.

Nothing is half-written under its final name: the files go to index_files.partial/ while the evaluation runs;
finish() swaps that folder in and renames index.html.partial to index.html. A crash or Ctrl-C before then leaves
an earlier report as it was (and a stale index_files.partial/ that the next run replaces).

The page is plain HTML with its style and its few lines of script inline: no fonts, libraries or pictures from
the internet. utils/image_report.py and vocal_separation_sanity_check/report.py fill it.
"""
import html
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import UserError, ctrl_c_deferred

PAGE_NAME = "index.html"
FILES_NAME = "index_files"  # the pictures and sounds, named as browsers name a saved page's folder
PARTIAL = ".partial"
GENERATOR = "evaluate.py --report"  # in the page's <meta name="generator">

STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0;
       background: #f3f4f6; color: #1c2430; }
header { background: #1c2430; color: #fff; padding: 16px 28px 14px; }
header h1 { margin: 0 0 4px; font-size: 21px; font-weight: 600; }
header p { margin: 0; color: #c5ceda; font-size: 13px; }
main { max-width: 1320px; margin: 0 auto; padding: 10px 28px 40px; }
section { background: #fff; border-radius: 8px; box-shadow: 0 1px 3px rgba(0, 0, 0, .12); padding: 12px 18px;
          margin: 14px 0; }
h2 { font-size: 17px; margin: 0 0 8px; font-weight: 600; }
h2 small { font-weight: 400; color: #5b6573; font-size: 13px; }
p.note { color: #4c5664; font-size: 13px; margin: 6px 0; max-width: 1000px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 14px; }
th, td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #e5e7eb; vertical-align: middle; }
th { font-weight: 600; color: #3a4350; }
th:first-child, td:first-child { text-align: left; }
table.summary th, table.summary td, table.scores th, table.scores td { white-space: nowrap; }
.overview { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
.overview > img { flex: 1 1 420px; min-width: 0; max-width: 760px; height: auto; border: 1px solid #e5e7eb; }
.bar { position: relative; width: 280px; height: 14px; background: #eceff3; border-radius: 3px; }
.bar .fill { position: absolute; top: 0; bottom: 0; background: #3b6fd8; border-radius: 3px; }
.bar .fill.low { background: #d2483c; }
.bar .mark { position: absolute; top: -3px; bottom: -3px; width: 3px; margin-left: -1px; }
.bar .zero { position: absolute; top: -3px; bottom: -3px; width: 1px; background: #6b7280; }
.key { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; border-radius: 2px;
       margin: 0 3px 0 10px; }
.pictures { display: flex; gap: 10px; flex-wrap: wrap; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #e5e7eb; background: #fafafa; }
figcaption { font-size: 12px; color: #4c5664; text-align: center; margin-top: 2px; }
.score { font-size: 15px; margin-left: 8px; }
.worse { color: #b42318; font-weight: 600; }
audio { width: 230px; height: 34px; display: block; }
td.player { text-align: left; }
a { color: #2457c5; text-decoration: none; }
a:hover { text-decoration: underline; }
"""


class ReportFolder:
    """DIR/index.html and DIR/index_files/, written through .partial names (see the module's docstring)."""

    def __init__(self, folder: str | Path, flag: str = "--report"):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise UserError(f"{flag} {self.folder}: is a file; give a folder (it gets {PAGE_NAME} and {FILES_NAME}/)")
        self.partial = self.folder / (FILES_NAME + PARTIAL)
        try:
            shutil.rmtree(self.partial, ignore_errors=True)  # a crashed run's leftovers
            self.partial.mkdir(parents=True)
        except OSError as error:
            raise UserError(f"{flag} {self.folder}: cannot write there ({error.strerror or error}); "
                            "give a folder you can write to, e.g. output/report") from None

    def file(self, name: str) -> tuple[Path, str]:
        """(where to write the file, its address on the page) for `name`, a plain relative path such as
        'songs/03/mixture.mp3' (names the report makes, never a user's file name: no quoting needed)."""
        path = self.partial / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, f"{FILES_NAME}/{name}"

    def finish(self, page: str) -> Path:
        """Put the page and its files in place; returns DIR/index.html."""
        final_files, old_files = self.folder / FILES_NAME, self.folder / (FILES_NAME + ".old")
        partial_page = self.folder / (PAGE_NAME + PARTIAL)
        partial_page.write_text(page, encoding="utf-8")
        with ctrl_c_deferred():  # a few renames: Ctrl-C waits for them
            shutil.rmtree(old_files, ignore_errors=True)
            if final_files.exists():
                final_files.rename(old_files)
            self.partial.rename(final_files)
            os.replace(partial_page, self.folder / PAGE_NAME)
        shutil.rmtree(old_files, ignore_errors=True)
        return self.folder / PAGE_NAME

    def size_bytes(self) -> int:
        """index.html and every file in index_files/, in bytes (after finish)."""
        files = [self.folder / PAGE_NAME, *(self.folder / FILES_NAME).rglob("*")]
        return sum(path.stat().st_size for path in files if path.is_file())


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def number(value: float | None, digits: int) -> str:
    """A score for the page ('n/a' for NaN or missing), formatted as the printed tables format it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def html_table(header: Sequence[str], rows: Iterable[Sequence[str]], classes: str = "") -> str:
    """A table of already-escaped HTML cells."""
    head = "".join(f"<th>{cell}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def bar(value: float, low: float, high: float, marks: Sequence[tuple[float, str, str]] = (),
        poor: bool = False) -> str:
    """A horizontal bar from 0 (or `low`, when 0 is outside) to `value` on the axis [low, high], with marks
    (value, colour, title) drawn as ticks: a chart cell of the ranking tables."""
    def position(x: float) -> float:
        return 100 * (min(max(x, low), high) - low) / (high - low) if high > low else 0.0

    parts = []
    if math.isfinite(value):
        start, end = sorted((position(max(low, min(0.0, high))), position(value)))
        parts.append(f'<div class="fill{" low" if poor else ""}" style="left:{start:.2f}%;width:{end - start:.2f}%">'
                     "</div>")
    if low < 0 < high:
        parts.append(f'<div class="zero" style="left:{position(0):.2f}%"></div>')
    for mark, colour, title in marks:
        if math.isfinite(mark):
            parts.append(f'<div class="mark" title="{esc(title)}" style="left:{position(mark):.2f}%;'
                         f'background:{colour}"></div>')
    return f'<div class="bar">{"".join(parts)}</div>'


def picture(src: str, caption: str, alt: str, lazy: bool = False) -> str:
    """An <img> with its caption. lazy: the browser loads it when it is scrolled near (large reports)."""
    loading = ' loading="lazy"' if lazy else ""
    return (f'<figure><img src="{esc(src)}" alt="{esc(alt)}"{loading}>'
            f"<figcaption>{caption}</figcaption></figure>")


def page(title: str, subtitle: str, body: str, script: str = "") -> str:
    """The whole document: style and script inline; an empty icon, so the browser asks for no favicon file."""
    script_tag = f"<script>\n{script}\n</script>" if script else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{esc(GENERATOR)}">
<link rel="icon" href="data:,">
<title>{esc(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>{esc(title)}</h1><p>{subtitle}</p></header>
<main>
{body}
</main>
{script_tag}
</body>
</html>
"""
