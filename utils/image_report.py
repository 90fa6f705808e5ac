"""The summary evaluate.py prints (mean_scores), and its --report page: every image beside its true mask, its
predicted mask and an overlay with the wrong pixels marked, worst Dice first, under that same summary.

The masks on the page are predicted with utils.inference.predict_img and the same settings as the scores, and
the Dice and IoU shown are the printed rows themselves, so the page and the table agree.
"""
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .data_loading import BasicDataset, image_to_tensor, load_image
from .errors import raise_if_interrupted
from .inference import predict_img
from .report import ReportFolder, bar, esc, html_table, page, picture

PICTURE_SIDE = 360  # the longest side of the page's pictures, in pixels: 32 kB per 1918x1280 photo, all 4 of them
EAGER_CARDS = 8  # the first images load with the page, the others as they are scrolled near
# Classes on the mask pictures: background black, the object white (binary), or one colour per class
CLASS_COLOURS = [(0, 0, 0), (255, 255, 255), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
                 (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230), (170, 110, 40), (128, 128, 128)]
# The overlay: what is right is tinted green, each kind of wrong pixel gets its colour
CORRECT_COLOUR = (40, 200, 90)
ERROR_COLOURS = {"missed": (255, 30, 30), "extra": (0, 150, 255), "other class": (255, 170, 0)}
ERROR_HELP = {"missed": "object in the true mask, background in the prediction",
              "extra": "background in the true mask, object in the prediction",
              "other class": "another object class than the true one"}


def mean_scores(rows: Sequence[tuple[str, float, float]]) -> tuple[float, float]:
    """The mean Dice and mean IoU of score_images' rows: the 'mean' line evaluate.py prints and writes to the CSV,
    and the summary on top of its report."""
    return sum(row[1] for row in rows) / len(rows), sum(row[2] for row in rows) / len(rows)


def error_maps(prediction: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean (H, W) maps of the wrong pixels by kind (ERROR_COLOURS' keys), from class-index masks."""
    return {"missed": (truth > 0) & (prediction == 0),
            "extra": (truth == 0) & (prediction > 0),
            "other class": (truth > 0) & (prediction > 0) & (truth != prediction)}


def picture_size(width: int, height: int) -> tuple[int, int]:
    """At most PICTURE_SIDE on the longest side; small images keep their size."""
    factor = min(1.0, PICTURE_SIDE / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def mask_picture(classes: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Class indices as a palette picture (CLASS_COLOURS), shrunk to `size` without inventing classes."""
    shown = Image.fromarray((classes % len(CLASS_COLOURS)).astype(np.uint8))
    shown.putpalette([value for colour in CLASS_COLOURS for value in colour])  # L becomes P
    return shown.resize(size, Image.NEAREST)


def shrunk_fraction(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The fraction of each picture pixel that `mask` covers, (h, w) in 0..1."""
    return np.asarray(Image.fromarray(mask.astype(np.float32)).resize(size, Image.BOX))


def overlay_picture(rgb: np.ndarray, prediction: np.ndarray, truth: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The image, dimmed, with the right object pixels tinted green and the wrong ones in ERROR_COLOURS. A wrong
    pixel still shows when the picture shrinks: any picture pixel that holds one is coloured."""
    base = np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS), dtype=np.float32) * 0.65 + 30
    correct = shrunk_fraction((truth > 0) & (truth == prediction), size)[..., None]
    base = base * (1 - 0.3 * correct) + 0.3 * correct * np.array(CORRECT_COLOUR, np.float32)
    for kind, wrong in error_maps(prediction, truth).items():
        covered = shrunk_fraction(wrong, size) > 0
        base[covered] = 0.15 * base[covered] + 0.85 * np.array(ERROR_COLOURS[kind], np.float32)
    return Image.fromarray(np.clip(base + 0.5, 0, 255).astype(np.uint8))


def image_card(report: ReportFolder, index: int, name: str, dice: float, iou: float, rank: int, total: int,
               rgb: np.ndarray, prediction: np.ndarray, truth: np.ndarray) -> tuple[str, dict[str, float]]:
    """One image's section of the page, and the share of its pixels of each kind of error."""
    size = picture_size(rgb.shape[1], rgb.shape[0])
    files = {}
    for kind, shown, suffix in (("image", Image.fromarray(rgb).resize(size, Image.LANCZOS), "jpg"),
                                ("truth", mask_picture(truth, size), "png"),
                                ("prediction", mask_picture(prediction, size), "png"),
                                ("overlay", overlay_picture(rgb, prediction, truth, size), "jpg")):
        path, files[kind] = report.file(f"images/{index:05d}_{kind}.{suffix}")
        if suffix == "jpg":
            shown.save(path, quality=85)
        else:
            shown.save(path, optimize=True)
    shares = {kind: float(wrong.mean()) for kind, wrong in error_maps(prediction, truth).items()}
    errors = ", ".join(f"{kind} {100 * share:.1f}%" for kind, share in shares.items()
                       if share > 0 or kind != "other class")
    lazy = rank > EAGER_CARDS
    pictures = "".join(picture(files[kind], caption, f"{name}: {caption}", lazy) for kind, caption in (
        ("image", "image"), ("truth", "true mask"), ("prediction", "predicted mask"),
        ("overlay", "overlay: wrong pixels marked")))
    return (f'<section id="image-{index}"><h2>{esc(name)}<span class="score">Dice {dice:.4f} · IoU {iou:.4f}</span> '
            f"<small>worst {rank} of {total} · wrong pixels: {errors}</small></h2>"
            f'<div class="pictures">{pictures}</div></section>'), shares


@torch.inference_mode()
def write_image_report(report: ReportFolder, net: torch.nn.Module, dataset: BasicDataset,
                       rows: Sequence[tuple[str, float, float]], device: torch.device, scale: float,
                       mask_threshold: float, tta: bool, tta_scales: Sequence[float], subtitle: str) -> str:
    """The page of score_images' `rows` (all on dataset): each image predicted again with predict_img and the
    same settings. Returns the HTML, for report.finish()."""
    index_of = {name: index for index, name in enumerate(dataset.ids)}
    mean_dice, mean_iou = mean_scores(rows)
    ranked = sorted(rows, key=lambda row: (row[1], row[0]))  # worst Dice first
    cards, shares = [], {}
    for rank, (name, dice, iou) in enumerate(ranked, 1):
        raise_if_interrupted()
        index = index_of[name]
        image = load_image(dataset.image_files[index])
        prediction = predict_img(net, image, device, scale, mask_threshold, tta, tta_scales)
        rgb = (image_to_tensor(image).numpy().transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)  # as the model sees it
        card, shares[name] = image_card(report, index, name, dice, iou, rank, len(rows), rgb, prediction,
                                        dataset.mask_classes(index))
        cards.append(card)

    ranking = html_table(
        ["worst first", "Dice", "IoU", f"Dice from 0 to 1 (mark: the mean, {mean_dice:.4f})", "missed", "extra"],
        [[f'<a href="#image-{index_of[name]}">{esc(name)}</a>', f"{dice:.4f}", f"{iou:.4f}",
          bar(dice, 0.0, 1.0, [(mean_dice, "#111", f"mean Dice {mean_dice:.4f}")], poor=dice < mean_dice),
          f"{100 * shares[name]['missed']:.1f}%", f"{100 * shares[name]['extra']:.1f}%"]
         for name, dice, iou in ranked], "ranking")
    kinds = [kind for kind in ERROR_COLOURS if kind != "other class" or net.n_classes > 2]
    legend = " ".join(f'<span class="key" style="background:rgb{ERROR_COLOURS[kind]}"></span>{esc(kind)}: '
                      f"{esc(ERROR_HELP[kind])};" for kind in kinds)
    summary = (f'<section><h2>Mean Dice {mean_dice:.4f} · mean IoU {mean_iou:.4f} <small>over {len(rows)} images, '
               "as evaluate.py prints them</small></h2>"
               f'<div class="overview">{ranking}</div>'
               '<p class="note">Dice = 2 × overlap / (predicted area + true area), IoU = overlap / union, from 0 '
               "(no overlap) to 1 (perfect), averaged over the object classes. Worst first: the images at the top "
               "are where the model fails. Missed and extra: share of the image's pixels.</p>"
               f'<p class="note">Overlay: <span class="key" style="background:rgb{CORRECT_COLOUR}"></span>right '
               f"object pixels; {legend} a wrong pixel is drawn even where the picture shrinks the image, so thin "
               "errors along the edges stay visible.</p></section>")
    title = f"Segmentation report: {len(rows)} images, mean Dice {mean_dice:.4f}"
    return page(title, subtitle, summary + "\n".join(cards))
