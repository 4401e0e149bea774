"""srlib.compare, the helpers of notebooks 04 and 05: weights that load (never random ones), network
interpolation, one image through several methods, and the metric table with the published rows."""

from __future__ import annotations

import numpy as np

from srlib import compare
from srlib.imresize import imresize


def test_load_method_falls_back_and_never_shows_random_weights(tmp_path):
    model, spec, origin = compare.load_method(["no_such_course_checkpoint", "bicubic"], download=False)
    assert spec == "bicubic" and "fallback, instead of no_such_course_checkpoint (missing)" in origin
    model, spec, origin = compare.load_method(["no_such_course_checkpoint", "edsr"], download=False)
    assert model is None and spec == "" and "never shown" in origin


def test_interpolate_models_blends_parameters():
    import torch

    from srlib.models import build_model

    psnr_model = build_model("rrdbnet", num_block=1, num_feat=8, num_grow_ch=4)
    gan_model = build_model("rrdbnet", num_block=1, num_feat=8, num_grow_ch=4)
    half = compare.interpolate_models(psnr_model, gan_model, 0.5)
    for name, value in half.state_dict().items():
        expected = 0.5 * psnr_model.state_dict()[name] + 0.5 * gan_model.state_dict()[name]
        assert torch.allclose(value, expected)
    assert torch.equal(
        compare.interpolate_models(psnr_model, gan_model, 0.0).conv_first.weight, psnr_model.conv_first.weight
    )


def test_compare_methods_and_published_table():
    from srlib.models import build_model

    hr = imresize(np.random.default_rng(0).random((12, 16, 3)), 4).clip(0, 1).astype(np.float32)
    panels, rows = compare.compare_methods({"Bicubic": (build_model("bicubic"), "no weights")}, hr)
    assert [r["method"] for r in rows] == ["Bicubic"] and len(panels) == 2
    assert "Bicubic — no weights" in panels[0][0] and "dB" in panels[0][0]
    result = dict(model="Bicubic", dataset="Set5", weights="no weights", mean=dict(psnr_y=28.4189, ssim_y=0.8102))
    table = compare.metrics_table([result])
    assert list(table["source"]) == ["ours", "published: ESRGAN paper, supplementary"]
    assert table.loc[1, "Set5 PSNR"] == 28.42 and table.loc[1, "Set5 SSIM"] == 0.8104
