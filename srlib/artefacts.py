"""Two artefact measures of an SR image against its HR, so that "no colour cast, no grid" is measured.

- ``colour_shift``: how far the low-passed colours moved. Both images are cut into 16x16 blocks and each
  block's mean R, G, B taken; the score is the mean absolute difference of those block means over all
  blocks and channels, in 8-bit levels (0-255). Textures and edges average out inside a block, so
  sharpening or GAN texture barely counts, while a tint, a darker image or a washed-out colour does:
  adding 3 levels to every pixel scores exactly 3.
- ``periodic_energy``: the share of the residual's power that sits on the x4 sampling grid. A sub-pixel
  (PixelShuffle) upsampler that is not well trained repeats one pattern every 2 or 4 output pixels (a
  checkerboard); such a pattern has all its power at the frequencies ``k H / 8`` (rows) and ``l W / 8``
  (columns) of the residual's 2-D spectrum, for periods 8, 4 and 2 pixels. With ``P`` the power spectrum
  ``|FFT(SR - HR)|^2`` summed over channels, the score is ``sum of P over those 63 grid frequencies (DC
  excluded) / sum of P over every frequency but DC``, in [0, 1]. A white-noise residual spreads its power
  evenly and scores about ``63 / (H W)``; natural residuals (edges, textures) score a little more;
  a visible grid scores orders of magnitude more.

Inputs: numpy HWC (RGB) or HW (grey), float in [0, 1] or uint8, SR and HR of the same shape;
``crop_border`` pixels are removed from every side first (``scale`` in ``srlib.evaluate``, as for PSNR).
"""

from __future__ import annotations

import numpy as np

COLOUR_BLOCK = 16  # low-pass block side (pixels) of colour_shift
GRID_PERIOD = 8  # periodic_energy: periods dividing 8 output pixels (x4 grid and its half, x2 shuffles)


def _as_255(image, crop_border: int) -> np.ndarray:
    """float64 (H, W, C) on [0, 255], cropped."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"images must be HWC or HW, got shape {image.shape}")
    if image.dtype == np.uint8:
        out = image.astype(np.float64)
    elif np.issubdtype(image.dtype, np.floating):
        out = image.astype(np.float64) * 255
    else:
        raise ValueError(f"images must be float in [0, 1] or uint8, got {image.dtype}")
    if crop_border:
        out = out[crop_border:-crop_border, crop_border:-crop_border]
    return out


def _pair(sr, hr, crop_border: int, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Both images on [0, 255], cropped, then cut to whole multiples of ``multiple`` from the top-left."""
    a, b = _as_255(sr, crop_border), _as_255(hr, crop_border)
    if a.shape != b.shape:
        raise ValueError(f"sr and hr shapes differ: {a.shape} vs {b.shape}")
    h, w = a.shape[0] // multiple * multiple, a.shape[1] // multiple * multiple
    if h == 0 or w == 0:
        raise ValueError(f"images of {a.shape[1]}x{a.shape[0]} after cropping are smaller than {multiple}x{multiple}")
    return a[:h, :w], b[:h, :w]


def colour_shift(sr, hr, crop_border: int = 0, block: int = COLOUR_BLOCK) -> float:
    """Mean absolute difference of the per-block mean colours of ``sr`` and ``hr``, in 8-bit levels.

    Each image is cut into ``block`` x ``block`` squares (an incomplete last row / column is left out),
    each square's mean taken per channel; returns the mean over squares and channels of |SR - HR|.
    """
    a, b = _pair(sr, hr, crop_border, block)
    h, w, c = a.shape
    means = [x.reshape(h // block, block, w // block, block, c).mean(axis=(1, 3)) for x in (a, b)]
    return float(np.abs(means[0] - means[1]).mean())


def grid_mask(height: int, width: int, period: int = GRID_PERIOD) -> np.ndarray:
    """(height, width) bool mask of the FFT bins of patterns whose period divides ``period`` (DC excluded)."""
    rows = np.arange(height) % (height // period) == 0
    cols = np.arange(width) % (width // period) == 0
    mask = rows[:, None] & cols[None, :]
    mask[0, 0] = False
    return mask


def periodic_energy(sr, hr, crop_border: int = 0, period: int = GRID_PERIOD) -> float:
    """Share of the power spectrum of ``sr - hr`` at the grid frequencies (multiples of H/8 and W/8, DC
    excluded), summed over channels: a number in [0, 1] (0 for identical images).

    The images are cut to multiples of ``period`` so that every grid frequency falls on an FFT bin.
    """
    a, b = _pair(sr, hr, crop_border, period)
    power = (np.abs(np.fft.fft2(a - b, axes=(0, 1))) ** 2).sum(axis=2)
    power[0, 0] = 0.0  # DC: a uniform offset is colour_shift's business
    total = power.sum()
    if total == 0:
        return 0.0
    return float(power[grid_mask(*power.shape, period)].sum() / total)


def artefact_metrics(sr, hr, crop_border: int = 0) -> dict[str, float]:
    """{"colour_shift": levels, "periodic_energy": share} of one SR image against its HR."""
    return dict(colour_shift=colour_shift(sr, hr, crop_border), periodic_energy=periodic_energy(sr, hr, crop_border))
