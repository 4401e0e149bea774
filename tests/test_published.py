"""srlib.published: the literal tables are well formed and say what their sources say.

The values themselves are checked by hand against ``../shared/REFERENCE.md`` sections 1 and 5; these tests
catch a mistyped or transposed entry (a PSNR where an SSIM goes, an SSIM of 8.104, a swapped pair of rows)
through the ranges and the orderings the papers report.
"""

from __future__ import annotations

import pytest

from srlib import published

DATASETS = ("Set5", "Set14", "BSD100", "Urban100")


def _rows():
    return [row for rows in published.PUBLISHED_X4.values() for row in rows]


def test_psnr_ssim_rows_are_well_formed():
    assert set(published.PUBLISHED_X4) == {"Bicubic", "EDSR", "SRGAN", "ESRGAN"}  # metrics_table's method names
    for name, trained_on, source, values in _rows():
        assert name and trained_on and source
        assert values and set(values) <= set(DATASETS), name
        for dataset, (psnr, ssim) in values.items():
            assert 20 < psnr < 35 and 0.6 < ssim < 0.95, (name, dataset)


def test_psnr_orderings_the_papers_report():
    by_name = {name: values for name, _, _, values in _rows()}
    for dataset in DATASETS:
        scores = {name: values[dataset][0] for name, values in by_name.items() if dataset in values}
        assert min(scores, key=scores.get) in ("Bicubic", "SRGAN"), dataset  # the two lowest-PSNR methods
        assert max(scores, key=scores.get).startswith("RRDB_PSNR"), dataset  # the largest PSNR-trained model
    # SRGAN trades PSNR for perceived quality: below its own generator trained on MSE, on every set
    assert all(by_name["SRGAN"][d][0] < by_name["SRResNet"][d][0] for d in by_name["SRGAN"])
    # the 43M-parameter EDSR above its 1.5M baseline
    paper, baseline = by_name["EDSR (paper, 43M params)"], by_name["EDSR baseline (1.5M)"]
    assert all(paper[d][0] > baseline[d][0] for d in paper)


@pytest.mark.parametrize("dataset", ["Set5", "Set14", "BSD100"])
def test_srgan_mos_study_ranks_as_published(dataset):
    mos = published.PUBLISHED_SRGAN_MOS[dataset]
    assert list(mos) == ["bicubic", "SRResNet", "SRGAN", "HR"]
    assert all(1 <= value <= 5 for value in mos.values())
    assert mos["bicubic"] < mos["SRResNet"] < mos["SRGAN"] < mos["HR"]  # the study's finding on every set


def test_reported_mos_chose_esrgan():
    reported = published.REPORTED_MOS
    assert set(reported) == {"EDSR", "SRGAN", "ESRGAN"} and all(1 <= v <= 5 for v in reported.values())
    assert max(reported, key=reported.get) == "ESRGAN"  # the original report's final choice
