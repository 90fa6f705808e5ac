"""What the pretraining images are made of: photographs, fonts and stamps from Debian packages (APT_COMMAND).

A U-Net trained from random weights on 60 photos learns colours more than what an "object" is. So the shipped
weights first learnt, from many generated images, to mark the objects pasted on a photograph. The objects are
drawn emoji (Noto Color Emoji), outlines of emoji and Symbola pictographs filled with a piece of another
photograph, and photographed things (photographic Tux Paint stamps of kinds the photo benchmark never uses:
vehicles, signs, planets...). The backgrounds are desktop wallpapers (most of them drawn or rendered), photographs
of natural scenes (Tux Paint's templates: bark, rocks, waves, leaves...), the ground of Stellarium's photographed
panoramas (fields, meadows, snowy woods), and scenes that show unmarked things (a lighthouse, houses, a castle, a
bridge, mountains under clouds, GCompris' 49 photographs of monuments), since a photograph behind an object is
seldom empty and only the pasted objects are to be marked. No picture is one of the photo benchmark's
(pretrained/photo_pools.py), and no stamp is of one of its kinds: the weights never saw a photograph or an object
of the benchmark's sets.

save_sources packs every picture in one zip file, so that a machine without the packages (a rented GPU) builds the
very same images from it (make_pretraining_data.py --save-sources, then --sources).
"""
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from tqdm import tqdm

from pretrained.compositing import crop_to_opaque, load_photo
from pretrained.photo_pools import BACKGROUNDS as BENCHMARK_PHOTOS
from pretrained.photo_pools import STAMP_KINDS as BENCHMARK_STAMP_KINDS
from pretrained.photo_pools import STAMPS, find_cut_outs, load_cut_out
from pretrained.qt_resources import read_qt_resources
from pretrained.recipe import Recipe
from utils.errors import UserError

APT_COMMAND = ("sudo apt-get install fonts-noto-color-emoji fonts-symbola ukui-wallpapers lomiri-wallpapers-20.04 "
               "gnome-backgrounds plasma-workspace-wallpapers mate-backgrounds tuxpaint-stamps-default stellarium-data "
               "palapeli-data extremetuxracer-data gcompris-qt-data")
PHOTO_FOLDERS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
SCENE_FOLDER = Path("/usr/share/tuxpaint/templates")
# Templates that show a thing (jellyfish, a lighthouse, sheep, a machine): a background must not hold an unmarked
# object, or the model learns to leave objects out.
SCENES_LEFT_OUT = ("jellyfish", "lighthouse", "sheep", "wool_mill_machine")
LANDSCAPE_FOLDER = Path("/usr/share/stellarium/landscapes")
# Stellarium's photographed panoramas of the ground: a rapeseed field, meadows, a village, snowy woods. Its Mars
# and Moon show a rover and an astronaut (unmarked things), and its ocean and trees are drawn.
LANDSCAPES = ("garching", "grossmugl", "guereins", "hurricane")
LANDSCAPE_PIECES_LEFT_OUT = ("guereins8", "hurricane5")  # houses, parked cars: unmarked things
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
# GCompris' photographs of monuments (pyramids, castles, cathedrals, bridges, a tower) in their landscapes.
MONUMENTS = Path("/usr/share/gcompris-qt/rcc/explore_monuments.rcc")
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
# Tux Paint stamp folders none of the benchmark's kinds (photo_pools.STAMP_KINDS) is in or under. Left out: plants
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
    photographed things (RGBA cut-outs), outlines (0..1), and the other backgrounds: scene photographs, landscapes,
    scenes with unmarked things and monuments."""
    photos: list[Image.Image]
    drawn: list[Image.Image]
    outlines: list[np.ndarray]
    photographed: list[Image.Image]
    scenes: list[Image.Image] = field(default_factory=list)
    landscapes: list[Image.Image] = field(default_factory=list)
    clutter: list[Image.Image] = field(default_factory=list)
    monuments: list[Image.Image] = field(default_factory=list)


def find_sources(with_clutter: bool = True, with_monuments: bool = True) -> ObjectSources:
    """The photographs, stamps and fonts of this machine (APT_COMMAND installs them); the scenes with unmarked
    things and the monuments only when asked for (a set without them needs none of Palapeli, Extreme Tux Racer
    and GCompris)."""
    photos = [load_photo(path) for path in tqdm(find_photos(), desc="photographs", unit="photo")]
    drawn = render_emoji()
    photographed = [load_cut_out(path) for path in find_photographed()]
    scenes = [load_photo(path) for path in find_scenes()]
    return ObjectSources(photos, drawn, render_outlines(drawn), photographed, scenes, find_landscapes(),
                         find_clutter() if with_clutter else [], find_monuments() if with_monuments else [])


SOURCE_PICTURES = ("photos", "drawn", "photographed", "scenes", "landscapes", "clutter", "monuments")


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
                         pictures["landscapes"], pictures["clutter"], pictures["monuments"])


def get_sources(sources_file: Path | None, recipe: Recipe) -> ObjectSources:
    """The pictures from a --save-sources file, or from this machine's Debian packages (then only the kinds the
    recipe uses)."""
    if sources_file is not None:
        return load_sources(sources_file)
    clutter = recipe.clutter_share > 0
    return find_sources(with_clutter=clutter, with_monuments=clutter and recipe.monument_share > 0)
