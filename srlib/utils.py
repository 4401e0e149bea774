"""One place for seeds, devices, paths and figure saving, so notebooks stay short."""

from __future__ import annotations

import hashlib
import os
import platform
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def setup(seed: int = 0, deterministic: bool = True, plots: bool = True) -> torch.device:
    """Seed every RNG, set determinism flags and plot defaults; return the device to use."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    if plots:
        import matplotlib as mpl

        mpl.rcParams.update(
            {
                "figure.dpi": 100,
                "savefig.dpi": 150,
                "savefig.bbox": "tight",
                "axes.grid": False,
                "image.interpolation": "nearest",  # show pixels as they are, never smoothed
                "font.size": 9,
            }
        )
    return pick_device()


def positive_int(text: str) -> int:
    """An argparse ``type`` for sizes and factors: ``--scale 0`` is a one-line usage error, not a traceback."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        import argparse

        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def arg_values(args, *names: str) -> dict:
    """``{name: args.<name>}`` for parsed command-line options that a command passes on under the same names."""
    return {name: getattr(args, name) for name in names}


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to run on: ``prefer`` if given, else CUDA when present, else CPU."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def data_roots() -> list[Path]:
    """The data roots from ``$SRLIB_DATA_DIR`` (``os.pathsep``-separated), else ``[<project>/data]``."""
    value = os.environ.get("SRLIB_DATA_DIR", "")
    roots = [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    return roots or [PROJECT_ROOT / "data"]


def data_root() -> Path:
    """The first data root: where downloads and the embedded default data set are written."""
    return data_roots()[0]


def course_weights_dir() -> Path:
    """The course checkpoints (``NAME.safetensors`` + model card ``NAME.md``): ``srlib/course_weights/``.

    They are package data (about 4 MB), so a wheel or ``pip install .`` carries them and a model name such as
    ``edsr_x4_course`` resolves outside the checkout too.
    """
    return Path(__file__).resolve().parent / "course_weights"


def figures_dir() -> Path:
    """Where figures are written: ``$SRLIB_FIGURES_DIR`` if set, else ``figures/`` in the project."""
    return Path(os.environ.get("SRLIB_FIGURES_DIR", PROJECT_ROOT / "figures"))


def cache_dir() -> Path:
    """User cache for converted weights: ``$SRLIB_CACHE_DIR``, else ``~/.cache/srlib``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "srlib"
    return Path(os.environ.get("SRLIB_CACHE_DIR", default))


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in 4 MB chunks (archives of several GB stay out of memory)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ("model name", "flags", "cpu MHz", ...); {} elsewhere."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines() if ":" in line)}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (e.g. "AMD EPYC 9454P 48-Core Processor"), else what
    ``platform`` knows (often just the architecture)."""
    return cpuinfo().get("model name") or platform.processor() or platform.machine()


ISA_FLAGS = ("avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8")  # what picks oneDNN's bf16/int8 kernels


def machine_info(threads: int | None = None) -> dict:
    """What a measurement ran on, the one description every log, table and model card uses.

    threads: the torch threads of the runs described, when they are not this process's (default: its own).
    Returns {cpu, isa (the ``ISA_FLAGS`` the CPU has), cores (logical CPUs), threads, memory_gb, load (1, 5 and 15
    min load average), python, torch, numpy, mkldnn, mkl, cpu_capability, cuda (the GPU's name or "none"), tf32
    (what cuDNN convs and cuBLAS matmuls may use for float32: TF32 changes GPU rates several-fold)}.
    """
    import psutil

    flags = set(cpuinfo().get("flags", "").split())
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return dict(
        cpu=cpu_model(),
        isa=[flag for flag in ISA_FLAGS if flag in flags],
        cores=os.cpu_count(),
        threads=threads or torch.get_num_threads(),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        load=load,
        python=platform.python_version(),
        torch=torch.__version__,
        numpy=np.__version__,
        mkldnn=torch.backends.mkldnn.is_available(),
        mkl=torch.backends.mkl.is_available(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        tf32=f"conv {torch.backends.cudnn.allow_tf32}, matmul {torch.backends.cuda.matmul.allow_tf32}",
    )


def machine_summary(threads: int | None = None) -> str:
    """:func:`machine_info` on one line: "CPU (ISA flags), N logical CPUs, T torch threads, M GB, CUDA: GPU;
    Python x, torch y; load 1 5 15 min"."""
    info = machine_info(threads)
    cpu = f"{info['cpu']} ({', '.join(info['isa'])})" if info["isa"] else info["cpu"]
    return (
        f"{cpu}, {info['cores']} logical CPUs, {info['threads']} torch threads, {info['memory_gb']} GB, "
        f"CUDA: {info['cuda']}; Python {info['python']}, torch {info['torch']}; load {info['load']}"
    )


def write_rows_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """A CSV with a header from the first row's keys (later rows may leave columns out), parents created."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(rows: list[dict], fmt: Callable[[object], str] = str) -> str:
    """A markdown table of a list of dicts: columns in order of first appearance, cells through ``fmt``
    (a missing cell is empty), "(none)" for no rows."""
    if not rows:
        return "(none)"
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row[c]) if c in row else "" for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def save_figure(fig, name: str, directory: str | os.PathLike | None = None) -> Path:
    """Save ``fig`` as ``<directory>/<name>.png`` (name carries the notebook and settings)."""
    out_dir = Path(directory) if directory is not None else figures_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (name if name.endswith((".png", ".pdf", ".svg")) else f"{name}.png")
    fig.savefig(path)
    return path
