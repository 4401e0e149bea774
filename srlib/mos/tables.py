"""MOS tables and plots: markdown and CSV tables, the MOS plot, the reported and published MOS, the
files of a written summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from srlib import utils
from srlib.published import PUBLISHED_SRGAN_MOS, REPORTED_MOS

if TYPE_CHECKING:  # for the annotation only: stats imports this module, not the other way round
    from srlib.mos.stats import MosSummary


def _format(value) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.4g}" if abs(value) < 1e-3 and value else f"{value:.3f}"
    return str(value)


def markdown_table(rows: list[dict]) -> str:
    """A markdown table of a list of dicts (floats to 3 decimals)."""
    return utils.markdown_table(rows, _format)


def plot_mos(table: list[dict], ax=None, title: str | None = None):
    """Means with bootstrap intervals (thick) and normal intervals (thin); references in grey."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 0.9 * len(table), 3.2))
    intervals = (  # (interval, x offset, marker, cap size, line width, legend label)
        ("boot", -0.08, "o", 4, 2, "bootstrap (raters x images)"),
        ("normal", 0.08, "none", 2, 0.8, "normal over ratings"),
    )
    for x, row in enumerate(table):
        color = "0.55" if row["kind"] == "reference" else "C0"
        for interval, offset, fmt, capsize, lw, label in intervals:
            low, high = row[f"{interval}_low"], row[f"{interval}_high"]
            ax.errorbar(x + offset, row["mos"], yerr=[[row["mos"] - low], [high - row["mos"]]], fmt=fmt, color=color,
                        capsize=capsize, lw=lw, label=label if x == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(table)), [row["method"] for row in table])
    ax.set_xlim(-0.6, len(table) - 0.4)
    ax.set_ylabel("MOS")
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title)
    return ax.figure


def reference_mos_rows() -> list[dict]:
    """The original report's MOS and the SRGAN study's published MOS as table rows, source on each row."""
    report = "original course report, as reported there (raters and protocol unknown)"
    rows = [{"source": report, "set": "not reported", "method": m, "mos": v} for m, v in REPORTED_MOS.items()]
    published = "SRGAN paper MOS study, published (26 raters)"
    for test_set, scores in PUBLISHED_SRGAN_MOS.items():
        rows += [{"source": published, "set": test_set, "method": m, "mos": v} for m, v in scores.items()]
    return rows


def plot_reference_mos(ax=None, title: str | None = None):
    """The reported and published MOS side by side (points only: no intervals were given)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    groups = {"original report (as reported:\nthird-party raters, protocol\nand set unknown)": REPORTED_MOS} | {
        f"SRGAN study, {name}\n(published: x4,\n26 raters)": scores for name, scores in PUBLISHED_SRGAN_MOS.items()
    }
    x, centres = 0, []
    for scores in groups.values():
        positions = np.arange(x, x + len(scores))
        ax.plot(positions, list(scores.values()), "o", color="0.3")
        for position, method in zip(positions, scores, strict=True):
            ax.annotate(method, (position, scores[method]), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7)  # fmt: skip
        centres.append(positions.mean())
        x += len(scores) + 1
    ax.set_ylim(0.8, 5.3)
    ax.set_xticks(centres, list(groups), fontsize=7)  # group labels under the axis, not on it
    ax.tick_params(axis="x", length=0)
    ax.set_ylabel("MOS (1-5)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.tight_layout()
    return ax.figure


def write_summary(summary: MosSummary, out_dir: str | Path, overwrite: bool = True) -> list[Path]:
    """Write ``mos_table[_z].csv``, ``mos_tests[_z].csv``, ``mos_consistency.csv``, ``mos_summary[_z].md``
    and the plot ``mos_plot[_z].png`` into ``out_dir``; without ``overwrite``, a folder that already holds
    this kind of summary (``mos_summary[_z].md``) is refused (FileExistsError)."""
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    suffix = "_z" if summary.zscore else ""
    if not overwrite and (out_dir / f"mos_summary{suffix}.md").exists():
        raise FileExistsError(
            f"{out_dir} already holds a summary (mos_summary{suffix}.md); pass --overwrite or another --out"
        )
    paths = [
        utils.write_rows_csv(summary.table, out_dir / f"mos_table{suffix}.csv"),
        utils.write_rows_csv(summary.tests, out_dir / f"mos_tests{suffix}.csv"),
        utils.write_rows_csv(summary.consistency, out_dir / "mos_consistency.csv"),
    ]
    (out_dir / f"mos_summary{suffix}.md").write_text(summary.markdown() + "\n")
    paths.append(out_dir / f"mos_summary{suffix}.md")
    fig = plot_mos(summary.table, title="MOS (z-scores)" if summary.zscore else "MOS")
    if summary.zscore:
        fig.axes[0].set_ylabel("MOS (per-rater z-score)")
    from srlib.utils import save_figure

    paths.append(save_figure(fig, f"mos_plot{suffix}", out_dir))
    plt.close(fig)
    return paths
