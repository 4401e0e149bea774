"""Datasets: where images live, how they download, the embedded ``mini`` set, and paired LR/HR samples.

Data roots: ``SRLIB_DATA_DIR`` is a list of folders separated by ``os.pathsep`` (default ``<project>/data``);
the first is where downloads and ``mini`` are written. A dataset name such as ``Set5`` resolves to the first
``<root>/Set5/HR/`` that exists, then to the folder its known layout names (``DIV2K_valid`` ->
``<root>/DIV2K/DIV2K_valid_HR``).

``SRDataset`` yields ``{"lr": CHW float tensor, "hr": CHW float tensor, "name": str}`` from an HR folder
plus either a LR folder (DIV2K naming ``0001.png`` <-> ``0001x4.png``) or a degradation applied on the fly.
Its randomness is a function of ``(seed, epoch, index)``, so results do not depend on the number of
DataLoader workers; call ``set_epoch`` each epoch (as with ``DistributedSampler``) for fresh crops.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srlib import degrade
from srlib.imresize import imresize, modcrop
from srlib.io import list_images, read_image, write_image
from srlib.utils import data_roots, file_digest

# --- data roots and names -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """A dataset with a fixed layout under a data root, and where to get it."""

    hr: str  # HR folder, relative to the data root
    lr: dict = field(default_factory=dict)  # LR folders by kind, e.g. {"bicubic_x4": "DIV2K/..."}
    files: tuple = ()  # (url, sha256 (or md5 where only that is published) or None, size in bytes or None)
    moves: dict = field(default_factory=dict)  # after extracting: extracted path -> path under the root
    page: str = ""  # where to read about it (and register, where that is needed)
    note: str = ""


_DIV2K = "https://data.vision.ee.ethz.ch/cvl/DIV2K/"
# The EDSR archives publish no checksum. benchmark.tar: the sha256 and size another project recorded for its
# download (torchSR's md5 for it is 4ace41d33c2384b97e6b320cd0afd6ba); Flickr2K.tar: only an md5 is on record
# (torchSR, Coloquinte/torchSR torchsr/datasets/flickr2k.py). Neither was downloaded here to confirm them.
_EDSR_BENCHMARK = (
    "https://cv.snu.ac.kr/research/EDSR/benchmark.tar",
    "80c21c333bbf6ceb5308b7243761f8284478274413a97b96f1d63e9045fd93e8",
    250_112_000,
)
_EDSR_FLICKR2K = ("https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar", "5d3f39443d5e9489bff8963f8f26cb03", None)


def _div2k(split: str) -> Known:
    # sha256 and sizes for four of the archives are those TensorFlow Datasets records for the same URLs.
    known_sha = {
        "train_HR": ("9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335", 3530603713),
        "valid_HR": ("20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc", 448993893),
        "train_LR_bicubic_X2": ("a53a424317575838dadce4bcd97cf7b744d6855f43740ed5f0245af3cf4bd850", 925390592),
        "valid_LR_bicubic_X2": ("60eed9875c697df51204aa579e2a699e1d5215095788a097ff54dd17e2664d57", 117763600),
    }
    parts = [f"{split}_HR"] + [f"{split}_LR_{kind}_X{s}" for kind in ("bicubic", "unknown") for s in (2, 3, 4)]
    files = tuple((f"{_DIV2K}DIV2K_{p}.zip", *known_sha.get(p, (None, None))) for p in parts)
    lr = {f"{kind}_x{s}": f"DIV2K/DIV2K_{split}_LR_{kind}/X{s}" for kind in ("bicubic", "unknown") for s in (2, 3, 4)}
    moves = {f"DIV2K_{split}_HR": f"DIV2K/DIV2K_{split}_HR"}
    moves.update({f"DIV2K_{split}_LR_{kind}": f"DIV2K/DIV2K_{split}_LR_{kind}" for kind in ("bicubic", "unknown")})
    count = 800 if split == "train" else 100
    return Known(f"DIV2K/DIV2K_{split}_HR", lr, files, moves, _DIV2K, f"{count} 2K images; LR named 0001x4.png")


def _benchmark(name: str, folder: str) -> Known:
    return Known(
        f"{name}/HR",
        {f"bicubic_x{s}": f"{name}/LR_bicubic/X{s}" for s in (2, 3, 4)},
        (_EDSR_BENCHMARK,),
        {f"benchmark/{folder}": name},
        "https://github.com/sanghyun-son/EDSR-PyTorch",
        "from the EDSR authors' benchmark.tar (Set5, Set14, B100, Urban100 with HR and LR_bicubic)",
    )


DATASETS: dict[str, Known] = {
    "DIV2K_train": _div2k("train"),
    "DIV2K_valid": _div2k("valid"),
    "Flickr2K": Known(
        "Flickr2K/Flickr2K_HR",
        {f"bicubic_x{s}": f"Flickr2K/Flickr2K_LR_bicubic/X{s}" for s in (2, 3, 4)},
        (_EDSR_FLICKR2K,),
        {},
        "https://github.com/sanghyun-son/EDSR-PyTorch",
        "2,650 2K images collected by the EDSR authors",
    ),
    "NTIRE2020_Track1": Known(
        "NTIRE2020_Track1/Corrupted-tr-y",
        {"source": "NTIRE2020_Track1/Corrupted-tr-x", "valid_x4": "NTIRE2020_Track1/Corrupted-va-x"},
        (),
        {},
        "https://data.vision.ee.ethz.ch/cvl/ntire20/",
        "registration required: place Corrupted-tr-x (source, degraded Flickr2K), Corrupted-tr-y "
        "(target, clean DIV2K) and Corrupted-va-x (validation input) under NTIRE2020_Track1/",
    ),
    "Set5": _benchmark("Set5", "Set5"),
    "Set14": _benchmark("Set14", "Set14"),
    "BSD100": _benchmark("BSD100", "B100"),
    "Urban100": _benchmark("Urban100", "Urban100"),
    "mini/train": Known("mini/train/HR", {f"bicubic_x{s}": f"mini/train/LR_bicubic/X{s}" for s in (2, 3, 4)}),
    "mini/valid": Known("mini/valid/HR", {f"bicubic_x{s}": f"mini/valid/LR_bicubic/X{s}" for s in (2, 3, 4)}),
}


def _holds_images(folder: Path) -> bool:
    return folder.is_dir() and bool(list_images(folder))


def resolve_dataset(name_or_path: str | os.PathLike) -> Path:
    """The folder of HR images for a dataset name (``Set5``, ``DIV2K_valid``, ``mini/train``) or a path.

    A path is used as it is (or its ``HR/`` subfolder). A name is looked up as ``<root>/<name>/HR/`` and
    then as its known layout, over ``data_roots()`` in order. ``mini/train`` and ``mini/valid`` are built
    on first use (``build_mini``).
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path / "HR" if _holds_images(path / "HR") and not _holds_images(path) else path
    name = str(name_or_path)
    candidates = []
    for root in data_roots():
        candidates.append(root / name / "HR")
        if name in DATASETS:
            candidates.append(root / DATASETS[name].hr)
    for candidate in candidates:
        if _holds_images(candidate):
            return candidate
    if name in ("mini/train", "mini/valid"):
        build_mini()
        return data_roots()[0] / DATASETS[name].hr
    hint = f"`srlib data fetch {name}`" if name in DATASETS else "a folder of images or a known name"
    searched = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise FileNotFoundError(f"dataset {name!r} not found (looked in {searched}); use {hint}")


def resolve_lr(name: str, kind: str) -> Path:
    """The LR folder of a known dataset, e.g. ``resolve_lr("DIV2K_valid", "bicubic_x4")``."""
    for root in data_roots():
        folder = root / DATASETS[name].lr[kind]
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"{name} has no {kind} folder under {', '.join(map(str, data_roots()))}")


# --- downloads ---------------------------------------------------------------------------------------


def fetch(name: str, root: str | os.PathLike | None = None, timeout: float = 10.0) -> Path:
    """Download and extract a known dataset into ``root`` (default: the first data root); return its HR.

    Partial downloads resume (HTTP Range); archives with a known sha256 are checked. Offline, it fails
    at once (``timeout`` seconds) naming the URL and where to put the file by hand.
    """
    if name in ("mini", "mini/train", "mini/valid"):
        return build_mini(root) / "train" / "HR"
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    info = DATASETS[name]
    root = Path(root) if root is not None else data_roots()[0]
    if _holds_images(root / info.hr):
        return root / info.hr
    if not info.files:
        raise RuntimeError(f"{name} cannot be downloaded automatically: {info.note} (see {info.page})")
    downloads = root / "downloads"
    for url, sha256, _size in info.files:
        archive = downloads / url.rsplit("/", 1)[-1]
        if not archive.exists():
            try:
                _download(url, archive, timeout)
            except (urllib.error.URLError, OSError) as error:
                raise RuntimeError(
                    f"could not download {url} ({error}); download it by hand and put it at {archive}, "
                    f"then run `srlib data fetch {name}` again"
                ) from error
        algorithm = "md5" if sha256 and len(sha256) == 32 else "sha256"
        if sha256 and file_digest(archive, algorithm) != sha256:
            archive.rename(archive.with_name(archive.name + ".bad"))
            raise RuntimeError(f"{archive} has the wrong {algorithm} (moved to {archive.name}.bad); fetch again")
        _extract(archive, root, info.moves)
    if not _holds_images(root / info.hr):
        raise RuntimeError(f"extracted {name}, but {root / info.hr} holds no images")
    return root / info.hr


def _download(url: str, dest: Path, timeout: float) -> None:
    """Fetch ``url`` to ``dest`` through ``dest.part``, resuming a partial file with an HTTP Range."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not done:
            raise
        # 416: nothing left after byte `done`. "Content-Range: bytes */N" says how long the file is: the .part
        # is complete (a crash before the rename), or it is not this file's beginning: start again.
        if error.headers.get("Content-Range", "").strip() == f"bytes */{done}":
            part.rename(dest)
            return
        part.unlink()
        return _download(url, dest, timeout)
    with response:
        if done and response.status != 206:  # the server ignored the Range: start again
            done = 0
        total = response.headers.get("Content-Length")
        total = int(total) + done if total is not None else None
        with (
            open(part, "ab" if done else "wb") as f,
            tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar,
        ):
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))
    part.rename(dest)


class _LinkInArchive(tarfile.FilterError):
    pass


def _no_links(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """tarfile's "data" filter, and no links at all: a link that points inside the staging folder can point
    outside the data root once the folders around it are moved."""
    if member.issym() or member.islnk():
        raise _LinkInArchive(member.name)
    return tarfile.data_filter(member, path)


def _extract(archive: Path, root: Path, moves: dict) -> None:
    """Unpack into a staging folder, apply ``moves`` (nested paths too), merge the rest into ``root``.

    Archives with links or with paths outside the staging folder are refused (RuntimeError); zip members
    are regular files (zipfile writes no links). The staging folder is removed whatever happens.
    """
    staging = root / "downloads" / (archive.name + ".extract")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                t.extractall(staging, filter=_no_links)
        else:
            raise RuntimeError(f"{archive} is neither a zip nor a tar archive")
        for source, dest in moves.items():
            if (staging / source).exists():
                _move(staging / source, root / dest, root)
        for item in staging.iterdir():
            _move(item, root / item.name, root)
    except _LinkInArchive as error:
        raise RuntimeError(
            f"{archive} holds a link ({error}); srlib extracts no links, since one could lead outside the data "
            "root: unpack it by hand if you trust it"
        ) from None
    except tarfile.TarError as error:
        raise RuntimeError(f"{archive}: refused to extract an unsafe or broken member ({error})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move(source: Path, target: Path, root: Path) -> None:
    """Move ``source`` to ``target``, merging into folders that exist: never through a link, never outside
    ``root`` (RuntimeError)."""
    if source.is_symlink() or target.is_symlink():
        link = source if source.is_symlink() else target
        raise RuntimeError(f"{link} is a link; srlib does not extract or merge through links (not written)")
    if not target.resolve().is_relative_to(root.resolve()):
        raise RuntimeError(f"{target} lies outside the data root {root} (not written)")
    if target.exists():
        if source.is_dir():
            for child in source.iterdir():
                _move(child, target / child.name, root)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))


# --- the embedded mini set -------------------------------------------------------------------------------

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
    if not _holds_images(mini / "train" / "HR"):
        raise RuntimeError("no packaged images found for the mini set (is scikit-image installed?)")
    stamp.write_text(MINI_VERSION)
    return mini


def _centre_crop(img: np.ndarray, max_side: int, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    th, tw = min(h, max_side) // multiple * multiple, min(w, max_side) // multiple * multiple
    top, left = (h - th) // 2, (w - tw) // 2
    return img[top : top + th, left : left + tw]


# --- the paired dataset --------------------------------------------------------------------------------


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
                lr, hr = _augment([lr, hr], rng)
        else:
            if p is not None:
                top, left = rng.integers(hr.shape[0] - p + 1), rng.integers(hr.shape[1] - p + 1)
                hr = hr[top : top + p, left : left + p]
            hr = modcrop(hr, s)
            if self.augment:
                (hr,) = _augment([hr], rng)
            lr = self.degradation(hr, rng)
        return {"lr": _chw(lr), "hr": _chw(hr), "name": hr_path.stem}


def _augment(images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flips and transpose (with flips: all 8 rotations/reflections) for every image."""
    hflip, vflip, transpose = rng.random(3) < 0.5
    out = []
    for img in images:
        img = img[:, ::-1] if hflip else img
        img = img[::-1] if vflip else img
        out.append(img.transpose(1, 0, 2) if transpose else img)
    return out


def _chw(img) -> torch.Tensor:
    if isinstance(img, torch.Tensor):
        return img.float()
    return torch.from_numpy(np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(2, 0, 1)))


# --- the command line --------------------------------------------------------------------------------------


def add_cli(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list, download or build datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch_parser = commands.add_parser("fetch", help="download a known dataset into the data root")
    fetch_parser.add_argument("name", choices=sorted(DATASETS) + ["mini"])
    fetch_parser.add_argument("--root", default=None, help="data root (default: first of SRLIB_DATA_DIR)")
    fetch_parser.set_defaults(func=lambda a: _report(fetch(a.name, a.root)))
    mini_parser = commands.add_parser("mini", help="build the embedded mini train/valid set (offline)")
    mini_parser.add_argument("--root", default=None, help="data root (default: first of SRLIB_DATA_DIR)")
    mini_parser.set_defaults(func=lambda a: _report(build_mini(a.root)))
    list_parser = commands.add_parser("list", help="known datasets and where they are found")
    list_parser.set_defaults(func=_cli_list)


def _report(path: Path) -> int:
    print(path)
    return 0


def _cli_list(args) -> int:
    print("data roots: " + os.pathsep.join(str(r) for r in data_roots()))
    for name, info in DATASETS.items():
        try:
            found = resolve_dataset(name) if not name.startswith("mini") else _find_only(name)
            where = f"{len(list_images(found))} images in {found}"
        except FileNotFoundError:
            where = "missing (" + (f"srlib data fetch {name}" if info.files else info.page or "srlib data mini") + ")"
        print(f"{name:18s} {where}")
    return 0


def _find_only(name: str) -> Path:
    for root in data_roots():
        if _holds_images(root / DATASETS[name].hr):
            return root / DATASETS[name].hr
    raise FileNotFoundError(name)
