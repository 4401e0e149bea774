"""srlib.mos.stats: known-answer statistics (Holm, intervals, Wilcoxon, z-scores, consistency) on
synthetic ratings.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from mos_helpers import IMAGES, METHODS, rating_rows, synthetic, write_rows

from srlib import mos


def test_holm_matches_hand_computation():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert mos.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert mos.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert mos.holm([0.2]) == pytest.approx([0.2])


def test_constant_method_has_zero_width_and_better_method_wins(kit, tmp_path):
    rng = np.random.default_rng(0)

    def score(rater, info):
        if info["method"] == METHODS[0]:
            return 3  # constant
        if info["method"] == METHODS[1]:
            return int(rng.choice([4, 5]))  # clearly better
        return {"NN": 1, "HR": 5}[info["method"]]

    summary = mos.summarize(synthetic(kit, tmp_path, score), n_boot=500)
    table = {row["method"]: row for row in summary.table}
    assert list(table) == [*METHODS, "NN", "HR"]
    alpha = table[METHODS[0]]
    assert alpha["mos"] == 3 and alpha["boot_low"] == alpha["boot_high"] == 3
    assert alpha["normal_low"] == alpha["normal_high"] == 3
    assert alpha["ratings"] == 4 * len(IMAGES) and alpha["raters"] == 4 and alpha["images"] == len(IMAGES)
    beta = table[METHODS[1]]
    assert beta["boot_low"] < beta["mos"] < beta["boot_high"] and beta["boot_low"] > 3.5
    (test,) = summary.tests
    assert test["pairs"] == 16 and test["better"] == METHODS[1] and test["p_holm"] < 1e-3
    overall = summary.consistency[-1]
    assert overall["rater"] == "all" and overall["calibration_NN"] == 1 and overall["calibration_HR"] == 5
    assert "| method |" in summary.markdown()


def test_equal_methods_are_not_significant_and_holm_applies(kit, tmp_path):
    def score(rater, info):  # both methods get the same scores (every difference is zero); NN 1, HR 5
        if info["method"] in mos.REFERENCES:
            return mos.REFERENCES[info["method"]]
        return 1 + (int(rater[1:]) + IMAGES.index(info["image"])) % 5

    summary = mos.summarize(synthetic(kit, tmp_path, score), n_boot=200)
    (test,) = summary.tests
    assert test["nonzero"] == 0 and test["p"] == 1.0 and not test["significant"] and test["better"] == ""
    ratings = mos.load_ratings(tmp_path, kit)
    rows = mos.wilcoxon_holm(ratings, [*METHODS, "NN", "HR"])
    assert len(rows) == 6
    assert [row["p_holm"] for row in rows] == pytest.approx(mos.holm([row["p"] for row in rows]))


def test_bootstrap_over_raters_is_wider_than_over_ratings():
    # 6 raters with strong personal offsets: ratings by one rater are correlated
    raters = np.repeat(np.arange(6), 20)
    images = np.tile(np.arange(20), 6)
    scores = np.clip(3 + np.array([-2, -1, 0, 0, 1, 2])[raters] + (images % 2), 1, 5)
    low, high = mos.bootstrap_ci(scores, raters, images, n_boot=1000, seed=0)
    normal_low, normal_high = mos.normal_ci(scores)
    assert low < scores.mean() < high
    assert high - low > 1.5 * (normal_high - normal_low)
    assert mos.bootstrap_ci(scores, raters, images, n_boot=1000, seed=0) == (low, high)  # seeded


def test_zscore_and_consistency(kit, tmp_path):
    def score(rater, info):
        offset = {"r01": 0, "r02": 1, "r03": 2, "r04": 2}[rater]
        base = {"NN": 1, "HR": 3, METHODS[0]: 1, METHODS[1]: 2}[info["method"]]
        if info["kind"] == "repeat" and rater == "r04":
            base = 4 - base  # r04 contradicts themself on repeats
        return base + offset

    ratings = synthetic(kit, tmp_path, score)
    z = [r for r in mos.zscore_ratings(ratings) if r["kind"] in mos.SUMMARIZED_KINDS]
    for rater in ("r01", "r02", "r03"):
        mine = np.array([r["score"] for r in z if r["rater"] == rater])
        assert mine.mean() == pytest.approx(0) and mine.std(ddof=1) == pytest.approx(1)
    summary = mos.summarize(ratings, zscore=True, n_boot=200)
    # after z-scoring, raters' offsets are gone: each method gets one value from every rater
    alpha = next(row for row in summary.table if row["method"] == METHODS[0])
    assert alpha["boot_high"] - alpha["boot_low"] == pytest.approx(0, abs=1e-9)
    rows = {row["rater"]: row for row in summary.consistency}
    assert rows["r01"]["repeat_pairs"] == 2 and rows["r01"]["repeat_agreement"] == 1
    assert rows["r04"]["repeat_mean_abs_diff"] > 0 and rows["r04"]["repeat_agreement"] < 1


def test_a_method_without_ratings_is_noted_not_dropped_silently(kit, tmp_path):
    key, orders = mos.load_key(kit), mos.load_kit(kit)["orders"]
    kept = [item for item in orders["r01"] if key["items"][item]["method"] != METHODS[1]]
    ratings = mos.load_ratings(write_rows(tmp_path / "r01.csv", rating_rows(key, "r01", kept, lambda info: 3)), key)
    summary = mos.summarize(ratings, n_boot=50, methods=list(key["methods"]))
    assert [row["method"] for row in summary.table] == [METHODS[0], "NN", "HR"]
    assert f"method '{METHODS[1]}' has no ratings" in "\n".join(summary.notes)


def _mos_imports(tree: ast.AST) -> set[str]:
    """The srlib.mos modules a module imports, anywhere but under ``if TYPE_CHECKING:`` (annotations only)."""
    found = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "srlib.mos":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("srlib.mos."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("srlib.mos.")}
        found |= _mos_imports(node)
    return found


def test_imports_inside_the_package_run_one_way():
    """kit <- rate, kit <- stats -> tables, cli on top: statistics and tables never import the widget's module."""
    allowed = {"kit": set(), "rate": {"kit"}, "tables": set(), "stats": {"kit", "tables"},
               "cli": {"kit", "rate", "stats", "tables"}}  # fmt: skip
    for name, expected in allowed.items():
        tree = ast.parse(Path(mos.__file__).with_name(f"{name}.py").read_text())
        assert _mos_imports(tree) == expected, name
