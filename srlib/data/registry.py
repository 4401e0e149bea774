"""Known datasets: their layouts under the data roots, where they download from, and name resolution.

Data roots: ``SRLIB_DATA_DIR`` is a list of folders separated by ``os.pathsep`` (default ``<project>/data``);
the first is where downloads and ``mini`` are written. A dataset name such as ``Set5`` resolves to the first
``<root>/Set5/HR/`` that exists, then to the folder its known layout names (``DIV2K_valid`` ->
``<root>/DIV2K/DIV2K_valid_HR``), then to a ``<root>/Set5/`` holding the images itself (``candidates``).
``fetch_dataset`` downloads and extracts a known set through ``srlib.data.download``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from srlib.data.download import download_file, extract_archive
from srlib.data.mini import build_mini
from srlib.io import list_images
from srlib.utils import data_roots

# --- data roots and names -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """A dataset with a fixed layout under a data root, and where to get it."""

    hr: str  # HR folder, relative to the data root
    lr: dict = field(default_factory=dict)  # LR folders by kind, e.g. {"bicubic_x4": "DIV2K/..."}
    files: tuple = ()  # (url, digest (sha256, or "md5:..." where only that is published) or None, size or None)
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
_EDSR_FLICKR2K = ("https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar", "md5:5d3f39443d5e9489bff8963f8f26cb03", None)


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


def candidates(name: str) -> list[Path]:
    """Where dataset ``name`` may be, in the order ``resolve_dataset`` tries them: per data root,
    ``<root>/<name>/HR/`` and the known layout's HR folder; then ``<root>/<name>/`` itself (T91, BSD200: the
    images directly in the folder)."""
    roots = data_roots()
    layouts = [f"{name}/HR"] + ([DATASETS[name].hr] if name in DATASETS else [])
    per_root = [root / layout for root in roots for layout in layouts]
    return list(dict.fromkeys(per_root + [root / name for root in roots]))


def resolve_dataset(name_or_path: str | os.PathLike, build: bool = True) -> Path:
    """The folder of HR images for a dataset name (``Set5``, ``DIV2K_valid``, ``mini/train``) or a path.

    A path is used as it is (or its ``HR/`` subfolder). A name is looked up in ``candidates(name)``, the
    first folder holding images wins. ``mini/train`` and ``mini/valid`` are built on first use
    (``build_mini``) unless ``build`` is False. FileNotFoundError lists the places tried and what to do.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path / "HR" if _holds_images(path / "HR") and not _holds_images(path) else path
    name = str(name_or_path)
    searched = candidates(name)
    found = next((folder for folder in searched if _holds_images(folder)), None)
    if found is not None:
        return found
    if build and name in ("mini/train", "mini/valid"):
        build_mini()
        return data_roots()[0] / DATASETS[name].hr
    hint = f"`srlib data fetch {name}`" if name in DATASETS else "a folder of images or a known name"
    raise FileNotFoundError(f"dataset {name!r} not found (looked in {', '.join(map(str, searched))}); use {hint}")


def resolve_lr(name: str, kind: str) -> Path:
    """The LR folder of a known dataset, e.g. ``resolve_lr("DIV2K_valid", "bicubic_x4")``: the first data
    root that has it. ValueError for a name or kind the registry does not know."""
    kinds = DATASETS[name].lr if name in DATASETS else {}
    if kind not in kinds:
        known = ", ".join(kinds) or "none (not a known dataset: give the LR folder's path)"
        raise ValueError(f"{name!r} has no LR kind {kind!r}; known kinds: {known}")
    searched = [root / kinds[kind] for root in data_roots()]
    found = next((folder for folder in searched if folder.is_dir()), None)
    if found is None:
        raise FileNotFoundError(f"{name} has no {kind} folder (looked in {', '.join(map(str, searched))})")
    return found


# --- downloads ---------------------------------------------------------------------------------------


def fetch_dataset(name: str, root: str | os.PathLike | None = None, timeout: float = 10.0) -> Path:
    """Download and extract a known dataset into ``root`` (default: the first data root); return its HR.

    Through ``download.download_file``: partial downloads resume (HTTP Range), archives with a known digest are
    checked, and offline it fails at once (``timeout`` seconds) naming the URL and where to put the file by hand.
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
    for url, digest, _size in info.files:
        archive = root / "downloads" / url.rsplit("/", 1)[-1]
        download_file(url, archive, digest, timeout, then=f"run `srlib data fetch {name}` again")
        extract_archive(archive, root, info.moves)
    if not _holds_images(root / info.hr):
        raise RuntimeError(f"extracted {name}, but {root / info.hr} holds no images")
    return root / info.hr
