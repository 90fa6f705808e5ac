"""The separator network: the image tutorial's unet.UNet, looking at a spectrogram instead of a photo.

    mixture magnitude (batch, 2, bins, frames)            a stereo spectrogram is a 2-channel image
      -> keep the lowest `max_bin` bins                   512 of 2049 bins = up to 5.5 kHz, where voices live
      -> log, then normalize per bin                      loud bass and quiet treble on one scale
      -> add a channel of stereo phase coherence          |L + R| / (|L| + |R|), from the mid magnitude |L + R| / 2
      -> add a channel holding each row's frequency       convolutions alone cannot tell bass from treble
      -> UNet(n_channels=4, n_classes=2 * n_targets)      the SAME class that segments images
      -> sigmoid                                          a soft mask in [0, 1] per target and channel
      -> extend the mask above max_bin                    output is full band: nothing is cut
    masks (batch, n_targets, 2, bins, frames)

A mask times the mixture's complex spectrogram is the estimate of a source (Jansson et al. 2017).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from unet import UNet

# UNet halves the height and width four times: padding to a multiple of 16 keeps the skips aligned.
UNET_MULTIPLE = 16
# Bins just below max_bin whose mean mask is used for everything above it.
EXTENSION_BINS = 16
# Defaults chosen by 3-minute training runs on the demo songs (2-core CPU): 512 bins (5.5 kHz) and width 8
# trained ~2x more patches than 1024 bins or width 16 in the same time, and scored higher.
DEFAULT_MAX_BIN = 512
DEFAULT_BASE_CHANNELS = 8


class SpectrogramUNet(nn.Module):
    def __init__(self, n_targets: int, max_bin: int = DEFAULT_MAX_BIN, n_audio_channels: int = 2,
                 base_channels: int = DEFAULT_BASE_CHANNELS, frequency_channel: bool = True,
                 coherence_channel: bool = True):
        super().__init__()
        self.n_targets = n_targets
        self.max_bin = max_bin
        self.n_audio_channels = n_audio_channels
        self.frequency_channel = frequency_channel
        self.coherence_channel = coherence_channel
        self.unet = UNet(n_channels=n_audio_channels + int(coherence_channel) + int(frequency_channel),
                         n_classes=n_audio_channels * n_targets, base_channels=base_channels)
        # Per-bin statistics of log-magnitude on the training set; buffers, so they live in the state_dict.
        self.register_buffer("input_mean", torch.zeros(max_bin))
        self.register_buffer("input_scale", torch.ones(max_bin))

    def config(self) -> dict:
        """The constructor arguments, saved in the checkpoint so the model is rebuilt exactly."""
        return {"n_targets": self.n_targets, "max_bin": self.max_bin,
                "n_audio_channels": self.n_audio_channels, "base_channels": self.unet.base_channels,
                "frequency_channel": self.frequency_channel, "coherence_channel": self.coherence_channel}

    @classmethod
    def from_config(cls, config: dict) -> "SpectrogramUNet":
        """Rebuild a model from its saved config(); older checkpoints lack the later channels, so they are off."""
        return cls(**{"frequency_channel": False, "coherence_channel": False, **config})

    @staticmethod
    def mid_magnitude(spectrogram: np.ndarray) -> np.ndarray:
        """complex stereo (2, bins, frames) -> |L + R| / 2 (bins, frames): the second input of forward()."""
        return np.abs(spectrogram[0] + spectrogram[1]) / 2

    @staticmethod
    def compress(magnitude: torch.Tensor) -> torch.Tensor:
        """log(1 + x): magnitudes span 100 dB, the network learns better on a log scale."""
        return torch.log1p(magnitude)

    def set_input_statistics(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        self.input_mean.copy_(mean)
        self.input_scale.copy_(scale.clamp_min(1e-5))

    def forward(self, magnitude: torch.Tensor, mid_magnitude: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, channels, bins, frames) magnitude [+ (batch, bins, frames) mid_magnitude(), needed with the
        coherence channel] -> (batch, targets, channels, bins, frames) masks."""
        batch, channels, n_bins, n_frames = magnitude.shape
        x = self.compress(magnitude[:, :, : self.max_bin])
        modelled_bins = x.shape[2]  # max_bin, or fewer for a small STFT
        x = (x - self.input_mean[:modelled_bins, None]) / self.input_scale[:modelled_bins, None]
        if self.coherence_channel:
            if mid_magnitude is None:
                raise ValueError("this model has a coherence channel: pass mid_magnitude, |L + R| / 2")
            # Magnitudes say how loud each side is, not whether the sides move together. |L + R| / (|L| + |R|)
            # is 1 where left and right are in phase (a dry source, e.g. the lead vocal) and drops for reverb,
            # delays and stereo-widened parts; mapped to [-1, 1] like the other channels.
            side_sum = magnitude[:, 0, : self.max_bin] + magnitude[:, 1, : self.max_bin]
            coherence = (2 * mid_magnitude[:, : self.max_bin] / (side_sum + 1e-6)).clamp(0, 1)
            x = torch.cat([x, (2 * coherence - 1)[:, None]], dim=1)
        if self.frequency_channel:
            # Convolutions look the same at every height; this extra channel (-1 at 0 Hz, +1 at max_bin) tells
            # the network where it is, e.g. that bass lives only at the bottom.
            position = torch.linspace(-1, 1, self.max_bin, device=x.device, dtype=x.dtype)[:modelled_bins]
            x = torch.cat([x, position[:, None].expand(batch, 1, modelled_bins, n_frames)], dim=1)
        # Pad bins and frames up to a multiple of 16.
        pad_bins = -modelled_bins % UNET_MULTIPLE
        pad_frames = -n_frames % UNET_MULTIPLE
        x = F.pad(x, (0, pad_frames, 0, pad_bins))
        if self.unet.inc.double_conv[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # match the weights: faster CPU/CUDA kernels
        logits = self.unet(x)[:, :, :modelled_bins, :n_frames]
        masks = torch.sigmoid(logits.float()).view(batch, self.n_targets, channels, modelled_bins, n_frames)
        if n_bins > modelled_bins:
            # Above max_bin the mixture is mostly cymbals, breath and sibilants: reuse the mask of the top
            # modelled bins there, so every frequency of the input reaches the output.
            top = masks[:, :, :, -EXTENSION_BINS:].mean(dim=3, keepdim=True)
            masks = torch.cat([masks, top.expand(-1, -1, -1, n_bins - modelled_bins, -1)], dim=3)
        return masks
