"""srlib.compare, the helpers of notebooks 04 and 05: weights that load (never random ones), network
interpolation, one image through several methods, the metric table with the published rows, and the
perception-distortion figure."""

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


def _result(method: str, dataset: str, **mean) -> dict:
    return dict(model=method, dataset=dataset, weights=f"{method} weights", mean=dict(psnr_y=25.0, ssim_y=0.7, **mean))


def test_perception_distortion_figure_has_a_point_per_result_and_says_what_it_is():
    import matplotlib

    matplotlib.use("Agg")
    results = [
        _result("EDSR", "Set5", niqe=5.0),
        _result("ESRGAN", "Set5", niqe=3.0),
        _result("ESRGAN", "Set14", niqe=4.0),
    ]
    fig, scores = compare.perception_distortion_figure(results, niqe_label="published model")
    (ax,) = fig.axes
    assert scores == ["niqe"] and "NIQE, published model" in ax.get_ylabel() and ax.yaxis_inverted()
    assert "Perception-distortion (x4 from MATLAB-bicubic LR)" in ax.get_title()
    points = [tuple(c.get_offsets()[0]) for c in ax.collections]
    assert points == [(25.0, 5.0), (25.0, 3.0), (25.0, 4.0)]
    assert [t.get_text() for t in ax.texts] == ["EDSR Set5", "ESRGAN Set5", "ESRGAN Set14"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["EDSR: EDSR weights", "ESRGAN: ESRGAN weights"]
    # a method named first keeps its colour whether or not it has results
    colour = compare.perception_distortion_figure(results[1:], methods=["EDSR", "ESRGAN"])[0].axes[0].collections[0]
    assert tuple(colour.get_facecolor()[0]) == tuple(ax.collections[1].get_facecolor()[0])

    with_lpips = [dict(r, mean=dict(r["mean"], lpips=0.3)) for r in results]
    assert len(compare.perception_distortion_figure(with_lpips)[0].axes) == 2
    fig, scores = compare.perception_distortion_figure([_result("EDSR", "Set5")])  # no perceptual score
    assert scores == ["ssim_y"] and "NOT a perception-distortion plot" in fig.axes[0].get_title()
    assert not fig.axes[0].yaxis_inverted()
