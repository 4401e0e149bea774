"""The embedded ``mini`` data set: photographs shipped inside installed packages, with LR made here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from srlib.data import degrade
from srlib.imresize import imresize
from srlib.io import read_image, write_image
from srlib.utils import data_roots

MINI_SCALES = (2, 3, 4)
MINI_VERSION = "1"
# name -> (package, path inside the installed package). Origins and licences: data/README.md.
MINI_SOURCES = {
    "train": {
        "astronaut": ("skimage", "data/astronaut.png"),
        "chelsea": ("skimage", "data/chelsea.png"),
        "rocket": ("skimage", "data/rocket.jpg"),
        "motorcycle": ("skimage", "data/motorcycle_left.png"),
        "hubble": ("skimage", "data/hubble_deep_field.jpg"),
        "china": ("sklearn", "datasets/images/china.jpg"),
        "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    },
    "valid": {
        "coffee": ("skimage", "data/coffee.png"),
        "flower": ("sklearn", "datasets/images/flower.jpg"),
    },
}


def _package_file(package: str, relative: str) -> Path | None:
    try:
        module = __import__(package)
    except ImportError:
        return None
    path = Path(module.__file__).parent / relative
    return path if path.is_file() else None


def build_mini(root: str | os.PathLike | None = None, max_side: int = 512) -> Path:
    """Build ``<root>/mini/{train,valid}`` from photographs shipped inside installed packages.

    HR (centre crop to at most ``max_side`` and a multiple of 12, so x2/x3/x4 divide it), LR by MATLAB
    bicubic at x2/x3/x4 in ``LR_bicubic/X{s}/<name>x{s}.png``, and two real-world x4 sets:
    ``LR_track1/X4`` (Fritsche: Gaussian noise sigma 8) and ``LR_realesrgan/X4`` (second order), seeded
    per image. Deterministic; skipped when already built. Returns ``<root>/mini``.
    """
    mini = (Path(root) if root is not None else data_roots()[0]) / "mini"
    stamp = mini / ".complete"
    if stamp.exists() and stamp.read_text() == MINI_VERSION:
        return mini
    for split_index, (split, sources) in enumerate(MINI_SOURCES.items()):
        for index, (name, (package, relative)) in enumerate(sources.items()):
            path = _package_file(package, relative)
            if path is None:
                continue  # e.g. scikit-learn not installed
            hr = _centre_crop(read_image(path), max_side, 12)
            write_image(mini / split / "HR" / f"{name}.png", hr)
            hr = read_image(mini / split / "HR" / f"{name}.png")  # LR from the 8-bit HR, as on disk
            for s in MINI_SCALES:
                write_image(mini / split / "LR_bicubic" / f"X{s}" / f"{name}x{s}.png", imresize(hr, 1 / s))
            rng = np.random.default_rng([int(MINI_VERSION), split_index, index])
            noisy = degrade.track1(hr, 4, **degrade.FRITSCHE_NOISE, rng=rng)
            write_image(mini / split / "LR_track1" / "X4" / f"{name}x4.png", noisy)
            write_image(mini / split / "LR_realesrgan" / "X4" / f"{name}x4.png", degrade.second_order(hr, 4, rng))
    if not any((mini / "train" / "HR").glob("*.png")):
        raise RuntimeError("no packaged images found for the mini set (is scikit-image installed?)")
    stamp.write_text(MINI_VERSION)
    return mini


def _centre_crop(img: np.ndarray, max_side: int, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    th, tw = min(h, max_side) // multiple * multiple, min(w, max_side) // multiple * multiple
    top, left = (h - th) // 2, (w - tw) // 2
    return img[top : top + th, left : left + tw]
