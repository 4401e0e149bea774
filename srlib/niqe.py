"""NIQE (Mittal, Soundararajan and Bovik 2013): a no-reference naturalness score, lower is better.

The image (Y channel, [0, 255], rounded) is cut into 96x96 blocks without overlap; each block gives 36
natural-scene statistics: 18 at full size and 18 on the image halved by MATLAB-bicubic ``imresize`` (48x48
blocks there). At each scale the mean-subtracted contrast-normalised (MSCN) coefficients
``(I - mu) / (sigma + 1)`` (``mu``, ``sigma``: local mean and deviation under a 7x7 Gaussian, sigma 7/6)
are fitted with an asymmetric generalised Gaussian (shape, mean of the left and right scales), and so are
their products with the horizontal, vertical and two diagonal neighbours (shape, mean, left and right
scales each). NIQE is the distance between the multivariate Gaussian of the image's block features
(mean over blocks, covariance) and a pristine model's::

    NIQE = sqrt((mu_p - mu_d)^T pinv((cov_p + cov_d) / 2) (mu_p - mu_d))

This follows the authors' MATLAB release (``niqe_release``: ``computequality.m``, ``computefeature.m``,
``estimateaggdparam.m``), as BasicSR's ``basicsr/metrics/niqe.py`` ports it: every block of the test
image is used (the sharpness selection belongs to fitting a pristine model only), blocks whose features
are undefined (flat: no negative or no positive coefficient) are left out as MATLAB's ``nanmean`` /
``nancov`` do.

Two pristine models:

- ``"official"`` (the default): the published model, fitted by the authors on 125 pristine photographs
  (``modelparameters.mat`` of the MATLAB release). srlib reads it from ``basicsr/metrics/niqe_pris_params.npz``
  in the ``basicsr==1.4.2`` source archive on the package index, fetched once like the zoo's packages
  (``srlib.data.download.read_package_members``: one pinned, hash-checked file, only that member read, nothing
  installed or imported) and cached as ``<srlib cache>/niqe_pris_params.npz``. Values are on the scale
  of papers and challenges (natural photographs about 3-9); with the Y channel and ``crop_border = scale``
  this is the PIRM 2018 / BasicSR setting.
- a model fitted by ``fit_niqe`` on images the caller chooses (the sharpest blocks of each, as the
  MATLAB release's ``estimatemodelparam.m``): values are comparable only under that one fitted model.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np

NIQE_BLOCK = 96  # block side at the first scale (the authors' recommended size, also their model's)
NIQE_SHARPNESS = 0.75  # fitting only: keep blocks whose mean sigma exceeds this fraction of the sharpest
_SHAPES = np.arange(0.2, 10.001, 0.001)  # candidate AGGD shapes, as in estimateaggdparam.m
_NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical, the two diagonals

# The published pristine parameters, pinned: the source archive and the one member srlib reads from it.
PRISTINE_FILE = "niqe_pris_params.npz"
_BASICSR_SDIST = dict(
    package="basicsr==1.4.2",
    package_file="basicsr-1.4.2.tar.gz",
    sha256="b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87",
    members={"params": (f"basicsr-1.4.2/basicsr/metrics/{PRISTINE_FILE}",
                        "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296")},
)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# features


@functools.cache
def gaussian_window() -> np.ndarray:
    """MATLAB's ``fspecial('gaussian', 7, 7/6)``, normalised to sum 1: NIQE's local mean and deviation."""
    g = np.exp(-((np.arange(7) - 3) ** 2) / (2 * (7 / 6) ** 2))
    window = np.outer(g, g)
    return window / window.sum()


def _local_filter(x: np.ndarray) -> np.ndarray:
    """``imfilter(x, window, 'replicate')``: the Gaussian window, edges replicated."""
    from scipy.ndimage import correlate

    return correlate(x, gaussian_window(), mode="nearest")


@functools.cache
def _shape_ratios() -> np.ndarray:
    """r(a) = Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) for each candidate shape a."""
    from scipy.special import gamma

    return gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))


def _aggd(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Asymmetric generalised Gaussian fit of each row of ``v`` (B, n) by moment matching
    (``estimateaggdparam.m``): shape ``alpha``, left and right scales ``beta_l``, ``beta_r``, each (B,).
    A row without negative (or positive) values gives NaN, as MATLAB's mean of an empty set does."""
    from scipy.special import gamma

    neg, pos = v < 0, v > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.sqrt((v**2 * neg).sum(axis=1) / neg.sum(axis=1))
        right = np.sqrt((v**2 * pos).sum(axis=1) / pos.sum(axis=1))
        gammahat = left / right
        rhat = np.mean(np.abs(v), axis=1) ** 2 / np.mean(v**2, axis=1)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    valid = np.isfinite(rhatnorm)
    alpha = np.full(len(v), np.nan)
    # the first shape whose ratio is nearest, as MATLAB's min; rows at a time keep the table small
    for start in range(0, len(v), 256):
        rows = np.flatnonzero(valid[start : start + 256]) + start
        alpha[rows] = _SHAPES[np.argmin((_shape_ratios()[None] - rhatnorm[rows, None]) ** 2, axis=1)]
    scale = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * scale, right * scale


def _block_features(mscn: np.ndarray, side: int) -> np.ndarray:
    """The 18 features (``computefeature.m``) of each side x side block of an MSCN map: (blocks, 18)."""
    from scipy.special import gamma

    rows, cols = mscn.shape[0] // side, mscn.shape[1] // side
    blocks = mscn[: rows * side, : cols * side].reshape(rows, side, cols, side).swapaxes(1, 2)
    blocks = blocks.reshape(rows * cols, side, side)
    alpha, left, right = _aggd(blocks.reshape(len(blocks), -1))
    features = [alpha, (left + right) / 2]
    for shift in _NEIGHBOURS:
        # neighbours are taken circularly inside the block, as MATLAB's circshift of the block
        products = blocks * np.roll(blocks, shift, axis=(1, 2))
        alpha, left, right = _aggd(products.reshape(len(blocks), -1))
        mean = (right - left) * gamma(2 / alpha) / gamma(1 / alpha)
        features += [alpha, mean, left, right]
    return np.stack(features, axis=1)


def niqe_features(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 36 features of each 96x96 block of a [0, 255] grey image (H, W), and each block's sharpness.

    Returns (features (blocks, 36), sharpness (blocks,)): the image is cut to whole blocks first;
    sharpness is the block's mean local deviation sigma at full size (used only to fit a model).
    """
    from srlib.imresize import imresize

    rows, cols = grey.shape[0] // NIQE_BLOCK, grey.shape[1] // NIQE_BLOCK
    image = np.asarray(grey, dtype=np.float64)[: rows * NIQE_BLOCK, : cols * NIQE_BLOCK]
    features, sharpness = [], None
    for level in (1, 2):
        mu = _local_filter(image)
        sigma = np.sqrt(np.abs(_local_filter(image * image) - mu * mu))
        mscn = (image - mu) / (sigma + 1)  # +1: flat regions stay finite (Eq. 1 of the paper)
        features.append(_block_features(mscn, NIQE_BLOCK // level))
        if level == 1:
            sharpness = sigma.reshape(rows, NIQE_BLOCK, cols, NIQE_BLOCK).mean(axis=(1, 3)).ravel()
            image = imresize(image, 0.5)  # MATLAB bicubic with antialiasing, on [0, 255] in float64
    return np.concatenate(features, axis=1), sharpness


def niqe_input(image, convert: str = "y", crop_border: int = 0) -> np.ndarray:
    """The grey [0, 255] image NIQE measures, rounded to whole levels as MATLAB's uint8 conversions give.

    image: numpy HWC (RGB, or RGBA: alpha ignored) or HW, float in [0, 1] or uint8.
    convert: "y", BT.601 studio-swing luma (``16 + 65.481 R + 128.553 G + 24.966 B``, MATLAB's
    ``rgb2ycbcr``, what BasicSR and the PIRM 2018 scripts measure), or "gray" (MATLAB's ``rgb2gray``, the
    MATLAB release's own conversion). A grey image is used as it is.
    crop_border: pixels removed from each side first (``scale`` for SR outputs, as in PIRM and BasicSR).
    """
    from srlib.metrics import rgb_to_y

    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"NIQE needs an HWC or HW image, got shape {image.shape}")
    if image.dtype == np.uint8:
        image = image / 255.0
    elif not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"NIQE needs a float image in [0, 1] or uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] >= 3:
        rgb = np.ascontiguousarray(image[..., :3])
        if convert == "y":
            grey = rgb_to_y(rgb)
        elif convert == "gray":
            grey = rgb @ np.array([0.298936021293775, 0.587043074451121, 0.114020904255103]) * 255
        else:
            raise ValueError(f"convert must be 'y' or 'gray', got {convert!r}")
    else:
        grey = (image[..., 0] if image.ndim == 3 else image).astype(np.float64) * 255
    if crop_border:
        grey = grey[crop_border:-crop_border, crop_border:-crop_border]
    return np.round(grey)


# ----------------------------------------------------------------------------------------------------------
# pristine models


def official_params_path() -> Path:
    """Where the published pristine parameters are cached: ``<srlib cache>/niqe_pris_params.npz``."""
    from srlib.utils import cache_dir

    return cache_dir() / PRISTINE_FILE


def _pristine_package():
    """The pinned basicsr source archive, with the pip options that fetch it quickly."""
    from srlib.data.download import PackageFile

    # pip prepares an sdist's metadata by running its setup.py; basicsr's lists torch in setup_requires,
    # which an isolated build environment would install just for that. Without isolation setuptools only
    # reads the metadata (its build backend never installs setup_requires), so use it where it exists.
    no_isolation = ("--no-build-isolation",) if importlib.util.find_spec("setuptools") else ()
    return PackageFile(**_BASICSR_SDIST, pip_args=("--no-binary=basicsr", *no_isolation))


def fetch_official(force: bool = False, verbose: bool = True) -> Path:
    """The cached published pristine parameters, fetched from the package index if needed; returns the path.

    Raises RuntimeError, saying what to do, when the package index cannot be reached and nothing is cached.
    """
    from srlib.data.download import read_package_members
    from srlib.utils import file_digest

    path, (member, digest) = official_params_path(), _BASICSR_SDIST["members"]["params"]
    if path.is_file() and not force:
        if file_digest(path) != digest:
            raise RuntimeError(f"{path} does not have the sha256 of the published NIQE parameters; delete it")
        return path
    try:
        data = read_package_members(_pristine_package(), verbose)["params"]
    except RuntimeError as error:
        raise RuntimeError(
            f"official NIQE needs its published parameters, not cached at {path}: {error}. Run once where the "
            f"package index is reachable, or copy {member} out of {_BASICSR_SDIST['package_file']} to that path; "
            "or use a fitted model (niqe(image, fit_niqe(images)), `srlib evaluate --niqe-fit DATA`)"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)
    return path


@functools.cache
def _load_official(path: str) -> dict:
    with np.load(path) as params:
        mu, cov = params["mu_pris_param"].ravel(), params["cov_pris_param"]
    return dict(name="official", mu=mu, cov=cov, source=f"published MATLAB model ({_BASICSR_SDIST['package']})")


def official_model(verbose: bool = True) -> dict:
    """The published pristine model: {"name": "official", "mu" (36,), "cov" (36, 36), "source"}."""
    return _load_official(str(fetch_official(verbose=verbose)))


def resolve_model(model: str | dict) -> dict:
    """A pristine model from "official" or a ``fit_niqe`` result (returned as it is)."""
    if isinstance(model, dict):
        return model
    if model == "official":
        return official_model()
    raise ValueError(f"NIQE model must be 'official' or a dict from fit_niqe, got {model!r}")


def fit_niqe(images, convert: str = "y") -> dict:
    """A pristine model fitted on ``images``: mean and covariance of their sharpest blocks' features.

    images: HR arrays (HWC / HW, float in [0, 1] or uint8) or files. As in the MATLAB release's
    ``estimatemodelparam.m``, a block is kept when its sharpness exceeds 0.75 of the image's sharpest.
    Returns {"name": "fitted", "mu", "cov", "blocks", "images"}. The published model (``official_model``)
    was fitted the same way on 125 photographs srlib does not have; values under a model fitted here are
    comparable only under that model.
    """
    from srlib.io import read_image

    sharp = []
    for image in images:
        image = read_image(image) if isinstance(image, (str, Path)) else image
        feats, sharpness = niqe_features(niqe_input(image, convert))
        sharp.append(feats[sharpness > NIQE_SHARPNESS * sharpness.max()])
    feats = np.concatenate(sharp)
    feats = feats[~np.isnan(feats).any(axis=1)]
    return dict(name="fitted", mu=feats.mean(axis=0), cov=np.cov(feats, rowvar=False), blocks=len(feats),
                images=len(sharp))  # fmt: skip


def niqe(image, model: str | dict = "official", crop_border: int = 0, convert: str = "y") -> float:
    """NIQE of one image, lower is more natural.

    image: numpy HWC / HW, float in [0, 1] or uint8, at least two 96x96 blocks after ``crop_border``.
    model: "official" (the published pristine model, fetched once) or a dict from ``fit_niqe``.
    crop_border, convert: see ``niqe_input`` (defaults: no crop, the Y channel).
    """
    pristine = resolve_model(model)
    grey = niqe_input(image, convert, crop_border)
    feats, _ = niqe_features(grey)
    complete = feats[~np.isnan(feats).any(axis=1)]  # MATLAB's nancov drops blocks with an undefined feature
    if len(complete) < 2:
        raise ValueError(
            f"NIQE needs at least two {NIQE_BLOCK}x{NIQE_BLOCK} blocks with texture, got an image of "
            f"{grey.shape[1]}x{grey.shape[0]} (after cropping {crop_border})"
        )
    diff = pristine["mu"] - np.nanmean(feats, axis=0)  # MATLAB's nanmean: each feature over its defined blocks
    cov = (pristine["cov"] + np.cov(complete, rowvar=False)) / 2
    return float(math.sqrt(diff @ np.linalg.pinv(cov) @ diff))
