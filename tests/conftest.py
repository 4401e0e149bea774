"""Shared fixtures: the benchmark and training sets, the MOS tests' folders and kit, a fixed seed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from mos_helpers import make_folders, make_kit

PROJECT = Path(__file__).resolve().parent.parent

torch.set_num_threads(min(2, os.cpu_count() or 1))


def _unavailable(reason: str) -> None:
    """Skip the calling test locally; fail it on CI (``CI`` set), where everything it needs is installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must have it (see .ci/run and the dev extras)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def unavailable():
    """``unavailable(reason)``: skip locally, fail on CI, as ``benchmarks_dir`` does for missing data."""
    return _unavailable


def _shared_dir(env: str, name: str, what: str) -> Path:
    """``$env``, else ``../shared/data/<name>``: skip the calling test without it, fail it in CI."""
    path = Path(os.environ.get(env, PROJECT.parent / "shared" / "data" / name))
    if path.is_dir():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing: CI must have the shared data (set {env})")
    pytest.skip(f"{what} not found (set {env})")


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """``../shared/data/benchmarks`` (Set5, Set14, BSD100 HR): skip without it, fail in CI."""
    return _shared_dir("SRLIB_BENCHMARKS_DIR", "benchmarks", "benchmark sets")


@pytest.fixture(scope="session")
def train_dir() -> Path:
    """``../shared/data/train`` (T91, BSD200): skip without it, fail in CI."""
    return _shared_dir("SRLIB_TRAIN_DIR", "train", "training sets")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    """The MOS tests' synthetic HR and SR folders (``mos_helpers.make_folders``), made once per test module."""
    return make_folders(tmp_path_factory.mktemp("sr"))


@pytest.fixture(scope="module")
def kit(folders, tmp_path_factory) -> Path:
    """The MOS tests' shared kit over ``folders`` (``mos_helpers.make_kit``), made once per test module."""
    return make_kit(folders, tmp_path_factory.mktemp("kit") / "KIT")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
