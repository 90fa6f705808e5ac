"""The separator network: the image tutorial's unet.UNet, looking at a spectrogram instead of a photo.

    mixture magnitude (batch, 2, bins, frames)            a stereo spectrogram is a 2-channel image
      -> keep the lowest `max_bin` bins                   512 of 2049 bins = up to 5.5 kHz, where voices live
      -> average pairs of bins above bin 128              320 rows instead of 512: faster training
      -> log, then normalize per row                      loud bass and quiet treble on one scale
      -> add 2 channels of frequency mixing per channel   per frame, a small MLP across all rows: a voice's
                                                          harmonics lie far apart, beyond a 3x3 conv's reach
      -> add a channel of stereo phase coherence          |L + R| / (|L| + |R|), from the mid magnitude |L + R| / 2
      -> add a channel holding each row's frequency       convolutions alone cannot tell bass from treble
      -> UNet(n_channels=8, n_classes=2 * n_targets)      the SAME class that segments images
      -> sigmoid                                          a soft mask in [0, 1] per target and channel
      -> each pooled row's mask back on both of its bins
      -> extend the mask above max_bin                    output is full band: nothing is cut
    masks (batch, n_targets, 2, bins, frames)

A mask times the mixture's complex spectrogram is the estimate of a source (Jansson et al. 2017).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from unet import UNet

# UNet halves the height and width four times: padding to a multiple of 16 keeps the skips aligned.
UNET_MULTIPLE = 16
# Bins just below max_bin whose mean mask is used for everything above it.
EXTENSION_BINS = 16
# 512 bins (5.5 kHz) and width 8: on a 2-core CPU they train about twice the patches of 1024 bins or width 16 in
# the same time, and that mattered more than the extra bins or width (docs/separator-experiments.md).
DEFAULT_MAX_BIN = 512
DEFAULT_BASE_CHANNELS = 8
# Above bin 128 (1.4 kHz) the U-Net sees pairs of bins averaged, 320 rows instead of 512: each training step is
# cheaper, and little of the voice's detail lives up there (the oracle loses about 0.1 dB; measurements in
# docs/separator-experiments.md, "Bins in pairs").
DEFAULT_FULL_RESOLUTION_BINS = 128
# Frequency mixing (a TDF block: Choi et al. 2020's TFC-TDF U-Net, later KUIELAB-MDX-Net): per frame,
# rows -> 128 -> 2 maps of rows, because a voice's harmonics lie far apart, beyond what the convolutions see
# (docs/separator-experiments.md, "Frequency mixing").
MIXER_HIDDEN = 128
MIXER_MAPS = 2


class SpectrogramUNet(nn.Module):
    def __init__(self, n_targets: int, max_bin: int = DEFAULT_MAX_BIN, n_audio_channels: int = 2,
                 base_channels: int = DEFAULT_BASE_CHANNELS, frequency_channel: bool = True,
                 coherence_channel: bool = True, full_resolution_bins: int | None = DEFAULT_FULL_RESOLUTION_BINS,
                 frequency_mixing: bool = True):
        super().__init__()
        self.n_targets = n_targets
        self.max_bin = max_bin
        # None (or >= max_bin): every bin is its own row.
        self.full_resolution_bins = max_bin if full_resolution_bins is None else min(full_resolution_bins, max_bin)
        self.n_audio_channels = n_audio_channels
        self.frequency_channel = frequency_channel
        self.coherence_channel = coherence_channel
        self.frequency_mixing = frequency_mixing
        n_rows = self.row_count(max_bin)
        # Convolutions see a neighbourhood of rows (the U-Net's poolings widen it); this MLP sees the whole
        # spectrum of a frame at once. One MLP for all channels.
        self.frequency_mixer = nn.Sequential(nn.Linear(n_rows, MIXER_HIDDEN), nn.ReLU(),
                                             nn.Linear(MIXER_HIDDEN, MIXER_MAPS * n_rows)) if frequency_mixing else None
        mixed_channels = n_audio_channels * MIXER_MAPS if frequency_mixing else 0
        self.unet = UNet(n_channels=n_audio_channels + mixed_channels + int(coherence_channel) + int(frequency_channel),
                         n_classes=n_audio_channels * n_targets, base_channels=base_channels)
        # Per-row statistics of log-magnitude on the training set; buffers, so they live in the state_dict.
        self.register_buffer("input_mean", torch.zeros(n_rows))
        self.register_buffer("input_scale", torch.ones(n_rows))

    def config(self) -> dict:
        """The constructor arguments, saved in the checkpoint so the model is rebuilt exactly."""
        return {"n_targets": self.n_targets, "max_bin": self.max_bin,
                "n_audio_channels": self.n_audio_channels, "base_channels": self.unet.base_channels,
                "frequency_channel": self.frequency_channel, "coherence_channel": self.coherence_channel,
                "full_resolution_bins": self.full_resolution_bins, "frequency_mixing": self.frequency_mixing}

    @classmethod
    def from_config(cls, config: dict) -> "SpectrogramUNet":
        """Rebuild a model from its saved config(); older checkpoints lack the later options, so they are off."""
        return cls(**{"frequency_channel": False, "coherence_channel": False, "full_resolution_bins": None,
                      "frequency_mixing": False, **config})

    def row_count(self, n_bins: int) -> int:
        """How many rows the U-Net sees for the lowest n_bins bins: one per bin, then one per pair."""
        full = min(n_bins, self.full_resolution_bins)
        return full + (n_bins - full + 1) // 2

    def pool_bins(self, x: torch.Tensor) -> torch.Tensor:
        """(..., bins, frames) -> (..., rows, frames): bins above full_resolution_bins averaged in pairs."""
        full = self.full_resolution_bins
        if x.shape[-2] <= full:
            return x
        high = x[..., full:, :]
        if high.shape[-2] % 2:  # an odd bin out pairs with itself
            high = torch.cat([high, high[..., -1:, :]], dim=-2)
        return torch.cat([x[..., :full, :], high.unflatten(-2, (-1, 2)).mean(dim=-2)], dim=-2)

    def unpool_bins(self, rows: torch.Tensor, n_bins: int) -> torch.Tensor:
        """(..., rows, frames) -> (..., n_bins, frames): a pooled row's value goes to both of its bins."""
        full = self.full_resolution_bins
        if n_bins <= full:
            return rows
        high = rows[..., full:, :].repeat_interleave(2, dim=-2)[..., : n_bins - full, :]
        return torch.cat([rows[..., :full, :], high], dim=-2)

    def input_rows(self, magnitude: torch.Tensor) -> torch.Tensor:
        """(..., bins, frames) magnitude -> the compressed rows the U-Net sees, before normalization."""
        return self.compress(self.pool_bins(magnitude[..., : self.max_bin, :]))

    @staticmethod
    def mid_magnitude(spectrogram):
        """complex stereo (2, bins, frames), NumPy or torch -> |L + R| / 2 (bins, frames): the second input of forward()."""
        return abs(spectrogram[0] + spectrogram[1]) / 2

    @staticmethod
    def compress(magnitude: torch.Tensor) -> torch.Tensor:
        """log(1 + x): magnitudes span 100 dB, the network learns better on a log scale."""
        return torch.log1p(magnitude)

    def mix_frequencies(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, rows, frames) normalized input -> (batch, channels * MIXER_MAPS, rows, frames)."""
        full_rows = self.input_mean.shape[0]
        n_rows = x.shape[2]
        # A small STFT has fewer rows than the MLP takes: zeros (the training mean) stand in for the missing ones.
        per_frame = F.pad(x, (0, 0, 0, full_rows - n_rows)).transpose(2, 3)  # (batch, channels, frames, rows)
        maps = self.frequency_mixer(per_frame).unflatten(-1, (MIXER_MAPS, full_rows))[..., :n_rows]
        return maps.permute(0, 1, 3, 4, 2).flatten(1, 2)

    def set_input_statistics(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        self.input_mean.copy_(mean)
        self.input_scale.copy_(scale.clamp_min(1e-5))

    def forward(self, magnitude: torch.Tensor, mid_magnitude: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, channels, bins, frames) magnitude [+ (batch, bins, frames) mid_magnitude(), needed with the
        coherence channel] -> (batch, targets, channels, bins, frames) masks."""
        batch, channels, n_bins, n_frames = magnitude.shape
        modelled_bins = min(n_bins, self.max_bin)  # max_bin, or fewer for a small STFT
        x = self.input_rows(magnitude)
        n_rows = x.shape[2]
        x = (x - self.input_mean[:n_rows, None]) / self.input_scale[:n_rows, None]
        if self.frequency_mixing:
            x = torch.cat([x, self.mix_frequencies(x)], dim=1)
        if self.coherence_channel:
            if mid_magnitude is None:
                raise ValueError("this model has a coherence channel: pass mid_magnitude, |L + R| / 2")
            # Magnitudes say how loud each side is, not whether the sides move together. |L + R| / (|L| + |R|)
            # is 1 where left and right are in phase (a dry source, e.g. the lead vocal) and drops for reverb,
            # delays and stereo-widened parts; mapped to [-1, 1] like the other channels.
            side_sum = self.pool_bins(magnitude[:, 0, : self.max_bin] + magnitude[:, 1, : self.max_bin])
            coherence = (2 * self.pool_bins(mid_magnitude[:, : self.max_bin]) / (side_sum + 1e-6)).clamp(0, 1)
            x = torch.cat([x, (2 * coherence - 1)[:, None]], dim=1)
        if self.frequency_channel:
            # Convolutions look the same at every height; this extra channel (-1 at 0 Hz, +1 at max_bin) tells
            # the network where it is, e.g. that bass lives only at the bottom.
            # A pooled row sits at the middle of its two bins.
            bins = torch.linspace(-1, 1, self.max_bin, device=x.device, dtype=x.dtype)[:modelled_bins]
            position = self.pool_bins(bins[:, None])[:, 0]
            x = torch.cat([x, position[:, None].expand(batch, 1, n_rows, n_frames)], dim=1)
        # Pad rows and frames up to a multiple of 16.
        pad_rows = -n_rows % UNET_MULTIPLE
        pad_frames = -n_frames % UNET_MULTIPLE
        x = F.pad(x, (0, pad_frames, 0, pad_rows))
        if self.unet.inc.double_conv[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # match the weights: faster CPU/CUDA kernels
        logits = self.unet(x)[:, :, :n_rows, :n_frames]
        masks = torch.sigmoid(logits.float()).view(batch, self.n_targets, channels, n_rows, n_frames)
        masks = self.unpool_bins(masks, modelled_bins)
        if n_bins > modelled_bins:
            # Above max_bin the mixture is mostly cymbals, breath and sibilants: reuse the mask of the top
            # modelled bins there, so every frequency of the input reaches the output.
            top = masks[:, :, :, -EXTENSION_BINS:].mean(dim=3, keepdim=True)
            masks = torch.cat([masks, top.expand(-1, -1, -1, n_bins - modelled_bins, -1)], dim=3)
        return masks
