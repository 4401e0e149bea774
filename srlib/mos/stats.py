"""MOS statistics: bootstrap and normal intervals, Wilcoxon-Holm tests, rater consistency, :func:`summarize`.

Ratings are the dicts :func:`srlib.mos.load_ratings` returns (CSV columns plus ``method``, ``image``,
``kind``, ``repeat_of``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from srlib.mos.kit import REFERENCES, SUMMARIZED_KINDS
from srlib.mos.tables import markdown_table


def bootstrap_ci(
    scores, raters, images, n_boot: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean score, resampling raters and images jointly.

    Each replicate draws raters with replacement and images with replacement, and averages every rating
    of a drawn (rater, image) pair as often as the pair is drawn. Ratings by one rater are correlated, so
    this is wider (and more honest) than an interval over ratings treated as independent.
    """
    scores = np.asarray(scores, dtype=np.float64)
    rater_codes, r = np.unique(np.asarray(raters), return_inverse=True)
    image_codes, i = np.unique(np.asarray(images), return_inverse=True)
    sums = np.zeros((len(rater_codes), len(image_codes)))
    counts = np.zeros_like(sums)
    np.add.at(sums, (r, i), scores)
    np.add.at(counts, (r, i), 1)
    rng = np.random.default_rng(seed)
    rater_w = rng.multinomial(len(rater_codes), np.full(len(rater_codes), 1 / len(rater_codes)), size=n_boot)
    image_w = rng.multinomial(len(image_codes), np.full(len(image_codes), 1 / len(image_codes)), size=n_boot)
    numerator = np.einsum("br,ri,bi->b", rater_w, sums, image_w)
    denominator = np.einsum("br,ri,bi->b", rater_w, counts, image_w)
    means = numerator[denominator > 0] / denominator[denominator > 0]  # a draw can miss every rating
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def normal_ci(scores, confidence: float = 0.95) -> tuple[float, float]:
    """Normal interval mean +- z sd / sqrt(n) over ratings treated as independent (the usual one).

    NaN for fewer than two ratings (no spread to estimate).
    """
    from scipy.stats import norm

    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) < 2:
        return float("nan"), float("nan")
    half = norm.ppf(0.5 + confidence / 2) * scores.std(ddof=1) / np.sqrt(len(scores))
    return float(scores.mean() - half), float(scores.mean() + half)


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values.

    With p sorted ascending, the i-th adjusted value is max over j <= i of min(1, (m - j + 1) p_(j)).
    """
    pvalues = np.asarray(pvalues, dtype=np.float64)
    m = len(pvalues)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(np.argsort(pvalues, kind="stable")):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def zscore_ratings(ratings: list[dict]) -> list[dict]:
    """Copies of ``ratings`` with ``score`` replaced by the rater's z-score (mean and sd of the rater's
    test and reference ratings). A rater who gave one score to everything gets 0 throughout."""
    stats = {}
    for rater in {r["rater"] for r in ratings}:
        own = np.array([r["score"] for r in ratings if r["rater"] == rater and r["kind"] in SUMMARIZED_KINDS], float)
        sd = own.std(ddof=1) if len(own) > 1 else 0.0
        stats[rater] = (own.mean() if len(own) else 0.0, sd if sd > 0 else np.inf)
    return [
        {**r, "raw_score": r["score"], "score": (r["score"] - stats[r["rater"]][0]) / stats[r["rater"]][1]}
        for r in ratings
    ]


def _paired(ratings: list[dict], a: str, b: str, pair_by: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores of methods a and b paired by (rater, image), by image (mean over raters) or by rater."""
    unit = {
        "rating": lambda r: (r["rater"], r["image"]),
        "image": lambda r: r["image"],
        "rater": lambda r: r["rater"],
    }
    if pair_by not in unit:
        raise ValueError(f"pair_by must be one of {sorted(unit)}, not {pair_by!r}")
    means = {}
    for method in (a, b):
        groups: dict = {}
        for r in ratings:
            if r["method"] == method and r["kind"] in SUMMARIZED_KINDS:
                groups.setdefault(unit[pair_by](r), []).append(r["score"])
        means[method] = {u: float(np.mean(s)) for u, s in groups.items()}
    common = sorted(set(means[a]) & set(means[b]), key=str)
    return np.array([means[a][u] for u in common]), np.array([means[b][u] for u in common])


def wilcoxon_holm(
    ratings: list[dict], methods: list[str] | None = None, pair_by: str = "rating", alpha: float = 0.05
) -> list[dict]:
    """Paired two-sided Wilcoxon signed-rank tests between every pair of methods, Holm-corrected.

    ``pair_by="rating"`` pairs the two methods' scores given by the same rater to the same image (the most
    pairs, but one rater's pairs are not independent); ``"image"`` or ``"rater"`` pair the means per image
    or per rater (fewer pairs, fewer assumptions).
    Zero differences are dropped (Wilcoxon's convention); a pair with no non-zero difference gets p = 1.
    """
    from scipy.stats import wilcoxon

    if methods is None:
        methods = sorted({r["method"] for r in ratings if r["kind"] == "test"})
    rows = []
    for index, a in enumerate(methods):
        for b in methods[index + 1 :]:
            x, y = _paired(ratings, a, b, pair_by)
            diff = x - y
            if np.any(diff != 0):
                result = wilcoxon(x, y, alternative="two-sided", zero_method="wilcox")
                statistic, p = float(result.statistic), float(result.pvalue)
            else:
                statistic, p = float("nan"), 1.0
            mean_diff = float(diff.mean()) if len(diff) else float("nan")
            rows.append(
                {
                    "method_a": a,
                    "method_b": b,
                    "pairs": len(diff),
                    "nonzero": int(np.sum(diff != 0)),
                    "mean_diff": mean_diff,
                    "statistic": statistic,
                    "p": p,
                }
            )
    for row, adjusted in zip(rows, holm([row["p"] for row in rows]), strict=True):
        row["p_holm"] = float(adjusted)
        row["significant"] = bool(adjusted < alpha)
        row["better"] = (row["method_a"] if row["mean_diff"] > 0 else row["method_b"]) if row["significant"] else ""
    return rows


def consistency(ratings: list[dict]) -> list[dict]:
    """Per rater: repeated items (pairs, mean |difference|, exact agreement) and the calibration scores."""
    by_key = {(r["rater"], r["item_id"]): r for r in ratings}
    rows = []
    raters = sorted({r["rater"] for r in ratings})
    for rater in [*raters, "all"]:
        mine = [r for r in ratings if rater in ("all", r["rater"])]
        diffs = [
            abs(r["score"] - by_key[r["rater"], r["repeat_of"]]["score"])
            for r in mine
            if r["kind"] == "repeat" and (r["rater"], r["repeat_of"]) in by_key
        ]
        anchors = {m: [r["score"] for r in mine if r["kind"] == "calibration" and r["method"] == m] for m in REFERENCES}
        rows.append(
            {
                "rater": rater,
                "ratings": len(mine),
                "repeat_pairs": len(diffs),
                "repeat_mean_abs_diff": float(np.mean(diffs)) if diffs else float("nan"),
                "repeat_agreement": float(np.mean(np.array(diffs) == 0)) if diffs else float("nan"),
                **{f"calibration_{m}": float(np.mean(s)) if s else float("nan") for m, s in anchors.items()},
            }
        )
    return rows


@dataclass
class MosSummary:
    """The result of :func:`summarize`: the MOS table, the pairwise tests and rater consistency."""

    table: list[dict]
    tests: list[dict]
    consistency: list[dict]
    zscore: bool = False
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what deserves a look before the numbers are used

    def markdown(self) -> str:
        unit = "per-rater z-scores" if self.zscore else "scores 1-5"
        s = self.settings
        return "\n\n".join(
            [
                f"MOS ({unit}), {round(100 * s.get('confidence', 0.95))}% intervals: bootstrap over raters "
                f"and images ({s.get('n_boot')} draws, seed {s.get('seed')}) and normal over ratings",
                markdown_table(self.table),
                f"Paired two-sided Wilcoxon signed-rank tests (pairs by {s.get('pair_by')}), Holm-corrected",
                markdown_table(self.tests),
                "Rater consistency (repeated items) and calibration anchors (NN should be 1, HR 5)",
                markdown_table(self.consistency),
                *(["Notes", "\n".join(f"- {note}" for note in self.notes)] if self.notes else []),
            ]
        )


def summarize(
    ratings: list[dict],
    zscore: bool = False,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    pair_by: str = "rating",
    methods: list[str] | None = None,
) -> MosSummary:
    """MOS per method with bootstrap and normal intervals, Wilcoxon-Holm tests and rater consistency.

    Rows follow ``methods`` (default: the rated methods in alphabetical order; the CLI uses the key's
    order), then the NN and HR references. With ``zscore`` every score is first replaced by the rater's
    z-score (see :func:`zscore_ratings`); consistency is always judged on the raw 1-5 scores. A method in
    ``methods`` without ratings is left out, with a line in ``notes`` (after those ``ratings`` carries).
    """
    notes = list(getattr(ratings, "notes", []))
    consistency_rows = consistency(ratings)
    if zscore:
        ratings = zscore_ratings(ratings)
    table = []
    rated = {r["method"] for r in ratings if r["kind"] in SUMMARIZED_KINDS}
    if methods is None:
        methods = sorted({r["method"] for r in ratings if r["kind"] == "test"})
    for method in methods:
        if method not in rated:
            notes.append(f"method {method!r} has no ratings: left out of the table and the tests")
    methods = [m for m in methods if m in rated]
    references = [m for m in REFERENCES if any(r["method"] == m and r["kind"] == "reference" for r in ratings)]
    for method in methods + references:
        mine = [r for r in ratings if r["method"] == method and r["kind"] in SUMMARIZED_KINDS]
        scores = np.array([r["score"] for r in mine], dtype=np.float64)
        boot = bootstrap_ci(scores, [r["rater"] for r in mine], [r["image"] for r in mine], n_boot, confidence, seed)
        table.append(
            {
                "method": method,
                "kind": "reference" if method in REFERENCES else "method",
                "ratings": len(scores),
                "raters": len({r["rater"] for r in mine}),
                "images": len({r["image"] for r in mine}),
                "mos": float(scores.mean()),
                "sd": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
                "boot_low": boot[0],
                "boot_high": boot[1],
                **dict(zip(("normal_low", "normal_high"), normal_ci(scores, confidence), strict=True)),
            }
        )
    tests = wilcoxon_holm(ratings, methods, pair_by=pair_by)
    settings = {"n_boot": n_boot, "seed": seed, "confidence": confidence, "pair_by": pair_by}
    return MosSummary(table, tests, consistency_rows, zscore, settings, notes)
