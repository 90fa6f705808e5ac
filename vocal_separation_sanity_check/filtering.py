"""Multichannel Wiener filtering: refine masked estimates with a few EM iterations (`separate.py --wiener N`).

A mask only rescales each time-frequency point of each channel. The Wiener filter also uses how each
source sits in the stereo image: every source j gets a power v_j(f, t) and a 2x2 spatial covariance
R_j(f) per frequency, and the mixture x is split as

    y_j = v_j R_j (sum_k v_k R_k)^-1 x

which always sums back to the mixture. The model's masked estimates give the first v_j and R_j;
each iteration re-estimates them from the new y_j (expectation-maximization, as in Open-Unmix's norbert,
Nugraha et al. 2016). Works on one chunk at a time, so memory stays bounded.
"""
import numpy as np

# Keeps the mixture covariance invertible where every source is silent.
REGULARIZATION = 1e-10


def spatial_model(estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(channels, bins, frames) complex -> power (bins, frames) and spatial covariance (bins, ch, ch)."""
    power = np.mean(np.abs(estimate) ** 2, axis=0)
    # Sum over frames of y y^H, weighted so that R has unit scale: power carries the loudness.
    covariance = np.einsum("aft,bft->fab", estimate, estimate.conj())
    covariance /= REGULARIZATION + power.sum(axis=1)[:, None, None]
    return power.astype(np.float32), covariance.astype(np.complex64)


def wiener(mixture: np.ndarray, estimates: np.ndarray, iterations: int, residual: bool = False) -> np.ndarray:
    """Refine source estimates of one chunk.

    mixture: complex (channels, bins, frames); estimates: complex (sources, channels, bins, frames), e.g. the
    masked mixture. With residual=True the mixture minus all estimates joins as one more source (the
    accompaniment of a vocals model), so the targets compete with everything else. iterations=0 returns
    the estimates unchanged. Returns complex (sources [+1], channels, bins, frames).
    """
    if residual:
        estimates = np.concatenate([estimates, (mixture - estimates.sum(axis=0))[None]], axis=0)
    if iterations == 0:
        return estimates
    # Work at unit scale so the regularization means the same for quiet and loud chunks.
    scale = max(1.0, float(np.abs(mixture).max()) / 10.0)
    x = (mixture / scale).astype(np.complex64)
    y = (estimates / scale).astype(np.complex64)
    n_channels = x.shape[0]
    identity = np.eye(n_channels, dtype=np.complex64)
    for _ in range(iterations):
        models = [spatial_model(source) for source in y]
        # Mixture covariance per (bin, frame): sum_j v_j R_j, shape (bins, frames, ch, ch).
        mix_cov = sum(power[:, :, None, None] * cov[:, None] for power, cov in models)
        inverse = np.linalg.inv(mix_cov + REGULARIZATION * identity).astype(np.complex64)
        x_white = np.einsum("ftab,bft->aft", inverse, x)  # (sum_k v_k R_k)^-1 x
        for j, (power, cov) in enumerate(models):
            y[j] = power[None] * np.einsum("fab,bft->aft", cov, x_white)
    return y * scale
