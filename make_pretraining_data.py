"""Make the pretraining set behind the shipped weights pretrained/unet_objects.pth (see README, "Your own photos").

    python3 make_pretraining_data.py --count 12000 --out /tmp/pretraining      # about 3 minutes on 2 cores
    python3 make_pretraining_data.py --count 36000 --seed 1000 --shards 16 --out /tmp/big   # on all the cores
    python3 make_pretraining_data.py --save-sources sources.zip    # the pictures, for a machine without the packages
    python3 make_pretraining_data.py --sources sources.zip --count 36000 --shards 16 --out /tmp/big   # there

A U-Net trained from random weights on 60 photos learns colours more than what an "object" is. So the shipped
weights first learnt, from many generated images, to mark the objects pasted on a photograph: each image is a
random crop of a background picture with one to three objects on it: a drawn emoji (Noto Color Emoji), the
outline of an emoji or a Symbola pictograph filled with a piece of another photograph and shaded like a solid,
or a photographed thing (a photographic Tux Paint stamp of a kind the benchmark never uses: vehicles, signs,
planets...). A background is a desktop wallpaper (most of them drawn or rendered) or, for --scene-share of the
images, a photograph of a natural scene (Tux Paint's templates: bark, rocks, waves, leaves...; for
--landscape-share of those, the ground of a photographed Stellarium panorama: fields, meadows, snowy woods;
for --skyline-share of the landscapes, the panorama with the trees and ridges above its ground, over a sky),
since a learner's photos are photographs; for --clutter-share of the images, a scene that shows unmarked things
(a lighthouse, houses, a castle, a bridge, mountains under clouds; for --monument-share of those, one of
GCompris' 49 photographs of monuments), since a photograph behind an object is seldom empty and only the pasted
objects are to be marked; for --decoy-share of the images, one or two decoys below the objects: irregular patches
of a photograph, pasted and sharp-edged as the objects are but left unmarked. All come from Debian packages
(APT_COMMAND); no picture is one of the benchmark's (benchmarks/photo_sets.py), and no stamp is of one of the
benchmark's kinds: the weights have never seen a photograph or an object of the benchmark's test sets, nor of its
training sets. Written in the Carvana layout train.py reads:

    <out>/imgs/object_00000.jpg    <out>/masks/object_00000_mask.gif    (mask 0 = background, 255 = object)

Offline and deterministic for a seed; image i depends on (seed, i) only through the seed's stream, so a run
with the same --count and --seed writes the same images. With --shards K the set is K independent pieces (piece
k from seed + k), which --jobs processes write at once: the same --count, --seed and --shards give the same
images on any number of cores.
"""
import argparse
import io
import multiprocessing
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from tqdm import tqdm

from benchmarks.photo_sets import BACKGROUNDS as BENCHMARK_PHOTOS
from benchmarks.photo_sets import STAMP_KINDS as BENCHMARK_STAMP_KINDS
from benchmarks.photo_sets import STAMPS, find_cut_outs, load_cut_out
from utils.compositing import Cycle, crop_to_opaque, load_photo, make_example, random_crop, save_mask_gif
from utils.errors import UserError, run_cli
from utils.qt_resources import read_qt_resources

APT_COMMAND = ("sudo apt-get install fonts-noto-color-emoji fonts-symbola ukui-wallpapers lomiri-wallpapers-20.04 "
               "gnome-backgrounds plasma-workspace-wallpapers mate-backgrounds tuxpaint-stamps-default stellarium-data "
               "palapeli-data extremetuxracer-data gcompris-qt-data")
PHOTO_FOLDERS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
SCENE_FOLDER = Path("/usr/share/tuxpaint/templates")
# Templates that show a thing (jellyfish, a lighthouse, sheep, a machine): a background must not hold an unmarked
# object, or the model learns to leave objects out.
SCENES_LEFT_OUT = ("jellyfish", "lighthouse", "sheep", "wool_mill_machine")
SCENE_SHARE = 0.5  # of the images have a scene photograph behind them (0 gives the earlier sets, image for image)
LANDSCAPE_FOLDER = Path("/usr/share/stellarium/landscapes")
# Stellarium's photographed panoramas of the ground: a rapeseed field, meadows, a village, snowy woods. Its Mars
# and Moon show a rover and an astronaut (unmarked things), and its ocean and trees are drawn.
LANDSCAPES = ("garching", "grossmugl", "guereins", "hurricane")
LANDSCAPE_PIECES_LEFT_OUT = ("guereins8", "hurricane5")  # houses, parked cars: unmarked things
LANDSCAPE_SHARE = 0.5  # of the scene backgrounds are landscapes (0 gives the earlier sets, image for image)
# Scenes that show things nobody marked: the two Tux Paint templates with a man-made thing (its jellyfish and sheep
# stay out: animals are objects to mark), the Stellarium pieces with houses, parked cars and the Mars lander,
# Palapeli's castle and bridge, and Extreme Tux Racer's rendered mountains under clouds. The benchmark's test
# photographs hold such things (a pier, a splash, clouds over mountains), which a model that never saw an
# unmarked thing marks.
CLUTTER_TEMPLATES = ("lighthouse", "wool_mill_machine")
CLUTTER_LANDSCAPE_PIECES = ("guereins/guereins8", "hurricane/hurricane5", "mars/mars")
PUZZLE_FOLDER = Path("/usr/share/palapeli/collection")
CLUTTER_PUZZLES = ("castle-maintenon", "cincinnati-bridge")  # the fruit, bee and chameleon are objects
SKY_FOLDER = Path("/usr/share/games/etr/env/etr")  # <weather>/{front,left,right}H.png, 1024x1024
CLUTTER_SHARE = 0.0  # of the images have such a scene behind them (0 gives the earlier sets, image for image)
# GCompris' photographs of monuments (pyramids, castles, cathedrals, bridges, a tower) in their landscapes.
MONUMENTS = Path("/usr/share/gcompris-qt/rcc/explore_monuments.rcc")
MONUMENT_SHARE = 0.0  # of the backgrounds with unmarked things (0 gives the earlier sets, image for image)
# Skylines: a landscape piece with the rows above its ground (trees, a barn, a distant ridge against the sky) laid
# over a sky (Extreme Tux Racer's cloudy, sunny and evening views, Tux Paint's clouds). The benchmark's hardest test
# photograph is mountains under clouds, whose bright, sharp-edged peaks and clouds a model that never saw a sky
# marks as things; the landscapes above are the ground alone. Off by default: short stages with them scored no
# higher, on that photograph or overall (docs/image-experiments.md, round 10).
SKIES = tuple(SKY_FOLDER / weather / f"{view}.png" for weather in ("cloudy", "sunny", "evening")
              for view in ("front", "left", "right")) + (SCENE_FOLDER / "sun_behind_clouds.jpg",)
SKIES_PER_SKYLINE = 2  # each piece over two different skies
SKY_ABOVE_GROUND = 0.6  # rows kept above a piece's highest opaque row, as a share of the rows from there down
MIN_SKYLINE_HEIGHT = 96  # pixels: a lower piece is a strip of horizon, not a scene
SKYLINE_SHARE = 0.0  # of the landscape backgrounds are skylines (0 gives the earlier sets, image for image)
# Of the images with unmarked decoys (0 gives the earlier sets, image for image). Off: in short CPU stages they
# lifted the ten-draw mean by 0.003-0.004, less than a stage's own spread (docs/image-experiments.md, round 11).
DECOY_SHARE = 0.0
MIN_LANDSCAPE_SIDE = 64  # pixels: a thinner band of ground is a strip, not a scene
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
SYMBOL_FONT = Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf")
# Pictographs: animals, food, tools, vehicles, objects. Left out: flags, keycaps, skin tones, arrows, letters.
PICTOGRAPH_RANGES = ((0x1F300, 0x1F3FA), (0x1F400, 0x1F5FF), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF),
                     (0x1FA70, 0x1FAFF))
EMOJI_PIXELS = 109  # the only size Noto Color Emoji's bitmaps come in
SYMBOL_PIXELS = 160
MIN_SIDE = 40  # pixels: smaller glyphs are dots and lines, not objects
MIN_FILL = 0.15  # of the glyph's box: thinner glyphs are strokes, not objects
DRAWN_SHARE = 0.35  # drawn emoji; the objects that are neither drawn nor photographed are photograph-filled outlines
PHOTOGRAPHED_SHARE = 0.3  # photographed things (0 gives the first shipped weights' set, image for image)
# Tux Paint stamp folders none of the benchmark's kinds (photo_sets.STAMP_KINDS) is in or under. Left out: plants
# (the wallpapers are full of unmarked flowers and leaves) and the cartoon folders (drawings).
PHOTOGRAPHED_KINDS = ("vehicles", "town", "space", "military", "naturalforces", "symbols", "seasonal/halloween",
                      "seasonal/hanukkah", "seasonal/newyears", "seasonal/winter")


def find_photos(folders: tuple[Path, ...] = PHOTO_FOLDERS, excluded_photos: tuple[Path, ...] = BENCHMARK_PHOTOS,
                minimum: int = 10) -> list[Path]:
    """The wallpaper photographs under folders, one file per picture, none of them one of excluded_photos (the
    benchmark's)."""
    excluded = {_picture(path) for path in excluded_photos}
    excluded_looks = [_look(path) for path in excluded_photos if path.is_file()]
    photos, seen, looks = [], set(), []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES):
            if _picture(path) in excluded | seen or "contents/screenshot" in str(path):
                continue
            with Image.open(path) as picture:
                if min(picture.size) < 600:
                    continue
            look = _look(path)
            # The same picture under another name counts once, and never when it is a benchmark one.
            if any(np.abs(look - other).mean() < 8 for other in excluded_looks + looks):
                continue
            photos.append(path)
            seen.add(_picture(path))
            looks.append(look)
    if len(photos) < minimum:
        raise UserError(f"found {len(photos)} wallpaper photographs under {', '.join(map(str, folders))}; "
                        f"install them with: {APT_COMMAND}")
    return photos


def find_scenes(folder: Path = SCENE_FOLDER, left_out: tuple[str, ...] = SCENES_LEFT_OUT,
                minimum: int = 5) -> list[Path]:
    """The scene photographs in folder (Tux Paint's templates), those that show a thing left out."""
    scenes = sorted(p for p in folder.glob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.stem not in left_out)
    if len(scenes) < minimum:
        raise UserError(f"found {len(scenes)} scene photographs in {folder}; install them with: {APT_COMMAND}")
    return scenes


def opaque_band(panorama: Image.Image) -> Image.Image | None:
    """The tallest band of rows that are all opaque (the ground below a panorama's transparent sky) as RGB, or
    None when it is thinner than MIN_LANDSCAPE_SIDE."""
    opaque_rows = (np.asarray(panorama.convert("RGBA").getchannel("A")) >= 250).all(axis=1)
    best_top, best_height, top = 0, 0, None
    for row, opaque in enumerate(list(opaque_rows) + [False]):
        if opaque and top is None:
            top = row
        elif not opaque and top is not None:
            if row - top > best_height:
                best_top, best_height = top, row - top
            top = None
    if best_height < MIN_LANDSCAPE_SIDE or panorama.width < MIN_LANDSCAPE_SIDE:
        return None
    return panorama.convert("RGB").crop((0, best_top, panorama.width, best_top + best_height))


def landscape_pieces(folder: Path = LANDSCAPE_FOLDER, names: tuple[str, ...] = LANDSCAPES,
                     left_out: tuple[str, ...] = LANDSCAPE_PIECES_LEFT_OUT) -> list[Path]:
    """The panorama pieces of the landscapes (RGBA PNGs), fog, light and illumination layers left out."""
    pieces = sorted(path for name in names for path in (folder / name).glob("*.png")
                    if path.stem not in left_out and not any(layer in path.stem for layer in ("fog", "illum", "lgt")))
    if not pieces:
        raise UserError(f"found no landscape in {folder} ({', '.join(names)}); install them with: {APT_COMMAND}")
    return pieces


def find_landscapes(folder: Path = LANDSCAPE_FOLDER, names: tuple[str, ...] = LANDSCAPES,
                    left_out: tuple[str, ...] = LANDSCAPE_PIECES_LEFT_OUT) -> list[Image.Image]:
    """The ground of each panorama piece of the landscapes (RGB)."""
    bands = []
    for path in landscape_pieces(folder, names, left_out):
        with Image.open(path) as panorama:
            band = opaque_band(panorama)
        if band is not None:
            bands.append(band)
    return bands


def skyline_piece(panorama: Image.Image) -> Image.Image | None:
    """The panorama piece (RGBA) from SKY_ABOVE_GROUND of its height above its highest opaque row down; None when
    lower than MIN_SKYLINE_HEIGHT or wholly transparent."""
    panorama = panorama.convert("RGBA")
    rows = np.flatnonzero((np.asarray(panorama.getchannel("A")) > 0).any(axis=1))
    if len(rows) == 0:
        return None
    top = max(0, rows[0] - int(SKY_ABOVE_GROUND * (panorama.height - rows[0])))
    piece = panorama.crop((0, top, panorama.width, panorama.height))
    return piece if piece.height >= MIN_SKYLINE_HEIGHT else None


def over_sky(piece: Image.Image, sky: Image.Image) -> Image.Image:
    """The RGBA piece laid over the top of the sky (cropped to the piece's shape, then resized to it), as RGB."""
    sky_rows = min(sky.height, int(sky.width * piece.height / piece.width))
    picture = sky.convert("RGB").crop((0, 0, sky.width, sky_rows)).resize(piece.size, Image.BICUBIC).convert("RGBA")
    picture.alpha_composite(piece)
    return picture.convert("RGB")


def find_skylines(folder: Path = LANDSCAPE_FOLDER, names: tuple[str, ...] = LANDSCAPES,
                  left_out: tuple[str, ...] = LANDSCAPE_PIECES_LEFT_OUT, skies: tuple[Path, ...] = SKIES,
                  skies_per_piece: int = SKIES_PER_SKYLINE) -> list[Image.Image]:
    """Each landscape piece's skyline over skies_per_piece different skies, the same ones on every machine."""
    missing = [path for path in skies if not path.is_file()]
    if missing:
        raise UserError(f"{missing[0]}: not found; install the skies with: {APT_COMMAND}")
    sky_pictures = []
    for path in skies:
        with Image.open(path) as sky:
            sky_pictures.append(sky.convert("RGB"))
    rng = np.random.default_rng(0)
    skylines = []
    for path in landscape_pieces(folder, names, left_out):
        with Image.open(path) as panorama:
            piece = skyline_piece(panorama)
        if piece is not None:
            skylines += [over_sky(piece, sky_pictures[index])
                         for index in rng.choice(len(sky_pictures), skies_per_piece, replace=False)]
    return skylines


def find_clutter(scene_folder: Path = SCENE_FOLDER, landscape_folder: Path = LANDSCAPE_FOLDER,
                 puzzle_folder: Path = PUZZLE_FOLDER, sky_folder: Path = SKY_FOLDER) -> list[Image.Image]:
    """The scenes that show unmarked things (RGB): CLUTTER_TEMPLATES, the ground of CLUTTER_LANDSCAPE_PIECES,
    CLUTTER_PUZZLES and every sky view of sky_folder."""
    skies = sorted(path for path in sky_folder.glob("*/*H.png") if path.stem in ("frontH", "leftH", "rightH"))
    paths = [scene_folder / f"{name}.jpg" for name in CLUTTER_TEMPLATES]
    paths += [puzzle_folder / f"{name}.jpg" for name in CLUTTER_PUZZLES]
    pieces = [landscape_folder / f"{piece}.png" for piece in CLUTTER_LANDSCAPE_PIECES]
    missing = [path for path in paths + pieces if not path.is_file()] + ([] if skies else [sky_folder / "*"])
    if missing:
        raise UserError(f"{missing[0]}: not found; install the scenes with unmarked things with: {APT_COMMAND}")
    scenes = [load_photo(path) for path in paths + skies]
    for path in pieces:
        with Image.open(path) as panorama:
            band = opaque_band(panorama)
        if band is not None:
            scenes.append(band)
    return scenes


def find_monuments(resource_file: Path = MONUMENTS, minimum: int = 5) -> list[Image.Image]:
    """The photographs (RGB) packed in GCompris' Qt resource file of monuments."""
    if not resource_file.is_file():
        raise UserError(f"{resource_file}: not found; install it with: {APT_COMMAND}")
    files = read_qt_resources(resource_file)
    photos = [Image.open(io.BytesIO(files[name])).convert("RGB")
              for name in sorted(files) if Path(name).suffix.lower() in PHOTO_SUFFIXES]
    if len(photos) < minimum:
        raise UserError(f"{resource_file}: found {len(photos)} photographs, expected at least {minimum}")
    return photos


def _picture(path: Path) -> Path:
    """What a file shows: a Plasma wallpaper's folder holds one picture at several sizes (and a dark variant)."""
    path = path.resolve()
    return path.parents[2] if path.parent.parent.name == "contents" else path


def _look(path: Path) -> np.ndarray:
    """A 12x8 grey thumbnail: the same picture at another size looks the same."""
    with Image.open(path) as picture:
        picture.draft("L", (96, 64))
        return np.asarray(picture.convert("L").resize((12, 8), Image.BILINEAR), dtype=np.float32)


def _font_pictographs(font_path: Path) -> list[int]:
    if not font_path.is_file():
        raise UserError(f"{font_path}: font not found; install it with: {APT_COMMAND}")
    cmap = TTFont(font_path, lazy=True).getBestCmap()
    return [code for code in sorted(cmap) if any(low <= code <= high for low, high in PICTOGRAPH_RANGES)]


def _kept(glyph: Image.Image) -> Image.Image | None:
    """The glyph cropped to its opaque part, or None when it is too small or too thin to be an object."""
    glyph = crop_to_opaque(glyph)
    if glyph is None:
        return None
    fill = (np.asarray(glyph.getchannel("A")) > 128).mean()
    return glyph if min(glyph.size) >= MIN_SIDE and fill >= MIN_FILL else None


def render_emoji() -> list[Image.Image]:
    """Every pictograph of Noto Color Emoji, drawn in colour (RGBA, cropped)."""
    font = ImageFont.truetype(str(EMOJI_FONT), EMOJI_PIXELS)
    drawn = []
    for code in _font_pictographs(EMOJI_FONT):
        canvas = Image.new("RGBA", (EMOJI_PIXELS * 5 // 4, EMOJI_PIXELS * 5 // 4), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((0, 0), chr(code), font=font, embedded_color=True)
        glyph = _kept(canvas)
        if glyph is not None:
            drawn.append(glyph)
    return drawn


def render_outlines(emoji: list[Image.Image]) -> list[np.ndarray]:
    """Filled outlines (0..1 alpha): of every emoji, and of every Symbola pictograph (its holes filled, since
    many are drawn as line art)."""
    outlines = [np.asarray(glyph.getchannel("A"), dtype=np.float32) / 255 for glyph in emoji]
    font = ImageFont.truetype(str(SYMBOL_FONT), SYMBOL_PIXELS)
    for code in _font_pictographs(SYMBOL_FONT):
        canvas = Image.new("L", (SYMBOL_PIXELS * 3 // 2, SYMBOL_PIXELS * 3 // 2), 0)
        ImageDraw.Draw(canvas).text((SYMBOL_PIXELS // 8, 0), chr(code), font=font, fill=255)
        filled = ndimage.binary_fill_holes(np.asarray(canvas) > 128)
        coverage = np.maximum(np.asarray(canvas, dtype=np.float32) / 255, filled)
        glyph = _kept(_alpha_image(coverage))
        if glyph is not None:
            outlines.append(np.asarray(glyph.getchannel("A"), dtype=np.float32) / 255)
    return outlines


def _alpha_image(coverage: np.ndarray) -> Image.Image:
    """A transparent RGBA image whose alpha is coverage (0..1)."""
    image = Image.new("RGBA", (coverage.shape[1], coverage.shape[0]), (0, 0, 0, 0))
    image.putalpha(Image.fromarray((coverage * 255 + 0.5).astype(np.uint8)))
    return image


def photo_filled(outline: np.ndarray, photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The outline filled with a piece of the photograph, shaded like a solid lit from one side (a gradient
    across it and darker towards its edge), as an RGBA cut-out."""
    height, width = outline.shape
    piece = random_crop(photo, rng, 0.1, 0.6).resize((width, height), Image.BICUBIC)
    colours = np.asarray(piece, dtype=np.float32) / 255
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    across = ((xs / width - 0.5) * np.cos(angle) + (ys / height - 0.5) * np.sin(angle))
    inside = ndimage.distance_transform_edt(outline > 0.5)
    rim = np.clip(inside / max(3.0, 0.15 * min(height, width)), 0, 1)
    shade = (1 + rng.uniform(0.2, 0.6) * across) * (0.7 + 0.3 * rim)
    colours = np.clip(colours * shade[..., None], 0, 1)
    rgba = np.concatenate([colours, outline[..., None]], axis=2)
    return Image.fromarray((rgba * 255 + 0.5).astype(np.uint8), "RGBA")


def find_photographed(root: Path = STAMPS, kinds: tuple[str, ...] = PHOTOGRAPHED_KINDS) -> list[Path]:
    """The photographic stamps of kinds under root (photo_sets' test of a photograph); none of the benchmark's."""
    overlapping = [kind for kind in kinds for benchmark_kind in BENCHMARK_STAMP_KINDS
                   if f"{kind}/".startswith(f"{benchmark_kind}/") or f"{benchmark_kind}/".startswith(f"{kind}/")]
    if overlapping:
        raise ValueError(f"stamp kind {overlapping[0]} is or holds one of the benchmark's {BENCHMARK_STAMP_KINDS}")
    train, test = find_cut_outs(root, kinds)
    return sorted(train + test)


@dataclass
class ObjectSources:
    """What the images are made of: wallpapers (backgrounds and the outlines' fillings), drawn objects and
    photographed things (RGBA cut-outs), outlines (0..1), scene photographs, landscapes, scenes with unmarked
    things, monuments and skylines (backgrounds)."""
    photos: list[Image.Image]
    drawn: list[Image.Image]
    outlines: list[np.ndarray]
    photographed: list[Image.Image]
    scenes: list[Image.Image] = field(default_factory=list)
    landscapes: list[Image.Image] = field(default_factory=list)
    clutter: list[Image.Image] = field(default_factory=list)
    monuments: list[Image.Image] = field(default_factory=list)
    skylines: list[Image.Image] = field(default_factory=list)


def find_sources(with_clutter: bool = False, with_monuments: bool = False,
                 with_skylines: bool = False) -> ObjectSources:
    """The photographs, stamps and fonts of this machine (APT_COMMAND installs them); the scenes with unmarked
    things, the monuments and the skylines only when asked for (a set without them needs none of Palapeli,
    Extreme Tux Racer and GCompris)."""
    photos = [load_photo(path) for path in tqdm(find_photos(), desc="photographs", unit="photo")]
    drawn = render_emoji()
    photographed = [load_cut_out(path) for path in find_photographed()]
    scenes = [load_photo(path) for path in find_scenes()]
    return ObjectSources(photos, drawn, render_outlines(drawn), photographed, scenes, find_landscapes(),
                         find_clutter() if with_clutter else [], find_monuments() if with_monuments else [],
                         find_skylines() if with_skylines else [])


SOURCE_PICTURES = ("photos", "drawn", "photographed", "scenes", "landscapes", "clutter", "monuments", "skylines")


def save_sources(sources: ObjectSources, path: Path) -> None:
    """Every picture of `sources` in one zip file, losslessly (PNG; the outlines as .npy), so that a machine
    without the Debian packages (a rented GPU, another system) builds the very same images from it."""
    partial = path.with_name(path.name + ".partial")  # never a half-written file under the final name
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for kind in SOURCE_PICTURES:
            for i, picture in enumerate(getattr(sources, kind)):
                encoded = io.BytesIO()
                picture.save(encoded, "PNG")
                archive.writestr(f"{kind}/{i:05d}.png", encoded.getvalue())
        for i, outline in enumerate(sources.outlines):
            encoded = io.BytesIO()
            np.save(encoded, outline, allow_pickle=False)
            archive.writestr(f"outlines/{i:05d}.npy", encoded.getvalue())
    partial.replace(path)


def load_sources(path: Path) -> ObjectSources:
    """The sources save_sources wrote to path."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise UserError(f"--sources {path}: cannot read it ({error}); make one with --save-sources") from None
    with archive:
        names = sorted(archive.namelist())

        def members(kind: str) -> list[bytes]:
            return [archive.read(name) for name in names if name.startswith(f"{kind}/")]

        pictures = {kind: [Image.open(io.BytesIO(data)).copy() for data in members(kind)] for kind in SOURCE_PICTURES}
        outlines = [np.load(io.BytesIO(data), allow_pickle=False) for data in members("outlines")]
    if not pictures["photos"] or not pictures["drawn"] or not outlines:
        raise UserError(f"--sources {path}: holds no photographs, drawn objects or outlines; make it with "
                        "--save-sources")
    return ObjectSources(pictures["photos"], pictures["drawn"], outlines, pictures["photographed"], pictures["scenes"],
                         pictures["landscapes"], pictures["clutter"], pictures["monuments"], pictures["skylines"])


def get_sources(sources_file: Path | None, shares: dict[str, float]) -> ObjectSources:
    """The pictures from a --save-sources file, or from this machine's Debian packages (then only the kinds the
    shares use)."""
    if sources_file is not None:
        return load_sources(sources_file)
    clutter = shares["clutter_share"] > 0
    return find_sources(with_clutter=clutter, with_monuments=clutter and shares["monument_share"] > 0,
                        with_skylines=(shares["scene_share"] > 0 and shares["landscape_share"] > 0
                                       and shares["skyline_share"] > 0))


def write_set(out: Path, count: int, seed: int, sources: ObjectSources,
              photographed_share: float = PHOTOGRAPHED_SHARE, scene_share: float = SCENE_SHARE,
              landscape_share: float = LANDSCAPE_SHARE, clutter_share: float = CLUTTER_SHARE,
              monument_share: float = MONUMENT_SHARE, skyline_share: float = SKYLINE_SHARE,
              decoy_share: float = DECOY_SHARE, first_index: int = 0, progress: bool = True) -> None:
    """count images and masks into out/imgs and out/masks, numbered from first_index: a crop of one wallpaper,
    scene photograph, landscape, skyline or scene with unmarked things (each of a kind used once before any comes
    again) with one to three objects on it; decoys (utils.compositing.decoy_patch) below them in decoy_share of
    the images, of the background's own photograph or of a wallpaper, scene or landscape."""
    if scene_share > 0 and not sources.scenes:
        raise ValueError("scene_share > 0 needs scene photographs in sources.scenes")
    if scene_share > 0 and landscape_share > 0 and not sources.landscapes:
        raise ValueError("landscape_share > 0 needs landscapes in sources.landscapes")
    if clutter_share > 0 and not sources.clutter:
        raise ValueError("clutter_share > 0 needs scenes with unmarked things in sources.clutter")
    if clutter_share > 0 and monument_share > 0 and not sources.monuments:
        raise ValueError("monument_share > 0 needs monuments in sources.monuments")
    if scene_share > 0 and landscape_share > 0 and skyline_share > 0 and not sources.skylines:
        raise ValueError("skyline_share > 0 needs skylines in sources.skylines")
    rng = np.random.default_rng(seed)
    next_background = Cycle(len(sources.photos), rng)
    next_scene = Cycle(len(sources.scenes), rng)
    next_landscape = Cycle(len(sources.landscapes), rng)  # draws nothing until used
    next_clutter = Cycle(len(sources.clutter), rng)
    next_monument = Cycle(len(sources.monuments), rng)
    next_skyline = Cycle(len(sources.skylines), rng)
    decoy_textures = sources.photos + sources.scenes + sources.landscapes
    (out / "imgs").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for i in tqdm(range(first_index, first_index + count), desc="images", unit="img", disable=not progress):
        # No draw at share 0, so the random stream, and the set, is that of the sets made before scenes existed.
        if clutter_share > 0 and rng.random() < clutter_share:
            if monument_share > 0 and rng.random() < monument_share:
                background_picture = sources.monuments[next_monument.next()]
            else:
                background_picture = sources.clutter[next_clutter.next()]
        elif scene_share > 0 and rng.random() < scene_share:
            if landscape_share > 0 and rng.random() < landscape_share:
                if skyline_share > 0 and rng.random() < skyline_share:
                    background_picture = sources.skylines[next_skyline.next()]
                else:
                    background_picture = sources.landscapes[next_landscape.next()]
            else:
                background_picture = sources.scenes[next_scene.next()]
        else:
            background_picture = sources.photos[next_background.next()]
        objects = []
        for _ in range(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])):
            kind = rng.random()  # one draw whatever the shares, so share 0 makes the earlier set exactly
            if kind < DRAWN_SHARE:
                objects.append(sources.drawn[rng.integers(len(sources.drawn))])
            elif kind < DRAWN_SHARE + photographed_share:
                objects.append(sources.photographed[rng.integers(len(sources.photographed))])
            else:
                texture = rng.integers(len(sources.photos))  # may be the background's own photograph: no colour cue
                outline = sources.outlines[rng.integers(len(sources.outlines))]
                objects.append(photo_filled(outline, sources.photos[texture], rng))
        image, mask = make_example(background_picture, objects, rng, decoy_share, decoy_textures)
        name = f"object_{i:05d}"
        image.save(out / "imgs" / f"{name}.jpg", quality=92)
        save_mask_gif(mask, out / "masks" / f"{name}_mask.gif")


SHARE_NAMES = ("photographed_share", "scene_share", "landscape_share", "clutter_share", "monument_share",
               "skyline_share", "decoy_share")


def shard_sizes(count: int, shards: int) -> list[int]:
    """The images in each of `shards` pieces of a set of `count`: as even as it goes, the larger pieces first."""
    return [count // shards + (k < count % shards) for k in range(shards)]


_worker_sources: ObjectSources | None = None  # each writing process's copy (inherited, or sent once at its start)


def _keep_sources(sources: ObjectSources) -> None:
    global _worker_sources
    _worker_sources = sources


def _write_piece(task: tuple) -> int:
    out, size, seed, first_index, shares = task
    write_set(out, size, seed, _worker_sources, **shares, first_index=first_index, progress=False)
    return size


def write_shards(out: Path, count: int, seed: int, shards: int, jobs: int, sources: ObjectSources,
                 **shares: float) -> None:
    """The set in `shards` independent pieces written by `jobs` processes: piece k is write_set from seed + k,
    numbered on from the pieces before it. The images depend on (count, seed, shards), never on jobs, and one
    piece is write_set itself: a large set is made at the speed of all the cores, and made again the same."""
    if shards == 1:
        write_set(out, count, seed, sources, **shares)
        return
    sizes = shard_sizes(count, shards)
    tasks = [(out, size, seed + k, sum(sizes[:k]), shares) for k, size in enumerate(sizes)]
    with tqdm(total=count, desc="images", unit="img") as bar:
        if jobs == 1:
            _keep_sources(sources)
            for done in map(_write_piece, tasks):
                bar.update(done)
            return
        with multiprocessing.Pool(jobs, initializer=_keep_sources, initargs=(sources,)) as pool:
            for done in pool.imap_unordered(_write_piece, tasks):
                bar.update(done)


def default_jobs(shards: int) -> int:
    """One process per core, no more than there are pieces."""
    return max(1, min(shards, os.cpu_count() or 1))


def shares_of(args: argparse.Namespace) -> dict[str, float]:
    """write_set's share arguments from the command line's."""
    return {name: getattr(args, name) for name in SHARE_NAMES}


def check_shards(count: int, shards: int, jobs: int | None) -> int:
    """The processes to write the pieces with (--jobs, or default_jobs); a one-line error for --shards or --jobs
    out of range."""
    jobs = default_jobs(shards) if jobs is None else jobs
    if not 1 <= shards <= count:
        raise UserError(f"--shards {shards}: give from 1 to --count ({count}) pieces")
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: give at least 1 process")
    return jobs


def get_args():
    parser = argparse.ArgumentParser(description="Make the pretraining set of objects pasted on photographs")
    parser.add_argument("--count", "-n", type=int, default=12000, help="Number of images")
    parser.add_argument("--out", "-o", type=Path, default=None, help="Folder that gets imgs/ and masks/")
    parser.add_argument("--seed", type=int, default=0, help="Random seed (same seed, same images)")
    parser.add_argument("--photographed-share", type=float, default=PHOTOGRAPHED_SHARE,
                        help="Share of the objects that are photographed things (0 to %.2f)" % (1 - DRAWN_SHARE))
    parser.add_argument("--scene-share", type=float, default=SCENE_SHARE,
                        help="Share of the images whose background is a scene photograph (0 to 1)")
    parser.add_argument("--landscape-share", type=float, default=LANDSCAPE_SHARE,
                        help="Share of the scene backgrounds that are Stellarium landscapes (0 to 1)")
    parser.add_argument("--clutter-share", type=float, default=CLUTTER_SHARE,
                        help="Share of the images whose background shows unmarked things (0 to 1)")
    parser.add_argument("--monument-share", type=float, default=MONUMENT_SHARE,
                        help="Share of the backgrounds with unmarked things that are GCompris' monuments (0 to 1)")
    parser.add_argument("--skyline-share", type=float, default=SKYLINE_SHARE,
                        help="Share of the landscape backgrounds that are skylines: a landscape with the rows above "
                             "its ground, over a sky (0 to 1)")
    parser.add_argument("--decoy-share", type=float, default=DECOY_SHARE,
                        help="Share of the images with one or two unmarked decoys below the objects: irregular, "
                             "sharp-edged patches of a photograph (0 to 1)")
    parser.add_argument("--shards", type=int, default=1,
                        help="Make the set in this many independent pieces (piece k from --seed + k), so that "
                             "--jobs processes can write it; the images depend on --shards, not on --jobs")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="Processes that write the pieces (default: one per core, at most --shards)")
    parser.add_argument("--save-sources", type=Path, default=None, metavar="FILE",
                        help="Only write every picture the sets are made of to FILE (a zip, about 200 MB), for "
                             "--sources on a machine without the Debian packages")
    parser.add_argument("--sources", type=Path, default=None, metavar="FILE",
                        help="Read the pictures from FILE (written by --save-sources) instead of the Debian packages")
    return parser.parse_args()


def check_shares(photographed_share: float, scene_share: float, landscape_share: float, clutter_share: float,
                 monument_share: float, skyline_share: float = SKYLINE_SHARE,
                 decoy_share: float = DECOY_SHARE) -> None:
    """A one-line error for a share out of its range."""
    if not 0 <= photographed_share <= 1 - DRAWN_SHARE:
        raise UserError(f"--photographed-share {photographed_share}: give a share from 0 to {1 - DRAWN_SHARE:.2f} "
                        f"(the drawn emoji are {DRAWN_SHARE:.2f} of the objects)")
    if not 0 <= scene_share <= 1:
        raise UserError(f"--scene-share {scene_share}: give a share from 0 to 1")
    if not 0 <= landscape_share <= 1:
        raise UserError(f"--landscape-share {landscape_share}: give a share from 0 to 1")
    if not 0 <= clutter_share <= 1:
        raise UserError(f"--clutter-share {clutter_share}: give a share from 0 to 1")
    if not 0 <= monument_share <= 1:
        raise UserError(f"--monument-share {monument_share}: give a share from 0 to 1")
    if not 0 <= skyline_share <= 1:
        raise UserError(f"--skyline-share {skyline_share}: give a share from 0 to 1")
    if not 0 <= decoy_share <= 1:
        raise UserError(f"--decoy-share {decoy_share}: give a share from 0 to 1")


def main():
    args = get_args()
    if args.save_sources is not None:
        sources = find_sources(with_clutter=True, with_monuments=True, with_skylines=True)
        save_sources(sources, args.save_sources)
        print(f"INFO: wrote the pictures to {args.save_sources} ({args.save_sources.stat().st_size / 1e6:.0f} MB); "
              f"build sets from them anywhere with --sources {args.save_sources}")
        return
    if args.out is None:
        raise UserError("--out: give the folder for the set's imgs/ and masks/, e.g. --out /tmp/pretraining")
    if args.count < 1:
        raise UserError(f"--count {args.count}: give at least 1 image")
    check_shares(**shares_of(args))
    jobs = check_shards(args.count, args.shards, args.jobs)
    if (args.out / "imgs").exists() and any((args.out / "imgs").iterdir()):
        raise UserError(f"{args.out}/imgs is not empty; give another --out or delete it")
    sources = get_sources(args.sources, shares_of(args))
    print(f"INFO: {len(sources.photos)} photographs, {len(sources.drawn)} drawn objects, "
          f"{len(sources.outlines)} outlines, {len(sources.photographed)} photographed things, "
          f"{len(sources.scenes)} scene photographs, {len(sources.landscapes)} landscape pieces, "
          f"{len(sources.clutter)} scenes with unmarked things, {len(sources.monuments)} monuments, "
          f"{len(sources.skylines)} skylines")
    write_shards(args.out, args.count, args.seed, args.shards, jobs, sources, **shares_of(args))
    print(f"INFO: wrote {args.count} images to {args.out}/imgs and their masks to {args.out}/masks")


if __name__ == "__main__":
    run_cli(main)
