"""How LR images are made from HR: clean bicubic, the Track 1 stand-in, RealSR noise, Real-ESRGAN.

Every function takes HR as numpy HWC or torch CHW / NCHW float in [0, 1] and returns LR of the same kind,
``scale`` times smaller (``h // scale`` by ``w // scale``). Randomness comes from ``rng``: a
``numpy.random.Generator`` or an int seed, so the same seed gives the same LR. Random parameters are
drawn with numpy; noise is drawn with a torch generator seeded from ``rng``, so the pixels work happens in
torch (on the input's device).

A ``Degradation`` is any callable ``(hr, rng) -> lr``; ``SRDataset`` calls one per sample. The classes
below bind the settings (``BicubicDown(4)``, ``Track1(4, **FRITSCHE_NOISE)``, ``RealSRNoise(4, patches)``,
``SecondOrder(4)``) and ``make_degradation(name, scale)`` builds one from a name.

Sources (REFERENCE.md section 2): Fritsche et al. 2019 (Gaussian noise sigma 8 or JPEG 30 after bicubic
x4); Ji et al. 2020, RealSR (noise patches with grey variance below 20, mean removed, added to LR);
Wang et al. 2021, Real-ESRGAN (two rounds of blur -> resize -> noise -> JPEG, then a sinc filter),
whose default ranges are in ``SECOND_ORDER_DEFAULTS``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from srlib.imresize import imresize, modcrop

Degradation = Callable  # (hr numpy HWC | torch (N)CHW, rng) -> lr of the same kind

FRITSCHE_NOISE = {"noise": "gaussian", "sigma": 8.0}  # Fritsche et al. 2019: Gaussian noise, sigma 8/255
FRITSCHE_JPEG = {"noise": None, "jpeg": 30}  # Fritsche et al. 2019: JPEG quality 30


# --- plumbing: one tensor layout inside, the caller's layout outside --------------------------------


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A numpy Generator from a Generator, an int seed, or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _torch_generator(rng: np.random.Generator) -> torch.Generator:
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


def _to_nchw(x) -> tuple[torch.Tensor, Callable]:
    """(N, C, H, W) float tensor, and a function that turns a result back into the caller's layout."""
    if isinstance(x, torch.Tensor):
        if x.ndim == 4:
            return x, lambda t: t
        if x.ndim == 3:
            return x[None], lambda t: t[0]
        raise ValueError(f"torch images must be CHW or NCHW, got shape {tuple(x.shape)}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"numpy images must be HWC, got shape {x.shape}")
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    return t, lambda t: np.ascontiguousarray(t[0].permute(1, 2, 0).cpu().numpy())


def _noise_like(x: torch.Tensor, gen: torch.Generator, grey: bool) -> torch.Tensor:
    shape = (x.shape[0], 1, *x.shape[2:]) if grey else x.shape
    return torch.randn(shape, generator=gen).to(x.device, x.dtype).expand_as(x)


# --- the building blocks (all on NCHW tensors) -------------------------------------------------------


def add_gaussian_noise(x: torch.Tensor, sigma: float, gen: torch.Generator, grey: bool = False):
    """x + N(0, (sigma / 255)^2); ``grey`` uses one noise field for all channels. Clipped to [0, 1]."""
    return (x + _noise_like(x, gen, grey) * (sigma / 255.0)).clamp(0, 1)


def add_poisson_noise(x: torch.Tensor, scale: float, gen: torch.Generator, grey: bool = False):
    """Real-ESRGAN's Poisson (shot) noise: photon count = 2^ceil(log2(#grey levels)), noise times ``scale``."""
    base = x.mean(dim=1, keepdim=True) if grey else x  # grey noise: one field from the luminance
    base = (base.clamp(0, 1) * 255).round() / 255
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        levels = 2 ** math.ceil(math.log2(max(len(torch.unique(base[i])), 2)))
        counts = torch.poisson((base[i] * levels).cpu(), generator=gen).to(x.device)
        out[i] = x[i] + (counts / levels - base[i]) * scale
    return out.clamp(0, 1)


def jpeg_compress(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip through Pillow (libjpeg tables, 4:2:0 chroma) at ``quality`` (1-95)."""
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        pixels = (x[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        buffer = io.BytesIO()
        Image.fromarray(pixels.squeeze(2) if pixels.shape[2] == 1 else pixels).save(
            buffer, format="JPEG", quality=int(quality)
        )
        decoded = np.asarray(Image.open(buffer)).reshape(pixels.shape)
        out[i] = torch.from_numpy(decoded.transpose(2, 0, 1).copy()).to(x.device, x.dtype) / 255.0
    return out


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel with one odd-sized (k, k) kernel, reflect padding, same size out.

    Done by FFT: for the 7-21 tap kernels here it is 3-4x faster than a grouped conv2d on CPU.
    """
    k = kernel.shape[-1]
    small = k // 2 >= min(x.shape[-2:])  # reflect needs pad < size: tiny LR patches replicate instead
    padded = F.pad(x, [k // 2] * 4, mode="replicate" if small else "reflect")
    size = padded.shape[-2:]
    # circular convolution with the flipped kernel = correlation; rows/cols from k - 1 on have no wrap
    spectrum = torch.fft.rfft2(padded) * torch.fft.rfft2(kernel.flip(0, 1).to(x.device, x.dtype), s=size)
    return torch.fft.irfft2(spectrum, s=size)[..., k - 1 :, k - 1 :]


def gaussian_kernel(sigma: float, size: int | None = None) -> torch.Tensor:
    """Isotropic Gaussian, ``size`` = 2 * ceil(3 sigma) + 1 by default, normalised to sum 1."""
    size = size or 2 * math.ceil(3 * sigma) + 1
    return torch.from_numpy(mixed_kernel("iso", size, sigma, sigma, 0.0).astype(np.float32))


# --- Track 1 stand-in (Fritsche et al.) ---------------------------------------------------------------


def bicubic(hr, scale: int, rng=None):
    """Clean LR: MATLAB bicubic of the modcropped HR, clipped to [0, 1] (``rng`` is unused)."""
    lr = imresize(modcrop(hr, scale), 1 / scale)
    return lr.clamp(0, 1) if isinstance(lr, torch.Tensor) else np.clip(lr, 0, 1)


def track1(
    hr,
    scale: int = 4,
    noise: str | None = "gaussian",
    sigma: float = 8.0,
    grey: bool = False,
    jpeg: int | None = None,
    blur: float | None = None,
    rng: np.random.Generator | int | None = None,
):
    """The challenge-style stand-in: [Gaussian blur of HR] -> bicubic down -> [noise] -> [JPEG].

    noise: "gaussian" (std ``sigma`` on 0-255), "poisson" (shot noise whose std at mid-grey is ``sigma``),
    or None. grey: one noise field for all channels. jpeg: quality or None. blur: sigma of an HR blur.
    Presets: ``track1(hr, 4, **FRITSCHE_NOISE)`` and ``track1(hr, 4, **FRITSCHE_JPEG)``.
    """
    rng = as_rng(rng)
    gen = _torch_generator(rng)
    x, back = _to_nchw(hr)
    x = modcrop(x, scale)
    if blur:
        x = filter2d(x, gaussian_kernel(blur))
    x = imresize(x, 1 / scale)
    if noise == "gaussian":
        x = add_gaussian_noise(x, sigma, gen, grey)
    elif noise == "poisson":
        # std of Poisson(k v) / k is sqrt(v / k): choose k so that it is sigma / 255 at v = 0.5
        photons = 0.5 * (255.0 / sigma) ** 2
        base = x.mean(dim=1, keepdim=True) if grey else x  # grey: one draw per pixel, added to every channel
        counts = torch.poisson((base.clamp(0, 1) * photons).cpu(), generator=gen).to(x.device, x.dtype)
        x = (x + counts / photons - base).clamp(0, 1)
    elif noise is not None:
        raise ValueError(f"noise must be 'gaussian', 'poisson' or None, got {noise!r}")
    if jpeg is not None:
        x = jpeg_compress(x, jpeg)
    return back(x.clamp(0, 1))


# --- RealSR noise injection (Ji et al. 2020) ----------------------------------------------------------


def collect_noise_patches(images, patch: int = 256, max_var: float = 20.0, min_mean: float = 0.0):
    """Tiles (HWC float32) of ``images`` whose grey-level variance (0-255 scale) is below ``max_var``.

    Flat tiles carry almost nothing but the camera's (or the unknown degradation's) noise; RealSR
    collects them from the source-domain images. ``images``: numpy HWC arrays or paths.
    """
    from srlib.io import read_image

    patches = []
    for image in images:
        rgb = read_image(image) if not isinstance(image, np.ndarray) else image
        grey = np.round(rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32) * 255)  # as PIL's "L"
        h, w = grey.shape
        for i in range(0, h - patch + 1, patch):
            for j in range(0, w - patch + 1, patch):
                tile = grey[i : i + patch, j : j + patch]
                if tile.var() < max_var and tile.mean() > min_mean:
                    patches.append(np.ascontiguousarray(rgb[i : i + patch, j : j + patch], dtype=np.float32))
    return patches


def inject_noise(lr, patches: Sequence[np.ndarray], rng=None):
    """Add a random crop of a random noise patch, minus its per-channel mean, to ``lr``; clip to [0, 1].

    A patch smaller than ``lr`` is tiled. Works on numpy HWC and torch (N)CHW (one crop per image).
    """
    if not len(patches):
        raise ValueError("no noise patches: collect_noise_patches found no tile under max_var")
    rng = as_rng(rng)
    x, back = _to_nchw(lr)
    h, w = x.shape[-2:]
    noise = []
    for _ in range(x.shape[0]):
        p = patches[rng.integers(len(patches))]
        if p.shape[0] < h or p.shape[1] < w:
            p = np.pad(p, ((0, max(0, h - p.shape[0])), (0, max(0, w - p.shape[1])), (0, 0)), mode="wrap")
        i, j = rng.integers(p.shape[0] - h + 1), rng.integers(p.shape[1] - w + 1)
        crop = p[i : i + h, j : j + w]
        noise.append((crop - crop.mean(axis=(0, 1), keepdims=True)).transpose(2, 0, 1))
    noise = torch.from_numpy(np.stack(noise)).to(x.device, x.dtype)
    return back((x + noise).clamp(0, 1))


# --- Real-ESRGAN second-order degradation (Wang et al. 2021) ------------------------------------------

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


@dataclass(frozen=True)
class SecondOrderRanges:
    """Real-ESRGAN's defaults (options/train_realesrgan_x4plus.yml); the ``*2`` fields are round two."""

    kernel_sizes: tuple = tuple(range(7, 22, 2))  # 7, 9, ..., 21
    kernel_probs: tuple = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # over KERNEL_TYPES
    sinc_prob: float = 0.1
    blur_sigma: tuple = (0.2, 3.0)
    betag_range: tuple = (0.5, 4.0)  # generalised Gaussian shape
    betap_range: tuple = (1.0, 2.0)  # plateau shape
    resize_prob: tuple = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple = (1.0, 30.0)
    poisson_scale_range: tuple = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple = (30, 95)
    second_blur_prob: float = 0.8
    sinc_prob2: float = 0.1
    blur_sigma2: tuple = (0.2, 1.5)
    resize_prob2: tuple = (0.3, 0.4, 0.3)
    resize_range2: tuple = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple = (1.0, 25.0)
    poisson_scale_range2: tuple = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple = (30, 95)
    final_sinc_prob: float = 0.8


SECOND_ORDER_DEFAULTS = SecondOrderRanges()


def mixed_kernel(kind: str, size: int, sigma_x: float, sigma_y: float, theta: float, beta: float = 1.0):
    """A (size, size) float64 blur kernel summing to 1: Gaussian, generalised Gaussian or plateau.

    ``exp(-q / 2)``, ``exp(-q ** beta / 2)`` or ``1 / (1 + q ** beta)`` (as Real-ESRGAN writes them),
    with q = x^T S^-1 x for a covariance S with axes sigma_x, sigma_y rotated by theta.
    """
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cov = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    inv = np.linalg.inv(cov)
    r = np.arange(size) - size // 2
    xx, yy = np.meshgrid(r, r)
    grid = np.stack([xx, yy], axis=-1)
    q = np.einsum("...i,ij,...j->...", grid, inv, grid)
    if kind.startswith("generalized"):
        kernel = np.exp(-0.5 * q**beta)
    elif kind.startswith("plateau"):
        kernel = 1.0 / (1.0 + q**beta)
    else:
        kernel = np.exp(-0.5 * q)
    return kernel / kernel.sum()


def sinc_kernel(cutoff: float, size: int, pad_to: int = 0) -> np.ndarray:
    """Circular low-pass (2-D sinc, Bessel J1) kernel with cut-off ``cutoff`` (radians), sum 1.

    Mimics ringing and overshoot artefacts. ``pad_to`` zero-pads to a larger odd size.
    """
    from scipy.special import j1

    r = np.arange(size) - (size - 1) / 2
    rr = np.hypot(*np.meshgrid(r, r))
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * j1(cutoff * rr) / (2 * np.pi * rr)
    kernel[rr == 0] = cutoff**2 / (4 * np.pi)  # the limit at the centre
    kernel = kernel / kernel.sum()
    if pad_to > size:
        pad = (pad_to - size) // 2
        kernel = np.pad(kernel, pad)
    return kernel


def random_kernel(rng: np.random.Generator, sigma_range, sinc_prob: float, p: SecondOrderRanges):
    """One random blur kernel as Real-ESRGAN draws it (sinc with ``sinc_prob``), as a torch tensor."""
    size = int(rng.choice(p.kernel_sizes))
    if rng.uniform() < sinc_prob:
        cutoff = rng.uniform(np.pi / 3, np.pi) if size < 13 else rng.uniform(np.pi / 5, np.pi)
        return torch.from_numpy(sinc_kernel(cutoff, size).astype(np.float32))
    kind = KERNEL_TYPES[rng.choice(len(KERNEL_TYPES), p=p.kernel_probs)]
    sigma_x = rng.uniform(*sigma_range)
    sigma_y, theta = sigma_x, 0.0
    if kind.endswith("aniso"):
        sigma_y, theta = rng.uniform(*sigma_range), rng.uniform(-np.pi, np.pi)
    beta = 1.0
    if kind.startswith("generalized"):
        beta = rng.uniform(p.betag_range[0], 1) if rng.uniform() < 0.5 else rng.uniform(1, p.betag_range[1])
    elif kind.startswith("plateau"):
        beta = rng.uniform(p.betap_range[0], 1) if rng.uniform() < 0.5 else rng.uniform(1, p.betap_range[1])
    kernel = mixed_kernel(kind, size, sigma_x, sigma_y, theta, beta)
    return torch.from_numpy(kernel.astype(np.float32))


def _random_resize(x, rng, probs, scale_range, size=None):
    mode = str(rng.choice(["area", "bilinear", "bicubic"]))
    if size is None:
        kind = rng.choice(3, p=probs)  # up, down, keep
        factor = [rng.uniform(1, scale_range[1]), rng.uniform(scale_range[0], 1), 1.0][kind]
        size = (max(1, int(x.shape[-2] * factor)), max(1, int(x.shape[-1] * factor)))
    align = None if mode == "area" else False
    return F.interpolate(x, size=size, mode=mode, align_corners=align).clamp(0, 1)


def _random_noise(x, rng, gen, gaussian_prob, sigma_range, poisson_range, grey_prob):
    grey = bool(rng.uniform() < grey_prob)
    if rng.uniform() < gaussian_prob:
        return add_gaussian_noise(x, rng.uniform(*sigma_range), gen, grey)
    return add_poisson_noise(x, rng.uniform(*poisson_range), gen, grey)


def second_order(hr, scale: int = 4, rng=None, ranges: SecondOrderRanges = SECOND_ORDER_DEFAULTS):
    """Real-ESRGAN's degradation: (blur -> resize -> noise -> JPEG) twice, then sinc and JPEG.

    Each image of a batch draws its own parameters. The LR is ``h // scale`` by ``w // scale`` and
    quantised to 8 bits, as in Real-ESRGAN's training pipeline.
    """
    rng = as_rng(rng)
    gen = _torch_generator(rng)
    x, back = _to_nchw(hr)
    x = modcrop(x, scale)
    out = [_second_order_one(x[i : i + 1], scale, rng, gen, ranges) for i in range(x.shape[0])]
    return back(torch.cat(out))


def _second_order_one(x, scale, rng, gen, p: SecondOrderRanges):
    h, w = x.shape[-2:]
    # round one
    x = filter2d(x, random_kernel(rng, p.blur_sigma, p.sinc_prob, p))
    x = _random_resize(x, rng, p.resize_prob, p.resize_range)
    x = _random_noise(x, rng, gen, p.gaussian_noise_prob, p.noise_range, p.poisson_scale_range, p.gray_noise_prob)
    x = jpeg_compress(x, int(rng.uniform(*p.jpeg_range)))
    # round two
    if rng.uniform() < p.second_blur_prob:
        x = filter2d(x, random_kernel(rng, p.blur_sigma2, p.sinc_prob2, p))
    kind = rng.choice(3, p=p.resize_prob2)
    factor = [rng.uniform(1, p.resize_range2[1]), rng.uniform(p.resize_range2[0], 1), 1.0][kind]
    x = _random_resize(x, rng, None, None, size=(max(1, int(h / scale * factor)), max(1, int(w / scale * factor))))
    x = _random_noise(x, rng, gen, p.gaussian_noise_prob2, p.noise_range2, p.poisson_scale_range2, p.gray_noise_prob2)
    # the final sinc filter and JPEG, in random order; the resize back to LR size comes with the sinc
    if rng.uniform() < p.final_sinc_prob:
        size = int(rng.choice(p.kernel_sizes))
        final = torch.from_numpy(sinc_kernel(rng.uniform(np.pi / 3, np.pi), size).astype(np.float32))
    else:
        final = None
    quality = int(rng.uniform(*p.jpeg_range2))
    if rng.uniform() < 0.5:
        x = _random_resize(x, rng, None, None, size=(h // scale, w // scale))
        x = filter2d(x, final) if final is not None else x
        x = jpeg_compress(x, quality)
    else:
        x = jpeg_compress(x, quality)
        x = _random_resize(x, rng, None, None, size=(h // scale, w // scale))
        x = filter2d(x, final) if final is not None else x
    return ((x.clamp(0, 1) * 255).round() / 255).clamp(0, 1)


# --- Degradation objects for the dataset ----------------------------------------------------------------


@dataclass
class BicubicDown:
    """Clean MATLAB bicubic downscaling by ``scale`` (``srlib.models.BicubicUpscaler`` is the upscaling baseline)."""

    scale: int = 4

    def __call__(self, hr, rng=None):
        return bicubic(hr, self.scale)


@dataclass
class Track1:
    """``track1`` with bound settings, e.g. ``Track1(4, **FRITSCHE_JPEG)``."""

    scale: int = 4
    noise: str | None = "gaussian"
    sigma: float = 8.0
    grey: bool = False
    jpeg: int | None = None
    blur: float | None = None

    def __call__(self, hr, rng=None):
        return track1(hr, self.scale, self.noise, self.sigma, self.grey, self.jpeg, self.blur, rng=rng)


@dataclass
class RealSRNoise:
    """RealSR's Track 1 pairs: bicubic x``scale``, then an injected real noise patch."""

    scale: int = 4
    patches: list = field(default_factory=list)

    def __call__(self, hr, rng=None):
        return inject_noise(bicubic(hr, self.scale), self.patches, rng)


@dataclass
class SecondOrder:
    """Real-ESRGAN's second-order degradation with ``ranges`` (defaults: the paper's)."""

    scale: int = 4
    ranges: SecondOrderRanges = SECOND_ORDER_DEFAULTS

    def __call__(self, hr, rng=None):
        return second_order(hr, self.scale, rng, self.ranges)


DEGRADATIONS = {
    "bicubic": lambda scale: BicubicDown(scale),
    "fritsche_noise": lambda scale: Track1(scale, **FRITSCHE_NOISE),
    "fritsche_jpeg": lambda scale: Track1(scale, **FRITSCHE_JPEG),
    "second_order": lambda scale: SecondOrder(scale),
}


def make_degradation(name_or_callable, scale: int) -> Degradation:
    """A Degradation from a name in ``DEGRADATIONS`` (a callable is returned as it is)."""
    if callable(name_or_callable):
        return name_or_callable
    if name_or_callable not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name_or_callable!r}; choose from {', '.join(DEGRADATIONS)}")
    return DEGRADATIONS[name_or_callable](scale)
