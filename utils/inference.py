"""What predict.py, evaluate.py and train.py share: one image's mask (with test-time augmentation) and a set's Dice.

train.py validates with score_images, so the validation Dice in its log is the mean evaluate.py prints for the
same images, and both predict exactly as predict.py does.
"""
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from utils.data_loading import BasicDataset, image_to_tensor, load_image
from utils.dice_score import class_probabilities, dice_iou_per_image, probabilities_to_classes
from utils.device import pick_device
from utils.image_checkpoint import load_unet, training_scale


@torch.inference_mode()
def predict_img(net: torch.nn.Module, full_img: Image.Image, device: torch.device, scale_factor: float = 0.5,
                out_threshold: float = 0.5, tta: bool = False, tta_scales: Sequence[float] = ()) -> np.ndarray:
    """Class index of every pixel, (H, W) at the image's own size whatever the scale the model saw.

    tta: also predict the mirrored image and average the two probabilities (the mirrored one mirrored back), so
    errors that depend on which way the object faces partly cancel; twice the time.
    tta_scales: also predict at these fractions of scale_factor (each mirrored too, with tta) and average all the
    probabilities at full size: a thing of another size than the training ones is seen at a size closer to them.
    """
    net.eval()
    probabilities = None
    for fraction in (1.0, *tta_scales):
        image = image_to_tensor(full_img, scale_factor * fraction).unsqueeze(0).to(device=device, dtype=torch.float32)
        views = [class_probabilities(net(image))]
        if tta:
            views.append(class_probabilities(net(image.flip(-1))).flip(-1))
        for view in views:
            # Resize the probabilities, not the classes, so the mask edges stay smooth at full size.
            view = F.interpolate(view, size=(full_img.size[1], full_img.size[0]), mode="bilinear")
            probabilities = view if probabilities is None else probabilities + view
    probabilities /= (1 + len(tta_scales)) * (2 if tta else 1)
    return probabilities_to_classes(probabilities, out_threshold)[0].cpu().numpy()


class CheckpointUNet:
    """A .pth checkpoint ready to predict: the same attributes and predict() as utils.onnx_image.OnnxUNet."""

    def __init__(self, path: str, device_name: str | None = None):
        self.device = pick_device(device_name)
        net, self.mask_values, checkpoint = load_unet(path)
        self.net = net.to(self.device)
        self.n_channels, self.n_classes = net.n_channels, net.n_classes
        self.scale = training_scale(checkpoint)

    def predict(self, image: Image.Image, scale_factor: float, out_threshold: float = 0.5, tta: bool = False,
                tta_scales: Sequence[float] = ()) -> np.ndarray:
        return predict_img(self.net, image, self.device, scale_factor, out_threshold, tta, tta_scales)


@torch.inference_mode()
def score_images(net: torch.nn.Module, dataset: BasicDataset, indices: Sequence[int], device: torch.device,
                 scale: float, mask_threshold: float = 0.5, tta: bool = False,
                 tta_scales: Sequence[float] = ()) -> list[tuple[str, float, float]]:
    """(name, Dice, IoU) of each image: predicted exactly as predict.py does (at `scale`, the probabilities
    resized back to the image's own size) and compared with its mask at full size, whatever the dataset's scale.
    Dice and IoU are averaged over the foreground classes."""
    rows = []
    for index in indices:
        pred = predict_img(net, load_image(dataset.image_files[index]), device, scale, mask_threshold, tta,
                           tta_scales)
        truth = torch.from_numpy(dataset.mask_classes(index))
        dice, iou = dice_iou_per_image(torch.from_numpy(pred)[None], truth[None], net.n_classes)
        rows.append((dataset.ids[index], dice.item(), iou.item()))
    return rows
