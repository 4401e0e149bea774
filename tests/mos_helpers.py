"""What the MOS tests share: synthetic SR folders, a small kit, and synthetic raters with known answers.

Plain functions and constants; ``tests/conftest.py`` wraps :func:`make_folders` and :func:`make_kit` in the
module-scoped fixtures ``folders`` and ``kit`` that the ``tests/test_mos_*.py`` share. Every rating is synthetic and
made inside the tests, with a known answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from srlib import mos

METHODS = ("SecretAlpha", "SecretBeta")  # names that must never reach what raters see
IMAGES = ("baby", "bird", "butterfly", "zebra")


def make_folders(root: Path) -> Path:
    """HR images and two fake x4 "SR outputs" (slightly different sizes, as real outputs can be) in ``root``."""
    rng = np.random.default_rng(0)
    for name in ("HR", *METHODS):
        (root / name).mkdir()
    for stem in IMAGES:
        hr = (rng.random((40, 36, 3)) * 255).astype(np.uint8)
        Image.fromarray(hr).save(root / "HR" / f"{stem}.png")
        Image.fromarray(hr[:, :, ::-1].copy()).save(root / METHODS[0] / f"{stem}.png")
        Image.fromarray(hr[:37, :, :] // 2).save(root / METHODS[1] / f"{stem}.jpg")  # 3 rows short
    return root


def make_kit(folders: Path, out: Path) -> Path:
    """The shared kit: both methods on every image, 4 raters, seed 1, 2 repeats, 1 calibration image."""
    methods = {name: folders / name for name in METHODS}
    mos.build_kit(methods, folders / "HR", out, raters=4, seed=1, repeats=2, calibration=1)
    return out


def _rate(key: dict, rater: str, score_of, path: Path, order: list[str]) -> None:
    """Write one synthetic rater's CSV: ``score_of(info)`` gives the score of each item."""
    for position, item in enumerate(order, start=1):
        row = {"rater": rater, "item_id": item, "score": score_of(key["items"][item]), "time": "t",
               "seconds": "1.0", "order": position, "kit": key["fingerprint"]}  # fmt: skip
        mos.append_rating(path, row)


def synthetic(kit: Path, tmp_path: Path, score_of) -> list[dict]:
    """Every rater of ``kit`` rates every item in their order, ``score_of(rater, info)`` each; the ratings
    (one CSV per rater in ``tmp_path``) come back through ``load_ratings``."""
    key, manifest = mos.load_key(kit), mos.load_kit(kit)
    for rater, order in manifest["orders"].items():
        _rate(key, rater, lambda info, rater=rater: score_of(rater, info), tmp_path / f"{rater}.csv", order)
    return mos.load_ratings(tmp_path, kit / "key.json")


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Append ``rows`` to the rating CSV ``path``; returns ``path``."""
    for row in rows:
        mos.append_rating(path, row)
    return path


def rating_rows(key: dict, rater: str, items: list[str], score_of) -> list[dict]:
    """Rating rows of ``rater`` for ``items`` in that order, ``score_of(info)`` each."""
    return [{"rater": rater, "item_id": item, "score": score_of(key["items"][item]), "time": "t", "seconds": "1",
             "order": n, "kit": key["fingerprint"]} for n, item in enumerate(items, start=1)]  # fmt: skip
