"""predict.py's path for an exported .onnx U-Net: numpy, Pillow and onnxruntime, no PyTorch.

    model = OnnxUNet("unet.onnx")                              # export_onnx.py's file
    mask = model.predict(load_image("car.png"), scale_factor=model.scale)   # (H, W) class indices

OnnxUNet.predict does what utils.inference.predict_img does around the PyTorch model, in NumPy: the image resized
by the scale (bicubic, Pillow), its mirror image with --tta and smaller copies with --tta-scales, the probabilities
(the file's output) resized back to the image's size (bilinear, as F.interpolate computes it) and averaged, then
the threshold (one output) or the most probable class. tests/test_onnx.py checks that it writes the masks
predict.py writes with the PyTorch model.

It reads and resizes images with utils/images.py, which the PyTorch path uses too and which imports no torch.
"""
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from utils.images import image_array
from utils.onnx_runtime import OnnxModel


class OnnxUNet:
    """An exported image U-Net: its classes, mask values and training scale, read from the file."""

    def __init__(self, path: str | Path, device: str | None = None, flag: str = "--model"):
        self.model = OnnxModel(path, "image", device, flag)
        self.n_channels = int(self.model.value("n_channels"))
        self.n_classes = int(self.model.value("n_classes"))
        self.mask_values = self.model.value("mask_values")
        self.scale = float(self.model.value("scale"))

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """float32 (batch, 3, h, w) in 0..1 -> (batch, classes, h, w) probabilities."""
        return self.model.run({"image": np.ascontiguousarray(images, dtype=np.float32)})[0]

    def predict(self, full_img: Image.Image, scale_factor: float = 0.5, out_threshold: float = 0.5, tta: bool = False,
                tta_scales: Sequence[float] = ()) -> np.ndarray:
        """Class index of every pixel, (H, W) at the image's own size: utils.inference.predict_img in NumPy."""
        probabilities = None
        for fraction in (1.0, *tta_scales):
            image = image_array(full_img, scale_factor * fraction)[None]
            # The image and its mirror image in one run: a batch of two
            views = list(self.probabilities(np.concatenate([image, image[..., ::-1]]) if tta else image))
            if tta:
                views[1] = views[1][..., ::-1]
            for view in views:
                # Resize the probabilities, not the classes, so the mask edges stay smooth at full size.
                view = resize_bilinear(view, (full_img.size[1], full_img.size[0]))
                probabilities = view if probabilities is None else probabilities + view
        probabilities /= (1 + len(tta_scales)) * (2 if tta else 1)
        return probabilities_to_classes(probabilities, out_threshold)


def _source_positions(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output row: the two input rows and the weight of the second, as PyTorch's bilinear resize
    (align_corners=False) computes them, in float32."""
    scale = np.float32(in_size / out_size)
    source = np.maximum((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5), 0)
    first = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    weight = np.clip(source - first, 0, 1).astype(np.float32)
    return first, np.minimum(first + 1, in_size - 1), weight


def resize_bilinear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., h, w) float32 -> (..., H, W): torch.nn.functional.interpolate(mode="bilinear") in NumPy."""
    top, bottom, down = _source_positions(size[0], array.shape[-2])
    left, right, across = _source_positions(size[1], array.shape[-1])
    rows = array[..., left] * (1 - across) + array[..., right] * across
    return rows[..., top, :] * (1 - down)[:, None] + rows[..., bottom, :] * down[:, None]


def probabilities_to_classes(probabilities: np.ndarray, mask_threshold: float = 0.5) -> np.ndarray:
    """(classes, H, W) -> (H, W) class indices: the threshold for one output, else the most probable class."""
    if probabilities.shape[0] == 1:
        return (probabilities[0] > mask_threshold).astype(np.int64)
    return probabilities.argmax(axis=0)
