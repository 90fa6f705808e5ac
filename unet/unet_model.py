"""Full assembly of the parts to form the complete U-Net."""
import torch
import torch.nn as nn

from .unet_parts import DoubleConv, Down, OutConv, Up


# norm="ibn": InstanceNorm in the first two encoder blocks, BatchNorm after them (IBN-Net, Pan et al. 2018).
# The first layers see colour, contrast and texture; normalizing each image by its own statistics there takes
# out much of what differs between one set of photos and another, so a model trained on a few dozen photos does
# better on photos it has never seen (train.py's default; docs/image-experiments.md, round 3). The deeper
# layers keep BatchNorm, as IBN-Net does: what they encode (shapes, classes) does not change with the style.
NORMS = ("batch", "ibn")


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) with padded convolutions: output has the input's height and width.

    With the default base_channels=64 and norm="batch" the parameter names and shapes match milesial/Pytorch-UNet.
    """

    def __init__(self, n_channels: int, n_classes: int, bilinear: bool = False, base_channels: int = 64,
                 normalize_input: bool = False, norm: str = "batch"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"UNet norm {norm!r}: use one of {', '.join(NORMS)}")
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bilinear
        self.base_channels = base_channels
        self.normalize_input = normalize_input
        self.norm = norm
        c = base_channels
        factor = 2 if bilinear else 1
        first_blocks = "instance" if norm == "ibn" else "batch"
        self.inc = DoubleConv(n_channels, c, norm=first_blocks)
        self.down1 = Down(c, c * 2, norm=first_blocks)
        self.down2 = Down(c * 2, c * 4)
        self.down3 = Down(c * 4, c * 8)
        self.down4 = Down(c * 8, c * 16 // factor)
        self.up1 = Up(c * 16, c * 8 // factor, bilinear)
        self.up2 = Up(c * 8, c * 4 // factor, bilinear)
        self.up3 = Up(c * 4, c * 2 // factor, bilinear)
        self.up4 = Up(c * 2, c, bilinear)
        self.outc = OutConv(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize_input:
            x = standardize(x)
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)

    def config(self) -> dict:
        """The constructor arguments, saved in checkpoints so the model can be rebuilt exactly."""
        return {
            "n_channels": self.n_channels,
            "n_classes": self.n_classes,
            "bilinear": self.bilinear,
            "base_channels": self.base_channels,
            "normalize_input": self.normalize_input,
            "norm": self.norm,
        }


def standardize(images: torch.Tensor, epsilon: float = 1e-2) -> torch.Tensor:
    """Each image and channel to mean 0 and standard deviation 1 (N, C, H, W): a photo taken in brighter or
    bluer light gives the network the same numbers. Part of the model, so predict.py and evaluate.py apply it too.
    epsilon keeps a flat image (std 0) finite."""
    mean = images.mean(dim=(2, 3), keepdim=True)
    std = images.std(dim=(2, 3), keepdim=True)
    return (images - mean) / (std + epsilon)
