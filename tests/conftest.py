"""Shared fixtures: the benchmark sets, a temporary data root, a fixed seed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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


def _shared_dir(env: str, default: Path) -> Path | None:
    path = Path(os.environ.get(env, default))
    if path.is_dir():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing: CI must have the shared data (set {env})")
    return None


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """``../shared/data/benchmarks`` (Set5, Set14, BSD100 HR): skip without it, fail in CI."""
    path = _shared_dir("SRLIB_BENCHMARKS_DIR", PROJECT.parent / "shared" / "data" / "benchmarks")
    if path is None:
        pytest.skip("benchmark sets not found (set SRLIB_BENCHMARKS_DIR)")
    return path


@pytest.fixture(scope="session")
def train_dir() -> Path:
    """``../shared/data/train`` (T91, BSD200): skip without it, fail in CI."""
    path = _shared_dir("SRLIB_TRAIN_DIR", PROJECT.parent / "shared" / "data" / "train")
    if path is None:
        pytest.skip("training sets not found (set SRLIB_TRAIN_DIR)")
    return path


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
