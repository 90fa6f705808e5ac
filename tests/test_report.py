"""evaluate.py --report (images and songs): the folder it writes, what the page says, and that the page's summary
is the printed one. The page in a real browser: test_report_browser.py."""
import csv
import json
import re

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from audio_helpers import RATE, synthetic_stems
from report_helpers import (SONG_ERRORS, evaluate_images, evaluate_songs, page_text, table_rows,
                            write_scored_songs)
from image_helpers import assert_user_error, run_script
from utils.errors import UserError
from utils import image_report
from utils.image_report import mean_scores
from utils.report import FILES_NAME, ReportFolder
from vocal_separation_sanity_check import report as song_report
from vocal_separation_sanity_check.metrics import framewise_sdr
from vocal_separation_sanity_check.summary import summarize


# ---------------------------------------------------------------------------------------------
# The folder


def test_a_report_is_swapped_in_whole_and_a_crash_leaves_the_last_one(tmp_path):
    first = ReportFolder(tmp_path / "report")
    path, address = first.file("songs/000/a.txt")
    path.write_text("first")
    assert address == f"{FILES_NAME}/songs/000/a.txt" and not (tmp_path / "report" / "index.html").exists()
    page = first.finish("<html>first</html>")
    assert page.read_text() == "<html>first</html>" and (tmp_path / "report" / FILES_NAME / "songs/000/a.txt").is_file()

    crashed = ReportFolder(tmp_path / "report")  # a run that dies before finish()
    crashed.file("songs/000/b.txt")[0].write_text("half")
    assert page.read_text() == "<html>first</html>"  # the last report is untouched, its files too
    assert (tmp_path / "report" / FILES_NAME / "songs/000/a.txt").read_text() == "first"

    second = ReportFolder(tmp_path / "report")  # the next run starts from a clean slate
    second.file("b.txt")[0].write_text("second")
    second.finish("<html>second</html>")
    assert sorted(path.name for path in (tmp_path / "report").iterdir()) == ["index.html", FILES_NAME]
    assert [path.name for path in (tmp_path / "report" / FILES_NAME).rglob("*")] == ["b.txt"]
    assert second.size_bytes() == len("<html>second</html>") + len("second")

    (tmp_path / "a_file").write_text("")
    with pytest.raises(UserError, match="--report .*a_file: is a file; give a folder"):
        ReportFolder(tmp_path / "a_file")


# ---------------------------------------------------------------------------------------------
# Images


def test_the_image_summary_is_the_mean():
    rows = [("a", 0.1, 0.05), ("b", 0.2, 0.1), ("c", 0.9, 0.6)]  # median 0.2, max 0.9: the mean differs from both
    assert mean_scores(rows) == pytest.approx((0.4, 0.25))


def test_image_report_shows_the_printed_scores_worst_first(tmp_path):
    result, data = evaluate_images(tmp_path, "--csv", str(tmp_path / "scores.csv"), "--report", str(tmp_path / "rep"))
    assert result.returncode == 0, result.stderr
    assert re.search(r"INFO: Report saved to \S+rep/index.html \(4 images, \d+ kB\): open it in a browser",
                     result.stderr), result.stderr
    with open(tmp_path / "scores.csv") as file:
        scores = {row["image"]: (float(row["dice"]), float(row["iou"])) for row in csv.DictReader(file)}
    page = page_text(tmp_path / "rep" / "index.html")

    # The summary on top is the printed mean; the ranking and the cards are the printed rows, worst first.
    printed_mean = result.stdout.strip().splitlines()[-1].split()[1:3]
    assert f"Mean Dice {printed_mean[0]} · mean IoU {printed_mean[1]}" in page
    worst_first = sorted((name for name in scores if name != "mean"), key=lambda name: scores[name][0])
    assert [row[0] for row in table_rows(page, "ranking")] == worst_first
    cards = re.findall(r'<section id="image-\d+"><h2>(\w+)<span class="score">Dice ([\d.]+) · IoU ([\d.]+)</span> '
                       r"<small>worst (\d) of 4 · wrong pixels: missed ([\d.]+)%, extra ([\d.]+)%", page)
    assert [card[0] for card in cards] == worst_first
    for rank, (name, dice, iou, place, missed, extra) in enumerate(cards, 1):
        assert (dice, iou) == (f"{scores[name][0]:.4f}", f"{scores[name][1]:.4f}") and int(place) == rank
        share = (np.array(Image.open(data / "masks" / f"{name}_mask.png")) > 0).mean()
        assert float(dice) == pytest.approx(2 * share / (share + 1), abs=1e-4)  # the model marks everything
        assert float(missed) == 0 and float(extra) == pytest.approx(100 * (1 - share), abs=0.05)

    # Four pictures per image, at the image's size (48 x 40 is below the size limit), the worst image first
    pictures = re.findall(r'<img src="(index_files/images/[^"]+)"', page)
    assert len(pictures) == 4 * 4 and all((tmp_path / "rep" / src).is_file() for src in pictures)
    assert [Image.open(tmp_path / "rep" / src).size for src in pictures] == [(48, 40)] * 16
    assert pictures[0].endswith(f"{int(worst_first[0][3:]):05d}_image.jpg")
    assert Image.open(tmp_path / "rep" / pictures[2]).convert("L").getextrema() == (255, 255)  # all object


def test_the_overlay_marks_each_kind_of_wrong_pixel_even_when_shrunk():
    truth = np.zeros((800, 1000), np.int64)
    truth[200:600, 200:600] = 1
    prediction = np.zeros_like(truth)
    prediction[200:600, 300:700] = 1  # misses x 200-300, adds x 600-700
    prediction[700, :] = 1  # a one-pixel line: 0.36 pixel tall once shrunk, still drawn
    grey = np.full((800, 1000, 3), 100, np.uint8)
    size = image_report.picture_size(1000, 800)
    assert size == (image_report.PICTURE_SIDE, 288)
    overlay = np.asarray(image_report.overlay_picture(grey, prediction, truth, size)).astype(int)
    scale = size[0] / 1000

    def colour(x: int, y: int) -> tuple:
        return tuple(overlay[int(y * scale), int(x * scale)])

    assert colour(250, 400)[0] > 200 and colour(250, 400)[2] < 80  # missed: red
    assert colour(650, 400)[2] > 200 and colour(650, 400)[0] < 80  # extra: blue
    green = colour(450, 400)
    assert green[1] > green[0] + 20 and green[1] > green[2] + 20  # right: tinted green
    assert colour(100, 100) == (95, 95, 95)  # right background: the image, dimmed
    assert colour(500, 700)[2] > 200  # the thin line
    classes = np.array([[0, 1], [2, 13]])
    assert np.asarray(image_report.mask_picture(classes, (2, 2)).convert("RGB")).tolist() == [
        [[0, 0, 0], [255, 255, 255]], [list(image_report.CLASS_COLOURS[2]), list(image_report.CLASS_COLOURS[1])]]


def test_without_report_evaluate_writes_no_page_and_a_bad_report_folder_is_one_line(tmp_path):
    result, _ = evaluate_images(tmp_path, "--csv", str(tmp_path / "scores.csv"))
    assert result.returncode == 0 and "Report" not in result.stderr and not list(tmp_path.glob("**/index.html"))
    (tmp_path / "taken").write_text("")
    result = run_script("evaluate.py", "-m", str(tmp_path / "all.pth"), "--data-dir", str(tmp_path / "data"),
                        "--report", str(tmp_path / "taken"))
    assert_user_error(result, f"--report {tmp_path / 'taken'}: is a file; give a folder")
    assert "image     Dice" not in result.stdout  # refused before any image is scored


# ---------------------------------------------------------------------------------------------
# Songs


def test_the_excerpt_is_centred_on_the_loudest_passage():
    rate = 1000
    song = np.full((2, 60 * rate), 0.01, np.float32)
    song[:, 40 * rate: 45 * rate] = 0.5  # the loudest 5 s: 40-45 s
    assert song_report.loudest_passage(song, rate, 25) == (30 * rate, 55 * rate)
    song[:, 40 * rate: 45 * rate] = 0.01
    song[:, 57 * rate:] = 0.5  # at the very end: the excerpt stays inside the song
    assert song_report.loudest_passage(song, rate, 25) == (35 * rate, 60 * rate)
    assert song_report.loudest_passage(song[:, : 20 * rate], rate, 25) == (0, 20 * rate)  # shorter: all of it


def test_frame_sdrs_are_the_frames_of_framewise_sdr():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2, 5 * RATE)).astype(np.float32)
    reference[:, RATE: 2 * RATE] = 0  # a silent second: NaN, skipped by the median
    estimate = reference + 0.3 * rng.standard_normal(reference.shape).astype(np.float32)
    frames = song_report.frame_sdrs(reference, estimate, RATE)
    assert len(frames) == 5 and np.isnan(frames[1]) and np.all(np.isfinite(np.delete(frames, 1)))
    assert np.nanmedian(frames) == pytest.approx(framewise_sdr(reference, estimate, RATE))


def test_the_bit_rate_keeps_every_song_within_its_budget():
    for clips, kbps in ((4, 96), (7, 64), (13, 32)):  # vocals; vocals + accompaniment; 4 stems, with the oracle
        assert song_report.mp3_bit_rate(clips)[0] == kbps
        assert clips * song_report.EXCERPT_SECONDS * kbps * 1000 / 8 <= song_report.SONG_AUDIO_BUDGET


@pytest.fixture(scope="module")
def song_evaluation(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    data, estimates = write_scored_songs(root)
    result = evaluate_songs(data, estimates, root / "out", "--report", str(root / "report"))
    assert result.returncode == 0, result.stderr
    return root, result


def test_song_summary_printed_saved_and_shown_is_the_median_of_song_medians(song_evaluation):
    """Three songs of known, different SDRs: the printed summary, results.json and the page all hold the mean
    of the whole-song SDRs and the median of the 1 s medians, which neither a mean, a median nor a max of the
    other figure would give."""
    root, result = song_evaluation
    results = json.loads((root / "out" / "results.json").read_text())
    songs = {(row["method"], row["target"]): [] for row in results["tracks"]}
    for row in results["tracks"]:
        songs[(row["method"], row["target"])].append(row)
    printed = {" ".join(line.split()[:-4]): [float(value) for value in line.split()[-4:]]
               for line in result.stdout.split("Summary over 3 track(s)")[1].strip().splitlines()[2:]}
    page = {row[0]: [float(value) for value in row[1:]] for row in table_rows(page_text(root / "report" /
                                                                                        "index.html"), "summary")}
    saved = {(entry["method"], entry["target"]): entry for entry in results["summary"]}
    for method in ("estimates", "oracle IRM", "mixture"):
        expected = []
        for target in ("vocals", "accompaniment"):
            whole = [row["SDR"] for row in songs[(method, target)]]
            medians = [row["SDR_median"] for row in songs[(method, target)]]
            assert len(whole) == 3
            expected += [np.mean(whole), np.median(medians)]
            assert saved[(method, target)]["SDR_mean"] == pytest.approx(np.mean(whole))
            assert saved[(method, target)]["SDR_median"] == pytest.approx(np.median(medians))
            if method == "estimates":  # the three songs differ enough for a swap to show in 2 decimals
                assert min(abs(np.mean(whole) - other) for other in (np.median(whole), np.max(whole))) > 1
                assert min(abs(np.median(medians) - other) for other in (np.mean(medians), np.max(medians))) > 1
        assert printed[method] == pytest.approx(expected, abs=0.006)
        assert page[method] == printed[method]  # the same numbers, to the printed digit


def test_song_report_plays_each_source_worst_song_first(song_evaluation):
    root, result = song_evaluation
    assert re.search(r"INFO: Report saved to \S+report/index.html \(3 songs, [\d.]+ (kB|MB)\): open it in a browser",
                     result.stderr), result.stderr
    page = page_text(root / "report" / "index.html")
    worst_first = sorted(SONG_ERRORS, key=SONG_ERRORS.get, reverse=True)
    assert [row[0] for row in table_rows(page, "ranking")] == worst_first
    assert re.findall(r'<section class="song" id="song-\d+"><h2>(\w+)<', page) == worst_first
    clips = re.findall(r'<audio controls preload="metadata" src="([^"]+)" title="([^"]+)">', page)
    assert len(clips) == 3 * 7  # the mixture; true, estimated and oracle vocals and accompaniment
    assert {title for _, title in clips} == {"mixture"} | {f"{source} {target}" for source in ("true", "estimates",
                                                                                               "oracle IRM")
                                                           for target in ("vocals", "accompaniment")}
    for src, _ in clips:
        info = sf.info(root / "report" / src)
        assert info.format == "MP3" and info.channels == 2 and info.frames == 2 * RATE  # 2 s songs: all of them
    for song in range(3):  # the budget, and one picture per song
        folder = root / "report" / FILES_NAME / "songs" / f"{song:03d}"
        assert sum(path.stat().st_size for path in folder.glob("*.mp3")) <= song_report.SONG_AUDIO_BUDGET
        assert Image.open(folder / "spectrograms.jpg").size[0] >= 800
    assert (root / "report" / FILES_NAME / "summary.png").read_bytes() == (root / "out" / "results.png").read_bytes()
    assert re.search(r"song_c<span class=\"score\">vocals SDR -?0\.0\d dB</span>", page)


def test_a_long_song_gets_an_excerpt_within_the_budget(tmp_path):
    """30 s song, vocals loudest from 20 s on: a 25 s excerpt ending at the song's end, 7 clips at 64 kbit/s."""
    stems = synthetic_stems(30.0, seed=1)
    stems["vocals"][:, : 20 * RATE] *= 0.1
    mixture = sum(stems.values())
    references = {"vocals": stems["vocals"], "accompaniment": mixture - stems["vocals"]}
    estimates = {"model": {target: 0.8 * audio for target, audio in references.items()},
                 song_report.ORACLE: {target: 0.9 * audio for target, audio in references.items()}}
    rows = [{"track": "long", "target": target, "method": method, "SDR": 1.0, "SDR_median": 1.0}
            for method in ("model", song_report.ORACLE, "mixture") for target in references]
    report = song_report.SongReport(tmp_path / "report", "model", list(references), oracle=True, subtitle="")
    report.add_song("long", mixture, references, estimates, rows, RATE)
    page = report.finish(summarize(rows))
    clips = sorted((tmp_path / "report" / FILES_NAME / "songs" / "000").glob("*.mp3"))
    assert len(clips) == 7 and all(sf.info(clip).frames == 25 * RATE for clip in clips)
    assert all(abs(64_000 / 8 * 25 - clip.stat().st_size) < 2_000 for clip in clips)  # 25 s at 64 kbit/s
    assert sum(clip.stat().st_size for clip in clips) <= song_report.SONG_AUDIO_BUDGET
    assert "excerpt 0:05-0:30 of 0:30, 64 kbit/s" in page.read_text()
