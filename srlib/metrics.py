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

# BT.601 studio swing, for R, G, B in [0, 255]: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255
_Y_WEIGHTS = (65.481 / 255, 128.553 / 255, 24.966 / 255)


def _as_batch(x) -> tuple[torch.Tensor, bool]:
    """(N, C, H, W) float64 on [0, 255], and whether the input was a batch (4-D tensor)."""
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
        return t.to(torch.float64), batched
    if not t.is_floating_point():
        raise ValueError(f"images must be float in [0, 1] or uint8, got {t.dtype}")
    return t.to(torch.float64) * 255.0, batched


def rgb_to_y(x, grey_as_rgb: bool = False):
    """BT.601 studio-swing luma on the [0, 255] scale (16 to 235).

    x: numpy HWC / HW or torch (N)CHW, float in [0, 1] or uint8, with 3 channels (RGB) or 1 (grey; used
    as it is unless ``grey_as_rgb``). Not rounded. Returns float64: numpy (H, W) for numpy input,
    torch (N, 1, H, W) or (1, H, W) for torch input.
    """
    t, batched = _as_batch(x)
    y = _luma(t, grey_as_rgb)
    if isinstance(x, torch.Tensor):
        return y if batched else y[0]
    return y[0, 0].numpy()


def _luma(t: torch.Tensor, grey_as_rgb: bool = False) -> torch.Tensor:
    """(N, 3 or 1, H, W) on [0, 255] -> (N, 1, H, W) Y on [0, 255]."""
    if t.shape[1] == 3:
        r, g, b = t[:, 0:1], t[:, 1:2], t[:, 2:3]
        return 16.0 + _Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b
    if t.shape[1] == 1:
        return 16.0 + sum(_Y_WEIGHTS) * t if grey_as_rgb else t
    raise ValueError(f"the Y channel needs 3 (RGB) or 1 (grey) channels, got {t.shape[1]}")


def _prepare(sr, hr, crop_border: int, y_channel: bool, round_y: bool, grey_as_rgb: bool):
    a, batched = _as_batch(sr)
    b, _ = _as_batch(hr)
    if a.shape != b.shape:
        raise ValueError(f"sr and hr shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    b = b.to(a.device)
    if crop_border:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        a, b = _luma(a, grey_as_rgb), _luma(b, grey_as_rgb)
        if round_y:
            a, b = a.round(), b.round()
    return a, b, batched


def psnr(sr, hr, crop_border: int = 0, y_channel: bool = True, round_y: bool = True, grey_as_rgb: bool = False):
    """Peak signal-to-noise ratio in dB, peak 255 (``inf`` for identical images).

    ``y_channel=False`` uses the mean squared error over all RGB channels (``round_y`` then does nothing).
    Returns a float, or a (N,) tensor for a 4-D batch (see the module docstring).
    """
    a, b, batched = _prepare(sr, hr, crop_border, y_channel, round_y, grey_as_rgb)
    mse = ((a - b) ** 2).mean(dim=(1, 2, 3))
    value = 10.0 * torch.log10(255.0**2 / mse)  # mse = 0 gives inf
    return value if batched else float(value[0])


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter of each channel of (N, C, H, W).

    On the CPU, scipy's C loop (``correlate1d``) is about 2.4x faster than torch on float64; elsewhere the
    sliding windows (``unfold``) times the 1-D window keep the whole computation on the tensor's device.
    """
    k = window.to(x.device, x.dtype)
    half = k.numel() // 2
    if x.device.type == "cpu" and not x.requires_grad:
        from scipy.ndimage import correlate1d

        out = correlate1d(x.numpy(), k.numpy(), axis=-2, mode="constant")[..., half:-half, :]
        out = correlate1d(out, k.numpy(), axis=-1, mode="constant")[..., half:-half]
        return torch.from_numpy(np.ascontiguousarray(out))
    x = x.unfold(-2, k.numel(), 1) @ k  # along H: (N, C, H - 10, W)
    return x.unfold(-1, k.numel(), 1) @ k  # along W: (N, C, H - 10, W - 10)


def ssim(sr, hr, crop_border: int = 0, y_channel: bool = True, round_y: bool = True, grey_as_rgb: bool = False):
    """Structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, on [0, 255].

    The SSIM map is averaged over the window positions inside the image; with ``y_channel=False`` the
    per-channel means are averaged. Returns a float, or a (N,) tensor for a 4-D batch.
    """
    a, b, batched = _prepare(sr, hr, crop_border, y_channel, round_y, grey_as_rgb)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 after cropping, got {tuple(a.shape[-2:])}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = _gaussian_window()
    # SSIM needs only var_a + var_b, so four local means suffice: E[a], E[b], E[a^2 + b^2], E[ab]
    moments = _filter(torch.cat([a, b, a * a + b * b, a * b], dim=1), window)
    mu_a, mu_b, mean_sq, mean_ab = moments.chunk(4, dim=1)
    mu_sq = mu_a**2 + mu_b**2
    var_sum, cov = mean_sq - mu_sq, mean_ab - mu_a * mu_b  # var_a + var_b, and the covariance
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_sq + c1) * (var_sum + c2))
    value = ssim_map.mean(dim=(2, 3)).mean(dim=1)
    return value if batched else float(value[0])


def mse_to_psnr(mse: float, peak: float = 255.0) -> float:
    """The PSNR of a given mean squared error (handy for closed-form checks)."""
    return math.inf if mse == 0 else 10.0 * math.log10(peak**2 / mse)
