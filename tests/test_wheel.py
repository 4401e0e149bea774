"""srlib from an installed wheel, outside the checkout: build it, install it in a fresh venv in a temp folder and
run ``srlib upscale`` / ``srlib evaluate`` with course checkpoints by name (they ship as package data)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import srlib.train as T

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # about 30-60 s on a shared 2-core CPU (wheel build, venv, two model runs)


def _run(cmd: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(the fresh venv's python, a working folder outside the checkout, the environment to run it in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "SRLIB_DATA_DIR")}
    env.update(SRLIB_CACHE_DIR=str(tmp / "cache"), SRLIB_FIGURES_DIR=str(tmp / "figures"), PIP_NO_INDEX="1")
    # Build from a copy of the sources: setuptools' build/ folder in a checkout can hold files deleted since.
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "srlib", src / "srlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist", src]
    _run(build, tmp, env)
    (wheel,) = (tmp / "dist").glob("srlib-*.whl")

    # torch and the other dependencies come from this environment, never from a download. `--system-site-packages`
    # would give the base interpreter's packages when this one is itself a venv, so a .pth file lists this
    # environment's site-packages instead: plain path lines, so the .pth files there (an editable srlib's finder)
    # are not run and the wheel's srlib, first on the path, is the one imported.
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False, symlinks=os.name != "nt")
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([python, "-c", where], tmp, env).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "srlib_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel], tmp, env)

    work = tmp / "work"
    work.mkdir()
    return python, work, env


def test_wheel_imports_the_installed_srlib(installed):
    python, work, env = installed
    out = _run([python, "-I", "-c", "import srlib; print(srlib.__file__)"], work, env).stdout.strip()
    assert Path(out).resolve().is_relative_to(python.parent.parent.resolve()), out
    assert not Path(out).resolve().is_relative_to(ROOT), out


def test_wheel_upscale_with_a_course_checkpoint(installed):
    python, work, env = installed
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(work / "small.png")
    cmd = [python, "-I", "-m", "srlib", "upscale", "small.png", "-o", "out", "--model", "rrdb_psnr_x4_course"]
    _run(cmd + ["--precision", "fp32"], work, env)
    (result,) = (work / "out").iterdir()
    assert Image.open(result).size == (64, 48)


def test_wheel_evaluate_with_a_course_checkpoint(installed):
    python, work, env = installed
    hr = work / "hr"
    hr.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(hr / f"{i}.png")
    cmd = [python, "-I", "-m", "srlib", "evaluate", "--model", "edsr_x4_course", "--data", "hr"]
    report = json.loads(_run(cmd + ["--no-lpips", "--no-progress", "--json"], work, env).stdout)
    assert len(report["images"]) == 2
    assert "srlib course checkpoint edsr_x4_course" in json.dumps(report)


def test_wheel_ships_the_training_presets(installed):
    python, work, env = installed
    code = "import srlib.train as T; print(*T.PRESETS)"
    names = _run([python, "-I", "-c", code], work, env).stdout.split()
    assert names == list(T.PRESETS)  # the YAML files are package data
