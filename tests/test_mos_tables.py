"""srlib.mos.tables: the written summary and its plot, the reported and published MOS rows."""

from __future__ import annotations

import csv

from mos_helpers import METHODS, synthetic

from srlib import mos


def test_plot_and_written_summary(kit, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ratings = synthetic(kit, tmp_path / "ratings", lambda rater, info: 2 + (info["method"] == "HR"))
    paths = mos.write_summary(mos.summarize(ratings, n_boot=100), tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == ["mos_consistency.csv", "mos_plot.png", "mos_summary.md", "mos_table.csv", "mos_tests.csv"]
    with open(tmp_path / "out" / "mos_table.csv") as handle:
        assert [row["method"] for row in csv.DictReader(handle)] == [*METHODS, "NN", "HR"]


def test_reported_and_published_mos_are_labelled():
    rows = mos.reference_mos_rows()
    reported = {r["method"]: r["mos"] for r in rows if r["source"].startswith("original course report")}
    assert reported == {"EDSR": 4.0, "SRGAN": 4.3, "ESRGAN": 4.6}  # ../shared/REFERENCE.md section 1
    assert all("as reported" in r["source"] for r in rows if r["method"] in reported and r["set"] == "not reported")
    bsd100 = {r["method"]: r["mos"] for r in rows if r["set"] == "BSD100"}
    assert bsd100 == {"bicubic": 1.47, "SRResNet": 2.29, "SRGAN": 3.56, "HR": 4.46}  # section 5
    assert all("published" in r["source"] for r in rows if r["set"] == "BSD100")
