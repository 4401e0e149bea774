"""Mean opinion scores: a blinded rating kit, two rating interfaces, and an honest summary.

The protocol follows the SRGAN MOS study (Ledig et al., 2017): raters score images 1 (bad) to 5
(excellent), calibrated with nearest-neighbour upscaling = 1 and the original HR image = 5, images shown
in random order, methods compared with paired two-sided Wilcoxon signed-rank tests.

One module per step, imports running one way (kit <- rate, kit <- stats -> tables, cli on top):

- ``kit``: :func:`build_kit` writes the kit folder (``srlib mos kit``), :func:`load_kit` / :func:`load_key`;
- ``rate``: the ratings CSV (:data:`RATING_COLUMNS`), the Jupyter widget (:func:`rate_in_notebook`; the HTML page is
  ``srlib/assets/mos_rater.html``) and :func:`load_ratings`, which checks rating files against the key;
- ``stats``: :func:`summarize` gives MOS with bootstrap and normal 95% intervals, rater consistency and
  Wilcoxon-Holm tests;
- ``tables``: markdown and CSV tables, the MOS plot, the reported and published MOS, :func:`write_summary`;
- ``cli``: ``srlib mos kit`` and ``srlib mos summarize``.

Everything public is importable from here: ``srlib.mos.build_kit``, ``from srlib.mos import summarize``.
"""

from srlib.mos.cli import add_cli
from srlib.mos.kit import REFERENCES, SUMMARIZED_KINDS, build_kit, load_key, load_kit, write_html
from srlib.mos.rate import (
    RATING_COLUMNS,
    NotebookRater,
    Ratings,
    append_rating,
    load_ratings,
    rate_in_notebook,
    rating_notes,
)
from srlib.mos.stats import (
    MosSummary,
    bootstrap_ci,
    consistency,
    holm,
    normal_ci,
    summarize,
    wilcoxon_holm,
    zscore_ratings,
)
from srlib.mos.tables import (
    markdown_table,
    plot_mos,
    plot_reference_mos,
    reference_mos_rows,
    write_summary,
)

__all__ = [
    "RATING_COLUMNS",
    "REFERENCES",
    "SUMMARIZED_KINDS",
    "build_kit",
    "write_html",
    "load_kit",
    "load_key",
    "append_rating",
    "NotebookRater",
    "rate_in_notebook",
    "Ratings",
    "load_ratings",
    "rating_notes",
    "bootstrap_ci",
    "normal_ci",
    "holm",
    "zscore_ratings",
    "wilcoxon_holm",
    "consistency",
    "MosSummary",
    "summarize",
    "markdown_table",
    "plot_mos",
    "reference_mos_rows",
    "plot_reference_mos",
    "write_summary",
    "add_cli",
]
