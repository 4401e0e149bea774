"""Paired LR/HR samples for training and validation: ``SRDataset``.

``SRDataset`` yields ``{"lr": CHW float tensor, "hr": CHW float tensor, "name": str}`` from an HR folder
plus either a LR folder (DIV2K naming ``0001.png`` <-> ``0001x4.png``) or a degradation applied on the fly.
Its randomness is a function of ``(seed, epoch, index)``, so results do not depend on the number of
DataLoader workers; call ``set_epoch`` each epoch (as with ``DistributedSampler``) for fresh crops.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srlib.data import degrade
from srlib.data.registry import resolve_dataset
from srlib.imresize import modcrop
from srlib.io import list_images, read_image


def find_lr_partner(hr_path: Path, lr_files: dict[str, Path], scale: int) -> Path:
    """The LR file for ``hr_path``: same stem (``0001``), or the DIV2K form ``0001x4``."""
    for stem in (hr_path.stem, f"{hr_path.stem}x{scale}"):
        if stem in lr_files:
            return lr_files[stem]
    raise FileNotFoundError(f"no LR image for {hr_path.name} (looked for {hr_path.stem}[x{scale}].* in LR)")


class SRDataset(torch.utils.data.Dataset):
    """LR/HR pairs from an HR folder and a LR folder or an on-the-fly degradation.

    hr_dir: folder or dataset name (``resolve_dataset``). scale: 2, 3, 4, ...
    patch_size: HR patch side (a multiple of ``scale``); None gives whole modcropped images.
    lr_dir: folder of LR images (DIV2K naming allowed); None makes LR with ``degradation``:
    "bicubic", "fritsche_noise", "fritsche_jpeg", "second_order" or any callable ``(hr, rng) -> lr``.
    augment: random horizontal/vertical flips and 90-degree rotations, the same for LR and HR.
    cache: keep decoded images in memory (per worker process). repeat: passes over the folder per epoch.
    teacher_dir: a folder of a teacher model's outputs, one per HR image (same stem, the modcropped HR's size),
    cropped and turned with the HR; items then hold them as "teacher" (knowledge distillation).
    Items: ``{"lr": (3, h, w) float32, "hr": (3, h*scale, w*scale) float32, "name": stem}``.
    """

    def __init__(
        self,
        hr_dir,
        scale: int = 4,
        patch_size: int | None = None,
        lr_dir=None,
        degradation="bicubic",
        augment: bool = True,
        cache: bool = True,
        seed: int = 0,
        repeat: int = 1,
        teacher_dir=None,
    ):
        self.hr_dir = resolve_dataset(hr_dir)
        self.scale, self.patch_size, self.augment = scale, patch_size, augment
        self.cache, self.seed, self.repeat, self.epoch = cache, seed, repeat, 0
        if patch_size is not None and patch_size % scale:
            raise ValueError(f"patch_size {patch_size} is not a multiple of scale {scale}")
        self.degradation = None if lr_dir is not None else degrade.make_degradation(degradation, scale)
        hr_files = list_images(self.hr_dir)
        if lr_dir is not None:
            lr_dir = Path(lr_dir)
            lr_files = {p.stem: p for p in list_images(lr_dir)}
            pairs = [(hr, find_lr_partner(hr, lr_files, scale)) for hr in hr_files]
        else:
            pairs = [(hr, None) for hr in hr_files]
        self.pairs = [p for p in pairs if self._big_enough(p[0])]
        if not self.pairs:
            raise ValueError(f"no usable images in {self.hr_dir} (need at least {patch_size} px per side)")
        self.teachers = None
        if teacher_dir is not None:
            if lr_dir is not None:
                raise ValueError("teacher_dir needs an on-the-fly degradation (the teacher saw the HR's own LR)")
            teacher_files = {p.stem: p for p in list_images(Path(teacher_dir))}
            missing = [hr.name for hr, _ in self.pairs if hr.stem not in teacher_files]
            if missing:
                raise FileNotFoundError(f"{teacher_dir} has no teacher output for {', '.join(missing[:3])}")
            self.teachers = {hr: teacher_files[hr.stem] for hr, _ in self.pairs}
        self._memory: dict[Path, np.ndarray] = {}

    def _big_enough(self, path: Path) -> bool:
        if self.patch_size is None:
            return True
        try:
            with Image.open(path) as image:
                w, h = image.size
        except OSError as error:
            raise ValueError(f"{path}: not a readable image ({error})") from error
        if min(h, w) < self.patch_size:
            warnings.warn(f"skipping {path.name}: {w}x{h} is smaller than the {self.patch_size} px patch", stacklevel=3)
            return False
        return True

    def set_epoch(self, epoch: int) -> None:
        """Vary crops and augmentations per epoch (call it beside ``DistributedSampler.set_epoch``)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def _load(self, path: Path) -> np.ndarray:
        if path in self._memory:
            stored = self._memory[path]
            return stored.astype(np.float32) / 255.0 if stored.dtype == np.uint8 else stored
        image = read_image(path)  # warns once per odd file (grey, RGBA, 16-bit)
        if self.cache:
            # 8-bit images are kept as uint8: a quarter of the memory, and exact
            quantised = np.round(image * 255)
            exact = np.abs(quantised / 255 - image).max() < 1e-6
            self._memory[path] = quantised.astype(np.uint8) if exact else image
        return image

    def __getitem__(self, index: int) -> dict:
        hr_path, lr_path = self.pairs[index % len(self.pairs)]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        hr = self._load(hr_path)
        s, p = self.scale, self.patch_size
        if lr_path is not None:
            lr = self._load(lr_path)
            h, w = lr.shape[:2]
            if not (h * s <= hr.shape[0] < (h + 1) * s and w * s <= hr.shape[1] < (w + 1) * s):
                raise ValueError(
                    f"size mismatch at x{s}: HR {hr_path} is {hr.shape[1]}x{hr.shape[0]}, "
                    f"LR {lr_path} is {w}x{h} (expected {hr.shape[1] // s}x{hr.shape[0] // s})"
                )
            if p is not None:
                top, left = rng.integers(h - p // s + 1), rng.integers(w - p // s + 1)
                lr = lr[top : top + p // s, left : left + p // s]
                hr = hr[top * s : top * s + p, left * s : left * s + p]
            else:
                hr = hr[: h * s, : w * s]
            if self.augment:
                lr, hr = random_dihedral([lr, hr], rng)
        elif self.teachers is not None:
            hr, teacher = self._with_teacher(hr, hr_path)
            if p is not None:
                top, left = rng.integers(hr.shape[0] - p + 1), rng.integers(hr.shape[1] - p + 1)
                hr, teacher = (x[top : top + p, left : left + p] for x in (hr, teacher))
            if self.augment:
                hr, teacher = random_dihedral([hr, teacher], rng)
            lr = self.degradation(hr, rng)
            return {"lr": _chw(lr), "hr": _chw(hr), "teacher": _chw(teacher), "name": hr_path.stem}
        else:
            if p is not None:
                top, left = rng.integers(hr.shape[0] - p + 1), rng.integers(hr.shape[1] - p + 1)
                hr = hr[top : top + p, left : left + p]
            hr = modcrop(hr, s)
            if self.augment:
                (hr,) = random_dihedral([hr], rng)
            lr = self.degradation(hr, rng)
        return {"lr": _chw(lr), "hr": _chw(hr), "name": hr_path.stem}

    def _with_teacher(self, hr: np.ndarray, hr_path: Path) -> tuple[np.ndarray, np.ndarray]:
        """The modcropped HR and its teacher output, checked to be the same size."""
        hr = modcrop(hr, self.scale)
        teacher = self._load(self.teachers[hr_path])
        if teacher.shape != hr.shape:
            raise ValueError(
                f"teacher output {self.teachers[hr_path]} is {teacher.shape[1]}x{teacher.shape[0]}, "
                f"the modcropped HR {hr_path.name} {hr.shape[1]}x{hr.shape[0]}: recompute the teacher outputs"
            )
        return hr, teacher


def dihedral(x, k: int, axes: tuple[int, int] = (-2, -1)):
    """Symmetry ``k`` (0-7) of the 8 of the square, on the ``axes`` (height, width) of a numpy array or a torch
    tensor: bit 1 flips left-right, bit 2 flips up-down, then bit 4 transposes. Training augments with it
    (``random_dihedral``) and ``srlib.infer``'s self-ensemble averages over all eight."""
    h, w = axes
    if k & 1:
        x = _flip(x, w)
    if k & 2:
        x = _flip(x, h)
    return x.swapaxes(h, w) if k & 4 else x


def undo_dihedral(x, k: int, axes: tuple[int, int] = (-2, -1)):
    """The inverse of ``dihedral(., k, axes)``: the transpose undone first, then the flips."""
    h, w = axes
    if k & 4:
        x = x.swapaxes(h, w)
    if k & 2:
        x = _flip(x, h)
    return _flip(x, w) if k & 1 else x


def _flip(x, axis: int):
    return np.flip(x, axis) if isinstance(x, np.ndarray) else x.flip(axis)


def random_dihedral(images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random ``dihedral`` symmetry for every HWC image (all 8 equally likely)."""
    hflip, vflip, transpose = rng.random(3) < 0.5  # three draws: the same crops and flips for a seed as ever
    k = int(hflip) | int(vflip) << 1 | int(transpose) << 2
    return [dihedral(img, k, axes=(0, 1)) for img in images]


def _chw(img) -> torch.Tensor:
    if isinstance(img, torch.Tensor):
        return img.float()
    return torch.from_numpy(np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(2, 0, 1)))
