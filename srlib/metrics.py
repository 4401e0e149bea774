"""PSNR and SSIM as super-resolution tables compute them (REFERENCE.md section 4).

The convention: images on [0, 255] in float64, the Y channel of BT.601 studio-swing YCbCr
(``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1]), ``crop_border`` pixels (= the scale)
removed from every side. SSIM is Wang et al. (2004): an 11x11 Gaussian window with sigma 1.5, K1 = 0.01,
K2 = 0.03, L = 255, averaged over the positions where the whole window fits (MATLAB's ``ssim_index``,
equal to scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255)``).

Inputs: numpy HWC / HW or torch CHW / NCHW, float in [0, 1] or uint8 in [0, 255], used as given (clamp and
quantise model outputs first if the table you compare with saved its SR images as PNG).
A single image (numpy, or a 3-D tensor) gives a Python float; a 4-D batch gives a float64 tensor of shape
(N,), one value per image, computed in one vectorised pass on the batch's device.

Two details decide the last 0.01 dB / 0.001 SSIM against the published tables (measured in
tests/test_metrics.py::test_published_bicubic_x4 and BENCHMARKS.md):
- ``round_y=True`` (default) rounds Y to whole numbers, as MATLAB's ``rgb2ycbcr`` does for the uint8 images
  the tables were computed from. ``False`` keeps Y in float (BasicSR's python metrics); that reads SSIM
  about 0.0008 higher on Set5 and BSD100.
- Grayscale images (one channel, e.g. Set14's ``bridge.png``) are compared on the grey values themselves,
  as MATLAB evaluation scripts do when ``size(im, 3) == 1`` (``grey_as_rgb=False``, default). This is what
  gives the published Set14 26.00 dB. ``grey_as_rgb=True`` takes the Y of the grey replicated to RGB,
  ``16 + 219 g`` (what reading with OpenCV's ``IMREAD_COLOR`` does): bridge scores 1.32 dB higher
  (20 log10(255 / 219)) and Set14's mean 0.09 dB higher.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# BT.601 studio swing, for R, G, B in [0, 255]: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255
_Y_WEIGHTS = (65.481 / 255, 128.553 / 255, 24.966 / 255)


def _as_batch(x) -> tuple[torch.Tensor, bool, float]:
    """(N, C, H, W) view in the input's dtype, whether the input was a batch (4-D tensor), and the factor
    that puts it on [0, 255] (1 for uint8, 255 for float). Conversion to float64 waits until after
    cropping and luma, so that a DIV2K-size image makes one full-size float64 copy, not five."""
    if isinstance(x, torch.Tensor):
        batched = x.ndim == 4
        if x.ndim not in (3, 4):
            raise ValueError(f"torch images must be CHW or NCHW, got shape {tuple(x.shape)}")
        t = x if batched else x[None]
    else:
        x = np.asarray(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"numpy images must be HWC or HW, got shape {x.shape}")
        batched = False
        t = torch.from_numpy(np.ascontiguousarray(x))
        t = t[None, None] if x.ndim == 2 else t.permute(2, 0, 1)[None]
    if t.dtype == torch.uint8:
        return t, batched, 1.0
    if not t.is_floating_point():
        raise ValueError(f"images must be float in [0, 1] or uint8, got {t.dtype}")
    return t, batched, 255.0


def _to_255(t: torch.Tensor, scale: float) -> torch.Tensor:
    """float64 on [0, 255]."""
    t = t.to(torch.float64, copy=True)
    return t.mul_(scale) if scale != 1.0 else t


def rgb_to_y(x, grey_as_rgb: bool = False):
    """BT.601 studio-swing luma on the [0, 255] scale (16 to 235).

    x: numpy HWC / HW or torch (N)CHW, float in [0, 1] or uint8, with 3 channels (RGB) or 1 (grey; used
    as it is unless ``grey_as_rgb``). Not rounded. Returns float64: numpy (H, W) for numpy input,
    torch (N, 1, H, W) or (1, H, W) for torch input.
    """
    t, batched, scale = _as_batch(x)
    y = _luma(t, scale, grey_as_rgb)
    if isinstance(x, torch.Tensor):
        return y if batched else y[0]
    return y[0, 0].numpy()


def _luma(t: torch.Tensor, scale: float, grey_as_rgb: bool = False) -> torch.Tensor:
    """(N, 3 or 1, H, W) times ``scale`` on [0, 255] -> (N, 1, H, W) float64 Y on [0, 255]."""
    if t.shape[1] == 3:
        # y = 16 + wr R + wg G + wb B, in place; G and B go through one float64 scratch buffer, since adding
        # a uint8 channel straight into float64 takes the slow mixed-dtype path (twice the time)
        y = _to_255(t[:, 0:1], scale).mul_(_Y_WEIGHTS[0]).add_(16.0)
        channel = torch.empty_like(y)
        y.add_(channel.copy_(t[:, 1:2]), alpha=_Y_WEIGHTS[1] * scale)
        return y.add_(channel.copy_(t[:, 2:3]), alpha=_Y_WEIGHTS[2] * scale)
    if t.shape[1] == 1:
        y = _to_255(t, scale)
        return y.mul_(sum(_Y_WEIGHTS)).add_(16.0) if grey_as_rgb else y
    raise ValueError(f"the Y channel needs 3 (RGB) or 1 (grey) channels, got {t.shape[1]}")


def _prepare(sr, hr, crop_border: int, y_channel: bool, round_y: bool, grey_as_rgb: bool):
    """Both images as float64 (N, C, H, W) on [0, 255]: cropped, and Y (rounded) when asked."""
    a, batched, scale_a = _as_batch(sr)
    b, _, scale_b = _as_batch(hr)
    if a.shape != b.shape:
        raise ValueError(f"sr and hr shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    b = b.to(a.device)
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if not y_channel:
        return _to_255(a, scale_a), _to_255(b, scale_b), batched
    a, b = _luma(a, scale_a, grey_as_rgb), _luma(b, scale_b, grey_as_rgb)
    if round_y:  # both are fresh buffers: round in place
        a, b = a.round_(), b.round_()
    return a, b, batched


def psnr(sr, hr, crop_border: int = 0, y_channel: bool = True, round_y: bool = True, grey_as_rgb: bool = False):
    """Peak signal-to-noise ratio in dB, peak 255 (``inf`` for identical images).

    ``y_channel=False`` uses the mean squared error over all RGB channels (``round_y`` then does nothing).
    Returns a float, or a (N,) tensor for a 4-D batch (see the module docstring).
    """
    a, b, batched = _prepare(sr, hr, crop_border, y_channel, round_y, grey_as_rgb)
    mse = (a - b).square_().mean(dim=(1, 2, 3))
    value = 10.0 * torch.log10(255.0**2 / mse)  # mse = 0 gives inf
    return value if batched else float(value[0])


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _band(n_out: int, window: torch.Tensor) -> torch.Tensor:
    """(n_out, n_out + k - 1) matrix whose row i holds the window at columns i..i+k-1: 'valid' correlation."""
    k = window.numel()
    band = window.new_zeros(n_out, n_out + k - 1)
    band.as_strided((n_out, k), (n_out + k, 1)).copy_(window.expand(n_out, k))  # the diagonals i..i+k-1
    return band


# Strip and block sizes of the banded products below, measured in BENCHMARKS.md "PSNR + SSIM against
# scikit-image" (32 to 64 all within 10 %)
_STRIP_ROWS, _BLOCK_COLS = 32, 32


def _ssim_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM map of each plane of (P, H, W) float tensors on [0, 255]: (P,).

    The separable Gaussian runs as banded matrix products: a 32-wide band does 42 multiply-adds where 11
    would do, yet BLAS gets through them in a fifth of the time of scipy's per-pixel ``correlate1d``. The image
    goes through in strips of 32 output rows so every intermediate stays in cache, and each strip's SSIM
    map is summed at once instead of being stored. Plain tensor ops: any device, and differentiable.
    """
    window = _gaussian_window().to(a.device, a.dtype)
    k = window.numel()
    planes, height, width = a.shape
    out_h, out_w = height - k + 1, width - k + 1
    rows, cols = _STRIP_ROWS, _BLOCK_COLS
    n_blocks = -(-out_w // cols)
    padded_w = n_blocks * cols + k - 1  # zero columns so that every block is whole
    unused = n_blocks * cols - out_w  # outputs of the last block that lie in the padding
    a, b = F.pad(a, (0, padded_w - width)), F.pad(b, (0, padded_w - width))
    along_w = _band(cols, window).T
    along_h = _band(rows, window)  # its top-left (r, r + k - 1) corner is the band of a shorter last strip
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    total = a.new_zeros(planes)
    for top in range(0, out_h, rows):
        r = min(rows, out_h - top)
        a_s, b_s = a[:, top : top + r + k - 1], b[:, top : top + r + k - 1]
        # SSIM needs only var_a + var_b, so four local means suffice: E[a], E[b], E[a^2 + b^2], E[ab]
        moments = torch.stack([a_s, b_s, torch.addcmul(a_s * a_s, b_s, b_s), a_s * b_s])
        n = 4 * planes * (r + k - 1)
        # overlapping column blocks as a strided view: (block, every moment row, cols + k - 1)
        blocks = moments.view(n, padded_w).as_strided((n_blocks, n, cols + k - 1), (cols, padded_w, 1))
        filtered = torch.matmul(blocks, along_w).view(n_blocks * 4 * planes, r + k - 1, cols)
        filtered = torch.matmul(along_h[:r, : r + k - 1], filtered).view(n_blocks, 4, planes, r, cols)
        mu_a, mu_b, mean_sq, mean_ab = filtered.unbind(1)
        mu_ab, mu_sq = mu_a * mu_b, torch.addcmul(mu_a * mu_a, mu_b, mu_b)
        # (var_a + var_b) = mean_sq - mu_sq and cov = mean_ab - mu_ab
        ssim_map = ((2 * mu_ab + c1) * (2 * (mean_ab - mu_ab) + c2)) / ((mu_sq + c1) * (mean_sq - mu_sq + c2))
        total = total + ssim_map.sum((0, 2, 3)) - ssim_map[-1, :, :, cols - unused :].sum((1, 2))
    return total / (out_h * out_w)


def ssim(sr, hr, crop_border: int = 0, y_channel: bool = True, round_y: bool = True, grey_as_rgb: bool = False):
    """Structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, on [0, 255].

    The SSIM map is averaged over the window positions inside the image; with ``y_channel=False`` the
    per-channel means are averaged. Returns a float, or a (N,) tensor for a 4-D batch.
    """
    a, b, batched = _prepare(sr, hr, crop_border, y_channel, round_y, grey_as_rgb)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 after cropping, got {tuple(a.shape[-2:])}")
    n, c, h, w = a.shape
    value = _ssim_mean(a.reshape(n * c, h, w), b.reshape(n * c, h, w)).view(n, c).mean(dim=1)
    return value if batched else float(value[0])


def mse_to_psnr(mse: float, peak: float = 255.0) -> float:
    """The PSNR of a given mean squared error (handy for closed-form checks)."""
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)
