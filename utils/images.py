"""Images without PyTorch: reading any image file, resizing by --scale, mask values back from class indices.

utils/data_loading.py builds the training set on these, and predict.py runs an exported .onnx U-Net with them
alone, so this module imports NumPy and Pillow only.
"""
from pathlib import Path

import numpy as np
from PIL import Image

from utils.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".npy")

MaskValues = list  # list[int] for single-channel masks, list[list[int]] ([r, g, b]) for colour masks


def load_image(path: str | Path) -> Image.Image:
    """Any image Pillow reads, or a .npy array (HxW or HxWxC, uint8 or float in 0..1), as a PIL image."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            return _array_to_image(np.load(path, allow_pickle=False))
        with Image.open(path) as image:  # closes the file (GIF readers keep it open otherwise)
            image.load()  # decode now, so a truncated file fails here and not in the middle of training
            return image.copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: cannot read this image ({reason}); "
                        f"replace it with a valid {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} file") from None


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"array of shape {array.shape}, expected HxW, HxWx3 or HxWx4")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise ValueError("float array with values outside 0..1")
        array = np.round(np.nan_to_num(array) * 255).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.integer):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"{array.dtype} values outside 0..255")
        array = array.astype(np.uint8)
    else:
        raise ValueError(f"unsupported array type {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(array))


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB as is; grey is replicated to 3 channels; alpha is dropped; 16-bit grey is scaled to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        peak = 1.0 if values.max(initial=0) <= 1 else 255.0 if values.max(initial=0) <= 255 else 65535.0
        image = Image.fromarray(np.clip(values / peak * 255 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # Pillow wants palette transparency expanded before dropping it
    return image.convert("RGB")


def check_scale(scale: float) -> None:
    if not 0 < scale <= 1:
        raise UserError(f"--scale {scale}: must be in (0, 1], e.g. 0.5 to halve the image size")


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) after --scale; too small or out-of-range scales are a UserError."""
    check_scale(scale)
    new_width, new_height = int(width * scale), int(height * scale)
    if new_width < 1 or new_height < 1:
        raise UserError(f"--scale {scale}: a {width}x{height} image would become {new_width}x{new_height} "
                        "pixels; use a larger --scale")
    return new_width, new_height


def resize_by_scale(image: Image.Image, scale: float, resample: int) -> Image.Image:
    size = scaled_size(*image.size, scale)
    return image if size == image.size else image.resize(size, resample=resample)

def image_array(image: Image.Image, scale: float = 1.0) -> np.ndarray:
    """A PIL image as float32 (3, H, W) in 0..1, resized by scale (bicubic): what the U-Net takes."""
    image = resize_by_scale(to_rgb(image), scale, Image.BICUBIC)
    return (np.asarray(image, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()


def classes_to_mask(class_indices: np.ndarray, mask_values: MaskValues) -> np.ndarray:
    """Class indices (H, W) -> pixel values: (H, W) for single-channel values, (H, W, 3) uint8 for colours."""
    values = np.asarray(mask_values)
    if values.ndim == 1 and values.max(initial=0) <= 255:
        values = values.astype(np.uint8)
    elif values.ndim == 2:
        values = values.astype(np.uint8)
    return values[np.asarray(class_indices)]
