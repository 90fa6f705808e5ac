"""Images and masks for segmentation: reading, mask values to class indices, augmentation, the train/val split.

A mask stores one value per pixel (0/255, 0/1, grey levels, palette indices or RGB colours). The model
needs class indices 0..K-1, so the dataset scans every mask once, keeps the sorted distinct values in
`mask_values`, and class index = position in that list. predict.py turns indices back into the original
values with `classes_to_mask`, so its masks look like the ones you trained on. Reading and resizing images,
which needs no PyTorch, lives in utils/images.py.
"""
import copy
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter
from torch.utils.data import Dataset, Subset
from tqdm import tqdm

from .errors import UserError
from .images import (IMAGE_EXTENSIONS, MaskValues, check_scale, image_array, load_image, resize_by_scale, scaled_size,
                     to_rgb)


def image_to_tensor(image: Image.Image, scale: float = 1.0) -> torch.Tensor:
    """A PIL image as a float tensor (3, H, W) in 0..1, resized by scale (bicubic)."""
    return torch.from_numpy(image_array(image, scale))


# ---------------------------------------------------------------------------------------------
# Mask values <-> class indices


def mask_to_array(mask: Image.Image) -> np.ndarray:
    """Mask pixel values: HxW for single-channel masks (palette masks give palette indices),
    HxWx3 for colour masks. Colour masks whose pixels are all grey count as single-channel."""
    if mask.mode in ("RGB", "RGBA"):
        array = np.asarray(mask.convert("RGB"))
        if (array[:, :, 0] == array[:, :, 1]).all() and (array[:, :, 1] == array[:, :, 2]).all():
            return array[:, :, 0]
        return array
    if mask.mode == "LA":
        mask = mask.getchannel("L")  # drop the alpha channel
    elif mask.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        mask = mask.convert("L")  # e.g. 1-bit masks become 0/255
    return np.asarray(mask).astype(np.int64)


def _distinct_values(array: np.ndarray) -> set:
    if array.ndim == 3:  # pack r, g, b into one number so np.unique works on pixels, not channels
        packed = (array[:, :, 0].astype(np.int64) << 16) | (array[:, :, 1].astype(np.int64) << 8) | array[:, :, 2]
        return {(int(p) >> 16, (int(p) >> 8) & 255, int(p) & 255) for p in np.unique(packed)}
    if array.dtype == np.uint8 or (array.size and array.min() >= 0 and array.max() < 256):
        return {int(v) for v in np.flatnonzero(np.bincount(array.ravel(), minlength=256))}  # fast path
    return {int(v) for v in np.unique(array)}


def _sorted_values(values: set) -> MaskValues:
    """Plain Python ints or [r, g, b] lists, so the list can be stored in a weights_only checkpoint."""
    if any(isinstance(v, tuple) for v in values):  # colour masks: grey values become grey colours
        colours = {v if isinstance(v, tuple) else (v, v, v) for v in values}
        return [list(c) for c in sorted(colours)]
    return sorted(values)


def mask_to_classes(mask_array: np.ndarray, mask_values: MaskValues) -> np.ndarray:
    """Pixel values -> class indices (H, W) int64: class k is the pixel value mask_values[k]."""
    if _is_colour(mask_values):
        if mask_array.ndim == 2:
            mask_array = np.repeat(mask_array[:, :, None], 3, axis=2)
        classes = np.full(mask_array.shape[:2], -1, dtype=np.int64)
        for index, colour in enumerate(mask_values):
            classes[(mask_array == np.asarray(colour)).all(axis=2)] = index
    else:
        if mask_array.ndim == 3:
            raise UserError("mask has colour pixels but the known mask values are single numbers "
                            f"{_shorten(mask_values)}; use masks of the same kind as in training")
        values = np.asarray(mask_values)
        positions = np.clip(np.searchsorted(values, mask_array), 0, len(values) - 1)
        classes = np.where(values[positions] == mask_array, positions, -1).astype(np.int64)
    if (classes < 0).any():
        unknown = _distinct_values(mask_array) - _as_keys(mask_values)
        raise UserError(f"mask has values {_shorten(sorted(unknown))} that are not among the mask values "
                        f"{_shorten(mask_values)}; use masks with the same values as in training")
    return classes



def _is_colour(mask_values: MaskValues) -> bool:
    return bool(mask_values) and isinstance(mask_values[0], (list, tuple))


def _as_keys(mask_values: MaskValues) -> set:
    """Mask values as a set ([r, g, b] lists become tuples, which sets can hold)."""
    return {tuple(v) if isinstance(v, (list, tuple)) else v for v in mask_values}


def _shorten(values: list, limit: int = 8) -> str:
    """A long value list as its first few items plus how many more (never silently cut)."""
    values = [list(v) if isinstance(v, tuple) else v for v in values]
    if len(values) <= limit:
        return str(values)
    return str(values[:limit])[:-1] + f", ... ({len(values) - limit} more)]"


# ---------------------------------------------------------------------------------------------
# Augmentation: geometry applied identically to image and mask; colour to the image only.


# How far each kind of augmentation goes: "light" (the tutorial's default for its demo cars) and "strong" (for
# real photos, where lighting, framing and the object's pose change from one photo to the next).
AUGMENTATIONS = {
    "light": {"rotate_p": 0.3, "degrees": 10, "min_area": 0.6, "jitter": 0.2, "hue": 0.0, "blur_p": 0.0},
    "strong": {"rotate_p": 0.5, "degrees": 30, "min_area": 0.35, "jitter": 0.4, "hue": 0.05, "blur_p": 0.2},
}


def augment_pair(image: Image.Image, mask: Image.Image, strength: str = "light") -> tuple[Image.Image, Image.Image]:
    """Random flip, rotation, random resized crop and colour jitter, as far as AUGMENTATIONS[strength] says
    (strong adds hue shifts and blur). The mask uses nearest-neighbour so it keeps exact class indices.
    Randomness comes from torch, so DataLoader workers and --seed give different, reproducible draws."""
    settings = AUGMENTATIONS[strength]
    width, height = image.size
    if torch.rand(1).item() < 0.5:
        image, mask = image.transpose(Image.FLIP_LEFT_RIGHT), mask.transpose(Image.FLIP_LEFT_RIGHT)
    if torch.rand(1).item() < settings["rotate_p"]:
        angle = _uniform(-settings["degrees"], settings["degrees"])
        image = image.rotate(angle, resample=Image.BILINEAR)
        mask = mask.rotate(angle, resample=Image.NEAREST)  # corners filled with class 0, background
    # Random resized crop: a box of min_area-100% of the area, aspect ratio 3/4..4/3, stretched back to full size.
    area = _uniform(settings["min_area"], 1.0) * width * height
    aspect = float(np.exp(_uniform(np.log(3 / 4), np.log(4 / 3))))
    crop_w, crop_h = min(width, np.sqrt(area * aspect)), min(height, np.sqrt(area / aspect))
    left, top = _uniform(0, width - crop_w), _uniform(0, height - crop_h)
    box = (left, top, left + crop_w, top + crop_h)
    image = image.resize((width, height), resample=Image.BICUBIC, box=box)
    mask = mask.resize((width, height), resample=Image.NEAREST, box=box)
    # Colour jitter, image only: the mask does not change when the light does.
    jitter = settings["jitter"]
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        image = enhancer(image).enhance(_uniform(1 - jitter, 1 + jitter))
    if settings["hue"]:
        image = _shift_hue(image, _uniform(-settings["hue"], settings["hue"]))
    if torch.rand(1).item() < settings["blur_p"]:  # an out-of-focus photo
        image = image.filter(ImageFilter.GaussianBlur(_uniform(0.5, 1.5)))
    return image, mask


def _shift_hue(image: Image.Image, shift: float) -> Image.Image:
    """Turn the colour wheel by `shift` of a full turn (white light of another colour temperature)."""
    hue, saturation, value = to_rgb(image).convert("HSV").split()
    hue = hue.point(lambda h: (h + round(shift * 256)) % 256)
    return Image.merge("HSV", (hue, saturation, value)).convert("RGB")


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(1).item()


# ---------------------------------------------------------------------------------------------
# The dataset


class BasicDataset(Dataset):
    """Pairs imgs/NAME.ext with masks/NAME<mask_suffix>.ext. Items: {'image': float32 (3, H, W) in 0..1,
    'mask': int64 (H, W) class indices}. Every file is checked when the dataset is made, so a bad file
    stops the run before training, with a message naming it."""

    def __init__(self, images_dir: str | Path, masks_dir: str | Path, scale: float = 1.0,
                 mask_suffix: str | None = None, n_classes: int = 2, augment: bool = False,
                 mask_values: MaskValues | None = None, augmentation: str = "light"):
        self.images_dir, self.masks_dir = Path(images_dir), Path(masks_dir)
        self.scale, self.n_classes, self.augment = scale, n_classes, augment
        if augmentation not in AUGMENTATIONS:
            raise UserError(f"--augmentation {augmentation}: unknown; use one of {', '.join(AUGMENTATIONS)}")
        self.augmentation = augmentation
        check_scale(scale)

        # 1. Find the images and their masks.
        _check_folder(self.images_dir)
        _check_folder(self.masks_dir)
        images = _list_images(self.images_dir)
        masks = _list_images(self.masks_dir)
        if not images:
            raise UserError(f"{self.images_dir}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}); "
                            "put your images there")
        self.mask_suffix = _detect_mask_suffix(images, masks) if mask_suffix is None else mask_suffix
        for name, files in images.items():
            if len(files) > 1:
                raise UserError(f"{self.images_dir}: several images are named {name} "
                                f"({', '.join(f.name for f in files)}); keep only one")
        self.ids = sorted(images)
        self.image_files = [images[name][0] for name in self.ids]
        self.mask_files = [self._find_mask(name, masks) for name in self.ids]
        logging.info(f"Creating dataset with {len(self.ids)} examples")

        # 2. Read every mask once: check sizes and collect the distinct values.
        found = self._scan_masks()
        if mask_values is None:
            mask_values = _sorted_values(found)
            if n_classes <= 2 and len(mask_values) == 1:
                # Every mask is one value: treat 0 as background and anything else as the object.
                mask_values = [0, 255] if mask_values == [0] else _sorted_values({0, *found})
        self.mask_values = mask_values
        self._check_mask_values(found)
        logging.info(f"Mask values: {_shorten(self.mask_values)}")

    def _find_mask(self, name: str, masks: dict[str, list[Path]]) -> Path:
        candidates = masks.get(name + self.mask_suffix, [])
        if not candidates:
            raise UserError(f"{self.image_files[self.ids.index(name)]}: no mask found (expected "
                            f"{self.masks_dir / (name + self.mask_suffix)}.png or another image type); "
                            "add its mask or move the image out of the folder")
        if len(candidates) > 1:
            raise UserError(f"{self.image_files[self.ids.index(name)]}: several masks match "
                            f"({', '.join(str(c) for c in candidates)}); keep only one")
        return candidates[0]

    def _scan_masks(self) -> set:
        values = set()
        smallest = (1 << 30, 1 << 30)
        pairs = zip(self.image_files, self.mask_files)
        for image_file, mask_file in tqdm(pairs, total=len(self.ids), desc="Checking images and masks",
                                          unit="pair", leave=False, disable=len(self.ids) < 100):
            image_size = _image_size(image_file)
            mask = load_image(mask_file)
            if mask.size != image_size:
                raise UserError(f"{mask_file}: mask is {mask.size[0]}x{mask.size[1]} but its image {image_file} "
                                f"is {image_size[0]}x{image_size[1]}; resize the mask to match the image")
            values |= _distinct_values(mask_to_array(mask))
            smallest = min(smallest[0], image_size[0]), min(smallest[1], image_size[1])
        scaled_size(*smallest, self.scale)  # a --scale that shrinks images to nothing fails here
        return values

    def _check_mask_values(self, found: set) -> None:
        known = _as_keys(self.mask_values)
        if _is_colour(self.mask_values):  # grey pixels in colour masks are grey colours
            found = {v if isinstance(v, tuple) else (v, v, v) for v in found}
        if not found <= known:
            raise UserError(f"{self.masks_dir}: masks have values {_shorten(sorted(found - known))} that are not "
                            f"among the model's mask values {_shorten(self.mask_values)}; use masks like the "
                            "ones the model was trained on")
        count = len(self.mask_values)
        if self.n_classes <= 2 and count > 2:
            raise UserError(f"{self.masks_dir}: masks have {count} distinct values {_shorten(self.mask_values)} "
                            f"but the task is binary; for {count} classes use --classes {count}, or save binary "
                            "masks as PNG with only 0 and 255 (JPEG adds in-between values)")
        if self.n_classes > 2 and count > self.n_classes:
            raise UserError(f"{self.masks_dir}: masks have {count} distinct values {_shorten(self.mask_values)} "
                            f"but --classes is {self.n_classes}; use --classes {count}")

    def __len__(self) -> int:
        return len(self.ids)

    def mask_classes(self, index: int) -> np.ndarray:
        """The class index of every pixel of mask `index`, (H, W) at the mask's own size (not scaled): the truth
        that evaluate.py and train.py's validation score predictions against."""
        return mask_to_classes(mask_to_array(load_image(self.mask_files[index])), self.mask_values)

    def _scaled_pair(self, index: int) -> tuple[Image.Image, Image.Image]:
        """Image `index` and its mask of class indices, both at --scale, augmented in training."""
        image = resize_by_scale(to_rgb(load_image(self.image_files[index])), self.scale, Image.BICUBIC)
        mask = resize_by_scale(Image.fromarray(self.mask_classes(index).astype(np.int32)), self.scale, Image.NEAREST)
        if self.augment:
            image, mask = augment_pair(image, mask, self.augmentation)
        return image, mask

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, mask = self._scaled_pair(index)
        return {
            "image": image_to_tensor(image),
            "mask": torch.from_numpy(np.asarray(mask).astype(np.int64)),
        }


def _check_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    data_dir = folder.parent
    # Only the demo folder is made by make_demo_data.py; a learner's own folder needs their own images.
    fix = ("run python3 make_demo_data.py to make the demo images, or point --data-dir at a folder with imgs/ "
           "and masks/" if data_dir.name == "data" else
           "check the path: it should hold imgs/ (your images) and masks/ (their masks), see the README's "
           "'Your own data'")
    if not data_dir.is_dir():
        raise UserError(f"--data-dir {data_dir}: folder not found; {fix}")
    raise UserError(f"--data-dir {data_dir}: no {folder.name}/ folder ({folder} is missing); {fix}")


def _list_images(folder: Path) -> dict[str, list[Path]]:
    """Image files by name without extension; several files with one name are kept for the error message."""
    by_name: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS:
            by_name.setdefault(path.stem, []).append(path)
    return by_name


def _detect_mask_suffix(images: dict[str, list[Path]], masks: dict[str, list[Path]]) -> str:
    """'_mask' when masks are named like test_0_mask.png, else '' (a mask has its image's name)."""
    return "_mask" if any(name + "_mask" in masks for name in images) else ""


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height from the file header (fast), without decoding the pixels."""
    if path.suffix.lower() == ".npy":
        return load_image(path).size
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return load_image(path).size  # raises the one-line error


def split_dataset(images_dir: str | Path, masks_dir: str | Path, scale: float = 1.0,
                  mask_suffix: str | None = None, n_classes: int = 2, val_percent: float = 10.0,
                  seed: int = 0, augment: bool = True, augmentation: str = "light") -> tuple[Subset, Subset, MaskValues]:
    """Seeded split into (train, validation) subsets; only the training subset is augmented. With val_percent > 0
    and 2+ images there is always at least one validation image."""
    if not 0 <= val_percent < 100:
        raise UserError(f"--validation {val_percent}: must be a percentage in [0, 100), e.g. 10")
    dataset = BasicDataset(images_dir, masks_dir, scale, mask_suffix, n_classes, augment=augment,
                           augmentation=augmentation)
    n_total = len(dataset)
    n_val = int(n_total * val_percent / 100)
    if val_percent > 0 and n_total >= 2:
        n_val = max(n_val, 1)  # a tiny set still gets validated every epoch
    if n_total - n_val < 1:
        raise UserError(f"--validation {val_percent}: leaves no training image out of {n_total}; "
                        "use a smaller --validation or add images")
    order = torch.randperm(n_total, generator=torch.Generator().manual_seed(seed)).tolist()
    val_dataset = copy.copy(dataset)  # same files and mask values, no augmentation
    val_dataset.augment = False
    train_set = Subset(dataset, order[n_val:])
    val_set = Subset(val_dataset, order[:n_val])
    return train_set, val_set, dataset.mask_values
