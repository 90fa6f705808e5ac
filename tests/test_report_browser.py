"""evaluate.py --report's pages in a real browser, a headless Chromium driven by Playwright: each page opens from
disk (file://, no server, no internet) without a console error or a failed request, every audio element reports a
duration above zero, every image decodes, and pressing play on a second player of a song goes on at the moment
the first one was at.

Needs `pip install playwright` and a Chromium from the system's packages (`apt-get install chromium`; CHROMIUM=path
names another); Playwright's own browser download is not used. Without them the tests are skipped, saying so.

Each page's screenshot goes to pytest's temporary folder; with UPDATE_DOCS_SCREENSHOTS=1 to docs/report_images.png
and docs/report_songs.png. The README's screenshots come from reports of realistic inputs, checked here as well:

    DOCS_REPORT_IMAGES=/tmp/report_images DOCS_REPORT_SONGS=/tmp/report_songs UPDATE_DOCS_SCREENSHOTS=1 \\
        python -m pytest -q tests/test_report_browser.py
"""
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from conftest import REPO_ROOT
from report_helpers import evaluate_images, evaluate_songs, write_scored_songs

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")

CHROMIUM = os.environ.get("CHROMIUM") or next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None)
# Headless and quiet: nothing from the internet (no updates, no sync, no QUIC probes), no GPU, no sandbox (containers)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
SCREENSHOT = {"width": 1280, "images": 1060, "songs": 1720}  # pixels: the top of each page, as a learner sees it

# Every picture decoded (lazy ones too) and every audio element's metadata read: [src, width or duration, error]
INSPECT_SCRIPT = """async () => {
  const images = Array.from(document.images);
  for (const image of images) image.loading = 'eager';
  const pictures = await Promise.all(images.map(image => image.decode().then(
      () => [image.getAttribute('src'), image.naturalWidth, null],
      error => [image.getAttribute('src'), 0, String(error)])));
  const players = await Promise.all(Array.from(document.querySelectorAll('audio')).map(audio => new Promise(done => {
    const report = () => done([audio.getAttribute('src'), audio.duration, audio.error && audio.error.code]);
    if (audio.readyState >= 1 || audio.error) return report();
    audio.addEventListener('loadedmetadata', report, {once: true});
    audio.addEventListener('error', report, {once: true});
    if (audio.preload === 'none') audio.load();
    setTimeout(report, 30000);
  })));
  return {pictures, players};
}"""

# Play the first song's mixture, then its first estimate: the mixture pauses, the estimate starts where it was
SWITCH_SCRIPT = """async () => {
  const song = document.querySelector('.song');
  const [mixture, , estimate] = song.querySelectorAll('audio');
  mixture.muted = estimate.muted = true;
  await mixture.play();
  mixture.pause();
  mixture.currentTime = 1.0;
  await mixture.play();
  await estimate.play();
  const state = {mixturePaused: mixture.paused, estimatePaused: estimate.paused, estimateTime: estimate.currentTime};
  estimate.pause();
  return state;
}"""


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium found: apt-get install chromium (or set CHROMIUM to a Chromium or Chrome binary)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def screenshot_path(kind: str, tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        return REPO_ROOT / "docs" / f"report_{kind}.png"
    return tmp_path / f"report_{kind}.png"


def media_request_cut_short(request) -> bool:
    """Chromium's media player stops reading a file once it has what preload="metadata" asks for (ERR_ABORTED):
    that is not a failure, and the duration check below sees a file that does not play."""
    return request.resource_type == "media" and "ERR_ABORTED" in (request.failure or "")


def inspect_page(browser, index: Path, kind: str, screenshot: Path) -> dict:
    """Open the page; return what INSPECT_SCRIPT found plus 'problems': console errors, page errors, failed
    requests. Saves the top of the page as a PNG."""
    page = browser.new_page(viewport={"width": SCREENSHOT["width"], "height": 900})
    problems = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: None if media_request_cut_short(request) else problems.append(
        f"failed: {request.url} {request.failure}"))
    page.goto(index.resolve().as_uri(), wait_until="load")
    found = page.evaluate(INSPECT_SCRIPT)
    page.evaluate("window.scrollTo(0, 0)")
    height = min(SCREENSHOT[kind], page.evaluate("document.documentElement.scrollHeight"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), clip={"x": 0, "y": 0, "width": SCREENSHOT["width"], "height": height},
                    full_page=True)
    with Image.open(screenshot) as shot:  # 256 colours: a third of the bytes, text as sharp
        shot.convert("RGB").quantize(256).save(screenshot, optimize=True)
    found["problems"] = problems
    found["page"] = page
    return found


def assert_loads_plays_and_shows(found: dict) -> None:
    assert found["problems"] == []
    assert found["pictures"] and [picture for picture in found["pictures"] if not picture[1] > 0] == []
    assert [player for player in found["players"] if not (player[1] or 0) > 0] == []


@pytest.fixture(scope="module")
def image_report(tmp_path_factory) -> Path:
    if os.environ.get("DOCS_REPORT_IMAGES"):
        return Path(os.environ["DOCS_REPORT_IMAGES"]) / "index.html"
    folder = tmp_path_factory.mktemp("images")
    result, _ = evaluate_images(folder, "--report", str(folder / "report"))
    assert result.returncode == 0, result.stderr
    return folder / "report" / "index.html"


@pytest.fixture(scope="module")
def song_report(tmp_path_factory) -> Path:
    if os.environ.get("DOCS_REPORT_SONGS"):
        return Path(os.environ["DOCS_REPORT_SONGS"]) / "index.html"
    root = tmp_path_factory.mktemp("songs")
    data, estimates = write_scored_songs(root)
    result = evaluate_songs(data, estimates, root / "out", "--report", str(root / "report"))
    assert result.returncode == 0, result.stderr
    return root / "report" / "index.html"


def test_the_image_page_loads_and_every_picture_decodes(browser, image_report, tmp_path):
    found = inspect_page(browser, image_report, "images", screenshot_path("images", tmp_path))
    assert_loads_plays_and_shows(found)
    assert found["players"] == []
    if not os.environ.get("DOCS_REPORT_IMAGES"):
        assert len(found["pictures"]) == 4 * 4  # image, true mask, predicted mask, overlay
    assert screenshot_path("images", tmp_path).stat().st_size > 10_000


def test_the_song_page_loads_every_player_has_a_duration_and_players_switch(browser, song_report, tmp_path):
    found = inspect_page(browser, song_report, "songs", screenshot_path("songs", tmp_path))
    assert_loads_plays_and_shows(found)
    if not os.environ.get("DOCS_REPORT_SONGS"):
        assert len(found["players"]) == 3 * 7 and len(found["pictures"]) == 1 + 3  # the summary chart, the songs
        assert all(abs(duration - 2.0) < 0.01 for _, duration, _ in found["players"])  # 2 s songs: whole
    switched = found["page"].evaluate(SWITCH_SCRIPT)
    assert switched["mixturePaused"] and not switched["estimatePaused"]
    assert switched["estimateTime"] == pytest.approx(1.0, abs=0.3)
    assert screenshot_path("songs", tmp_path).stat().st_size > 10_000
