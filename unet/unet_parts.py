"""Parts of the U-Net model (same layer names as milesial/Pytorch-UNet, so its checkpoints load)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class InstanceNorm(nn.InstanceNorm2d):
    """InstanceNorm with learned scale and shift that keeps a channels_last input channels_last"""

    def __init__(self, channels: int):
        super().__init__(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # PyTorch's CPU kernel returns a contiguous tensor; the next convolution would then convert every input
        # back to channels_last (bf16 training was 1.4x slower per step with it, 1.16x with this copy).
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        y = super().forward(x)
        return y.contiguous(memory_format=torch.channels_last) if channels_last else y


def normalization(kind: str, channels: int) -> nn.Module:
    """BatchNorm (the batch's statistics, the original U-Net) or InstanceNorm (each image's own statistics)"""
    if kind == "instance":
        return InstanceNorm(channels)
    return nn.BatchNorm2d(channels)


class DoubleConv(nn.Module):
    """(convolution => [BN or IN] => ReLU) * 2"""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None, norm: str = "batch"):
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            normalization(norm, mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            normalization(norm, out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv"""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch"):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, norm=norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling then double conv"""

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True):
        super().__init__()
        # Bilinear upsampling has no weights, so the conv halves the channels instead.
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        # Max-pooling floors odd sizes, so the upsampled map can be a pixel short of the skip:
        # pad it to the skip's size so any input height and width works.
        diff_y = x2.size(2) - x1.size(2)
        diff_x = x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class OutConv(nn.Module):
    """1x1 convolution to one score per class"""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
