"""NIQE (Mittal et al. 2013): a no-reference naturalness score, lower is better.

Each image is described by 36 natural-scene statistics per 96x96 block (generalised Gaussian fits of its
mean-subtracted contrast-normalised coefficients and of their products with four neighbours, at two
scales); NIQE is the distance between the image's statistics and those of a pristine model.

The published pristine model was fitted on 125 photographs srlib does not have, so srlib fits its own on
HR images the caller chooses (``fit_niqe``): absolute values differ from published NIQE figures and are
comparable only under one fitted model. ``srlib.evaluate`` notes this in every result that carries NIQE.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

NIQE_BLOCK = 96  # patch side at the first scale (Mittal et al. 2013)
NIQE_SHARPNESS = 0.75  # pristine patches: local sharpness above this fraction of the image's sharpest
_SHAPES = np.arange(0.2, 10.001, 0.001)  # candidate (A)GGD shape parameters, as in the reference code


def _gaussian_filter(x: np.ndarray) -> np.ndarray:
    """7x7 Gaussian, sigma 7/6, edges replicated (the reference code's local mean and deviation)."""
    from scipy.ndimage import correlate

    g = np.exp(-((np.arange(7) - 3) ** 2) / (2 * (7 / 6) ** 2))
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    return correlate(x, kernel, mode="nearest")


@functools.cache
def _shape_tables() -> tuple[np.ndarray, np.ndarray]:
    """The moment ratios of each candidate shape, for the GGD and the AGGD fits."""
    from scipy.special import gamma

    g1, g2, g3 = gamma(1 / _SHAPES), gamma(2 / _SHAPES), gamma(3 / _SHAPES)
    return g1 * g3 / g2**2, g2**2 / (g1 * g3)


def _ggd_shape(v: np.ndarray) -> tuple[float, float]:
    """Generalised Gaussian fit by moment matching: (shape, variance)."""
    ratios = _shape_tables()[0]
    rho = np.mean(v**2) / np.mean(np.abs(v)) ** 2
    return float(_SHAPES[np.argmin(np.abs(rho - ratios))]), float(np.mean(v**2))


def _aggd(v: np.ndarray) -> list[float]:
    """Asymmetric generalised Gaussian fit: shape, mean, left and right variances."""
    from scipy.special import gamma

    left, right = np.sqrt(np.mean(v[v < 0] ** 2)), np.sqrt(np.mean(v[v > 0] ** 2))
    ratio, rhat = left / right, np.mean(np.abs(v)) ** 2 / np.mean(v**2)
    rhat_norm = rhat * (ratio**3 + 1) * (ratio + 1) / (ratio**2 + 1) ** 2
    ratios = _shape_tables()[1]
    a = float(_SHAPES[np.argmin((ratios - rhat_norm) ** 2)])
    mean = (right - left) * gamma(2 / a) / gamma(1 / a) * np.sqrt(gamma(1 / a) / gamma(3 / a))
    return [a, float(mean), float(left**2), float(right**2)]


def _niqe_blocks(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """36 natural-scene statistics per 96x96 block (18 per scale, two scales) and each block's sharpness."""
    from srlib.imresize import imresize

    features, sharpness = [], None
    for level in range(2):
        side = NIQE_BLOCK // (level + 1)
        mu = _gaussian_filter(grey)
        sigma = np.sqrt(np.abs(_gaussian_filter(grey * grey) - mu * mu))
        mscn = (grey - mu) / (sigma + 1)  # mean-subtracted contrast-normalised coefficients
        rows, cols = grey.shape[0] // side, grey.shape[1] // side
        per_level = []
        for i in range(rows):
            for j in range(cols):
                block = mscn[i * side : (i + 1) * side, j * side : (j + 1) * side]
                feats = list(_ggd_shape(block.ravel()))
                for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # horizontal, vertical, two diagonals
                    feats += _aggd((block * np.roll(block, (dy, dx), axis=(0, 1))).ravel())
                per_level.append(feats)
        if level == 0:
            blocks = sigma[: rows * side, : cols * side].reshape(rows, side, cols, side)
            sharpness = blocks.mean(axis=(1, 3)).ravel()
        features.append(np.array(per_level))
        grey = imresize(grey, 0.5)
    return np.concatenate(features, axis=1), sharpness


def _grey255(image: np.ndarray) -> np.ndarray:
    """MATLAB's rgb2gray on [0, 255] (NIQE's input), from HWC / HW float in [0, 1]."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] >= 3:
        image = image[..., :3] @ np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
    elif image.ndim == 3:
        image = image[..., 0]
    return np.round(image * 255)


def fit_niqe(images) -> dict:
    """A NIQE pristine model (mean, covariance of the sharp blocks' features) fitted on ``images``.

    images: HR arrays or files. The published model was fitted on 125 pristine photographs that srlib does
    not have; a model fitted here on other images gives different absolute values (lower = closer to the
    statistics of the fitting set), so NIQE values are comparable only under the same fitted model.
    """
    from srlib.io import read_image

    sharp = []
    for image in images:
        image = read_image(image) if isinstance(image, (str, Path)) else image
        feats, sharpness = _niqe_blocks(_grey255(image))
        sharp.append(feats[sharpness > NIQE_SHARPNESS * sharpness.max()])
    feats = np.concatenate(sharp)
    return dict(mu=feats.mean(axis=0), cov=np.cov(feats, rowvar=False), blocks=len(feats), images=len(sharp))


def niqe(image: np.ndarray, model: dict) -> float:
    """NIQE of one image (HWC / HW float in [0, 1], at least 192 px a side) under a fitted pristine model."""
    feats, _ = _niqe_blocks(_grey255(image))
    if len(feats) < 2:
        raise ValueError(f"NIQE needs at least two {NIQE_BLOCK}x{NIQE_BLOCK} blocks, got an image of {image.shape[:2]}")
    diff = model["mu"] - feats.mean(axis=0)
    cov = (model["cov"] + np.cov(feats, rowvar=False)) / 2
    return float(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))
